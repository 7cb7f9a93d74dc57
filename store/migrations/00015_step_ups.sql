-- +goose Up

-- A strong authentication asked of an mTAN cardholder outside a purchase (PSD2 RTS Art. 13: changing the
-- whitelist): a code sent by SMS to the registered number (possession) entered together with the
-- security answer (knowledge). One open step-up per card and purpose; a new one voids the old; used once.
CREATE TABLE step_ups (
    id              uuid PRIMARY KEY,
    card_id         uuid NOT NULL REFERENCES issuer_cards (id),
    registration_id uuid NOT NULL REFERENCES registrations (id),
    purpose         text NOT NULL,
    verifier        bytea NOT NULL,
    expires_at      timestamptz NOT NULL,
    failures        integer NOT NULL DEFAULT 0,
    state           text NOT NULL CHECK (state IN ('pending', 'used', 'failed', 'void')),
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX step_ups_one_open ON step_ups (card_id, purpose) WHERE state = 'pending';

-- +goose Down
DROP TABLE step_ups;
