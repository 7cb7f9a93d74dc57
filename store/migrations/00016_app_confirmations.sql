-- +goose Up

-- What the bound app must show and sign for a challenge on an app card (R-AUTH-2, R-AUTH-3): the
-- transaction's merchant, amount, currency and date as the AReq fixed them, and a server nonce. The
-- app's signature covers all of it; an answer is taken once (guarded UPDATE from 'pending'). The offline
-- challenge is the short number the page shows for the offline password (R-AUTH-4).
CREATE TABLE app_confirmations (
    acs_trans_id      uuid PRIMARY KEY REFERENCES acs_transactions (acs_trans_id),
    card_id           uuid NOT NULL REFERENCES issuer_cards (id),
    registration_id   uuid NOT NULL REFERENCES registrations (id),
    nonce             bytea NOT NULL CHECK (octet_length(nonce) = 16),
    offline_challenge text NOT NULL,
    state             text NOT NULL CHECK (state IN ('pending', 'approved', 'declined', 'failed', 'expired')),
    verification      text CHECK (verification IN ('pin', 'biometric', 'biometric_failed', 'offline_password')),
    created_at        timestamptz NOT NULL,
    answered_at       timestamptz
);
CREATE INDEX app_confirmations_pending ON app_confirmations (card_id) WHERE state = 'pending';

-- +goose Down
DROP TABLE app_confirmations;
