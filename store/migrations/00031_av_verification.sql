-- +goose NO TRANSACTION
-- The index is built CONCURRENTLY (no lock on a busy acs_transactions), which PostgreSQL allows only
-- outside a transaction; each statement is safe to run again after an interruption.

-- +goose Up

-- Issue 15: the issuer's authorisation host finds an authentication by the DS's transaction ID (the one
-- Mastercard's authorisation carries), as the DS wrote it or in another case (UUIDs are case-blind).
DROP INDEX CONCURRENTLY IF EXISTS acs_transactions_ds;
CREATE INDEX CONCURRENTLY IF NOT EXISTS acs_transactions_ds_lower ON acs_transactions (lower(ds_trans_id));

-- How often a transaction's authentication value was verified as valid, and when last: the host sees a
-- value presented again (a replay, or a second authorisation of a split shipment) and decides.
ALTER TABLE acs_transactions ADD COLUMN IF NOT EXISTS av_verifications integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS av_last_verified_at timestamptz;

-- +goose Down
ALTER TABLE acs_transactions DROP COLUMN IF EXISTS av_verifications, DROP COLUMN IF EXISTS av_last_verified_at;
DROP INDEX CONCURRENTLY IF EXISTS acs_transactions_ds_lower;
