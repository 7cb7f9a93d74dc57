-- +goose Up

-- Issue 15: the issuer's authorisation host finds an authentication by the DS's transaction ID (the one
-- Mastercard's authorisation carries) to verify its authentication value.
CREATE INDEX acs_transactions_ds ON acs_transactions (ds_trans_id);

-- The issuer's own systems (authorisation host, later the card management system) reach /issuer/v1
-- with a bearer token of their own: only its keyed hash (HMAC in the HSM) is stored, so the table
-- cannot be replayed from a backup. A disabled client is refused at once.
CREATE TABLE issuer_clients (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz
);

-- +goose Down
DROP TABLE issuer_clients;
DROP INDEX acs_transactions_ds;
