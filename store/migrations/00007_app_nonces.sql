-- +goose Up

-- Nonces of signed app requests seen within the accepted clock window: a replayed request carries a
-- nonce already here and is refused. Rows older than the window are deleted as new ones arrive.
CREATE TABLE app_nonces (
    nonce   text PRIMARY KEY CHECK (length(nonce) BETWEEN 16 AND 64),
    seen_at timestamptz NOT NULL
);
CREATE INDEX app_nonces_seen ON app_nonces (seen_at);

-- +goose Down
DROP TABLE app_nonces;
