-- +goose Up

-- Support staff (R-SUP). A staff member authenticates with a bearer token that is shown once, when
-- `acs staff add` creates it; only its keyed hash (HSM index key) is stored.
CREATE TABLE staff (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9._-]{1,39}$'),
    role       text NOT NULL CHECK (role IN ('agent', 'supervisor')),
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL,
    disabled_at timestamptz
);

CREATE INDEX issuer_cards_last4 ON issuer_cards (pan_last4);

-- +goose Down
DROP INDEX issuer_cards_last4;
DROP TABLE staff;
