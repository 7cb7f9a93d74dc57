-- +goose NO TRANSACTION
-- Built CONCURRENTLY (no lock on busy tables), which PostgreSQL allows only outside a transaction; each
-- statement is safe to run again after an interruption.

-- +goose Up

-- Retention reads the oldest rows first, a batch at a time (issue 16): by age, without a scan.
CREATE INDEX CONCURRENTLY IF NOT EXISTS acs_transactions_created ON acs_transactions (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS sms_outbox_created ON sms_outbox (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS issuer_data_access_at ON issuer_data_access (accessed_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS registrations_closed ON registrations (closed_at) WHERE anonymised_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS acs_card_browsers_seen ON acs_card_browsers (last_seen);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS acs_card_browsers_seen;
DROP INDEX CONCURRENTLY IF EXISTS registrations_closed;
DROP INDEX CONCURRENTLY IF EXISTS issuer_data_access_at;
DROP INDEX CONCURRENTLY IF EXISTS sms_outbox_created;
DROP INDEX CONCURRENTLY IF EXISTS acs_transactions_created;
