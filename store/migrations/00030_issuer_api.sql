-- +goose Up

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
