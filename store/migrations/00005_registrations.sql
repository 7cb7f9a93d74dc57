-- +goose Up

-- A card's registration for 3-D Secure (R-REG-4..8): one method per card, either mTAN or app. A
-- registration is requested (pending, waiting for its ID-code letter), for mTAN then confirms the number
-- by an SMS code (confirming), and becomes active; the card's earlier active registration is replaced at
-- that moment, not before, so the old method keeps working until the new one is ready (R-REG-4).
-- Everything secret is a Tink ciphertext or an HSM-keyed verifier (R-KEY-1, R-KEY-2).
CREATE TABLE registrations (
    id                 uuid PRIMARY KEY,
    card_id            uuid NOT NULL REFERENCES issuer_cards (id),
    method             text NOT NULL CHECK (method IN ('mtan', 'app')),
    state              text NOT NULL CHECK (state IN ('pending', 'confirming', 'active', 'abandoned', 'replaced', 'ended')),
    created_at         timestamptz NOT NULL,
    activated_at       timestamptz,
    closed_at          timestamptz,
    close_reason       text,
    -- mTAN method
    mobile_enc         bytea,
    mobile_hash        bytea CHECK (octet_length(mobile_hash) = 32),
    mobile_masked      text,
    question           text,
    answer_verifier    bytea,
    price_accepted_at  timestamptz,
    confirm_verifier   bytea,
    confirm_expires_at timestamptz,
    confirm_failures   integer NOT NULL DEFAULT 0,
    -- app method
    device_key_enc     bytea,
    device_key_hash    bytea CHECK (octet_length(device_key_hash) = 32),
    device_platform    text CHECK (device_platform IN ('android', 'ios')),
    device_os_version  text,
    pin_verifier       bytea,
    pin_failures       integer NOT NULL DEFAULT 0,
    em_cert_id         uuid UNIQUE,
    CHECK (method <> 'mtan' OR (mobile_enc IS NOT NULL AND mobile_hash IS NOT NULL AND answer_verifier IS NOT NULL AND question IS NOT NULL)),
    CHECK (method <> 'app' OR (device_key_enc IS NOT NULL AND device_key_hash IS NOT NULL AND pin_verifier IS NOT NULL AND em_cert_id IS NOT NULL))
);
-- One active method per card, one registration in progress per card (R-REG-4, R-REG-5).
CREATE UNIQUE INDEX registrations_one_active ON registrations (card_id) WHERE state = 'active';
CREATE UNIQUE INDEX registrations_one_open ON registrations (card_id) WHERE state IN ('pending', 'confirming');
-- One number or one device may serve many cards: these are plain indexes, not unique.
CREATE INDEX registrations_mobile ON registrations (mobile_hash) WHERE state = 'active';
CREATE INDEX registrations_device ON registrations (device_key_hash) WHERE state = 'active';

-- +goose Down
DROP TABLE registrations;
