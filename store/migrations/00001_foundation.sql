-- +goose Up

-- Tink keysets, each wrapped by the HSM's key-encryption key with the associated data
-- "data_keysets|wrapped|<name>". The clear keyset never reaches the database.
CREATE TABLE data_keysets (
    name           text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    wrapped        bytea NOT NULL,
    primary_key_id bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    rotated_at     timestamptz
);

-- The issuer's card master data, imported from the bank's card file. The card number is stored only as
-- a Tink ciphertext (pan_enc) and found through its keyed hash (pan_hash, HMAC in the HSM): PCI DSS
-- 3.5.1.1. First six and last four digits are what PCI DSS allows to be shown. The holder's personal
-- data (name, date of birth, postal address) are one encrypted JSON document.
CREATE TABLE issuer_cards (
    id           uuid PRIMARY KEY,
    pan_hash     bytea NOT NULL UNIQUE CHECK (octet_length(pan_hash) = 32),
    pan_enc      bytea NOT NULL,
    pan_first6   text NOT NULL CHECK (pan_first6 ~ '^[0-9]{6}$'),
    pan_last4    text NOT NULL CHECK (pan_last4 ~ '^[0-9]{4}$'),
    pan_length   smallint NOT NULL CHECK (pan_length BETWEEN 13 AND 19),
    scheme       text NOT NULL CHECK (scheme IN ('visa', 'mastercard')),
    product      text NOT NULL CHECK (product IN ('credit', 'debit')),
    -- The card is valid through the last day of this month.
    expiry_month date NOT NULL CHECK (extract(day FROM expiry_month) = 1),
    status       text NOT NULL CHECK (status IN ('active', 'blocked')),
    holder_enc   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE issuer_cards;
DROP TABLE data_keysets;
