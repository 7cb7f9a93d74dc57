-- +goose Up

-- The app channel's secure channel per transaction (issue 14; EMV 3DS 2.3.1 6.2.3-6.2.4): the key both
-- sides derived at the ARes (Tink ciphertext, associated data acs_sdk_sessions|cek_enc|<acs_trans_id>),
-- the JWE content encryption the SDK chose with its first CReq (the CRes uses the same), and the two
-- message counters, so that any ACS process answers the next CReq. Written with the transaction in
-- one statement; a CReq step locks the row, checks and moves the counters.
CREATE TABLE acs_sdk_sessions (
    acs_trans_id  uuid PRIMARY KEY REFERENCES acs_transactions (acs_trans_id),
    -- sdkTransID exactly as the AReq carried it: every message echoes it byte for byte.
    sdk_trans_id  text NOT NULL,
    -- sdkType (2.3.1): 01 Default-SDK, 02 Split-SDK (A128GCM only, 5.9.5); NULL before 2.3.1.
    sdk_type      text CHECK (sdk_type IN ('01', '02')),
    -- acsRenderingType as the ARes gave it.
    ui_interface  text NOT NULL CHECK (ui_interface IN ('01', '02')),
    ui_template   text NOT NULL CHECK (ui_template ~ '^0[1-7]$'),
    -- NULL once the final CRes was sent: nothing is encrypted under the key after that, and a stolen
    -- database and keyring cannot open recorded traffic.
    cek_enc       bytea,
    enc           text CHECK (enc IN ('A128CBC-HS256', 'A128GCM')),
    -- The next sdkCounterStoA expected and the next acsCounterAtoS to send (0-255; 6.2.4.3/6.2.4.4).
    counter_stoa  smallint NOT NULL DEFAULT 0 CHECK (counter_stoa BETWEEN 0 AND 255),
    counter_atos  smallint NOT NULL DEFAULT 0 CHECK (counter_atos BETWEEN 0 AND 255),
    -- The text UI in 2.2.0, which has one entry box: 0 while the mTAN is asked, 1 for the answer.
    text_step     smallint NOT NULL DEFAULT 0 CHECK (text_step IN (0, 1)),
    -- The mTAN typed at step 0 in 2.2.0, until the answer comes (Tink ciphertext, like every secret).
    mtan_entered_enc bytea,
    -- When the final CRes went to the SDK; a CReq after it is refused (315).
    final_cres_at timestamptz,
    created_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE acs_sdk_sessions;
