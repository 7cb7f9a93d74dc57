-- +goose Up

-- EMV conformance (issue 11). Transaction ids are kept exactly as the 3DS Server and DS sent them (text,
-- not uuid): every answer echoes them byte for byte, so that the sender can match it (Annex A, Req 212).
-- Uniqueness of the 3DS Server's id ignores case, as RFC 4122 compares ids.
ALTER TABLE acs_transactions DROP CONSTRAINT acs_transactions_three_ds_server_trans_id_key;
ALTER TABLE acs_transactions
    ALTER COLUMN three_ds_server_trans_id TYPE text,
    ALTER COLUMN ds_trans_id TYPE text,
    -- 2.3.1 sends up to two challenge preferences; kept comma-separated in preference order.
    ALTER COLUMN challenge_ind TYPE text,
    -- A non-payment authentication (messageCategory 02) may carry no amount and no merchant data.
    ALTER COLUMN amount DROP NOT NULL,
    ALTER COLUMN minor_units DROP NOT NULL,
    ALTER COLUMN currency DROP NOT NULL,
    ALTER COLUMN exponent DROP NOT NULL,
    ALTER COLUMN acquirer_bin DROP NOT NULL,
    ALTER COLUMN acquirer_merchant_id DROP NOT NULL,
    ALTER COLUMN mcc DROP NOT NULL,
    ALTER COLUMN merchant_country DROP NOT NULL,
    ALTER COLUMN merchant_name DROP NOT NULL,
    ALTER COLUMN purchase_date DROP NOT NULL,
    ALTER COLUMN notification_url DROP NOT NULL,
    ALTER COLUMN browser_language DROP NOT NULL,
    -- Where the RReq goes: the AReq's dsURL (Req 109), checked against the configured DSs when used.
    ADD COLUMN ds_url text,
    ADD COLUMN device_channel char(2) NOT NULL DEFAULT '02',
    ADD COLUMN message_category char(2) NOT NULL DEFAULT '01',
    -- The authentication methods the challenge used (2.3.1 authenticationMethod, 2.1/2.2 authenticationType).
    ADD COLUMN auth_method text,
    -- threeDSRequestorName: who asks, shown where a non-payment authentication names no merchant.
    ADD COLUMN requestor_name text;
CREATE UNIQUE INDEX acs_transactions_server_trans_id ON acs_transactions (lower(three_ds_server_trans_id));
ALTER TABLE acs_transactions DROP CONSTRAINT acs_transactions_trans_status_check;
ALTER TABLE acs_transactions ADD CONSTRAINT acs_transactions_trans_status_check
    CHECK (trans_status IN ('Y', 'N', 'U', 'A', 'C', 'R', 'I'));

-- The RReq outbox records which kind of failure ended a delivery, and when a row was claimed: a claim
-- moves next_attempt_at past the send's timeout, so a process that dies mid-send leaves the row to the
-- next one without any lock held across the network call.
ALTER TABLE acs_results DROP CONSTRAINT acs_results_state_check;
ALTER TABLE acs_results ADD CONSTRAINT acs_results_state_check
    CHECK (state IN ('pending', 'delivered', 'abandoned', 'timed_out'));

-- +goose Down
ALTER TABLE acs_results DROP CONSTRAINT acs_results_state_check;
ALTER TABLE acs_results ADD CONSTRAINT acs_results_state_check CHECK (state IN ('pending', 'delivered', 'abandoned'));
ALTER TABLE acs_transactions DROP CONSTRAINT acs_transactions_trans_status_check;
ALTER TABLE acs_transactions ADD CONSTRAINT acs_transactions_trans_status_check
    CHECK (trans_status IN ('Y', 'N', 'U', 'A', 'C', 'R'));
DROP INDEX acs_transactions_server_trans_id;
ALTER TABLE acs_transactions DROP COLUMN ds_url, DROP COLUMN device_channel, DROP COLUMN message_category,
    DROP COLUMN auth_method, DROP COLUMN requestor_name;
ALTER TABLE acs_transactions ALTER COLUMN three_ds_server_trans_id TYPE uuid USING three_ds_server_trans_id::uuid,
    ALTER COLUMN ds_trans_id TYPE uuid USING ds_trans_id::uuid;
ALTER TABLE acs_transactions ADD CONSTRAINT acs_transactions_three_ds_server_trans_id_key UNIQUE (three_ds_server_trans_id);
