-- +goose Up

-- SMS leave through this outbox: a row is written in the same transaction as the state change that
-- causes it (an mTAN issued, a number to confirm), and a dispatcher delivers it. Number and text are
-- Tink ciphertexts (the text holds an mTAN) and are wiped once the message is final; what stays is the
-- cost ledger for the monthly card statement (R-AUTH-9): card, purpose, time, price, masked number.
CREATE TABLE sms_outbox (
    id              uuid PRIMARY KEY,
    card_id         uuid NOT NULL REFERENCES issuer_cards (id),
    purpose         text NOT NULL CHECK (purpose ~ '^[a-z_]{1,40}$'),
    to_enc          bytea,
    body_enc        bytea,
    to_masked       text NOT NULL,
    price           numeric(10, 4) NOT NULL CHECK (price >= 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    state           text NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    gateway_ref     text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CHECK ((state = 'pending') = (to_enc IS NOT NULL AND body_enc IS NOT NULL))
);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX sms_outbox_card ON sms_outbox (card_id, created_at);

-- What the development gateway "sent", for the local SMS inbox page. Never used in production
-- configuration; the number is masked even here.
CREATE TABLE dev_sms_inbox (
    id        bigserial PRIMARY KEY,
    to_masked text NOT NULL,
    body      text NOT NULL,
    sent_at   timestamptz NOT NULL
);

-- +goose Down
DROP TABLE dev_sms_inbox;
DROP TABLE sms_outbox;
