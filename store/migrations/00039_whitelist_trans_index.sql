-- +goose NO TRANSACTION
-- Built CONCURRENTLY (no lock on a busy table), which PostgreSQL allows only outside a transaction. An
-- interrupted build leaves an invalid index that IF NOT EXISTS would keep: it is dropped first.

-- +goose Up

-- Retention removes old transactions, and each one sets the trusted merchants it added to NULL
-- (ON DELETE SET NULL): without an index, every removed transaction scans whitelist_entries.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = 'whitelist_entries_added_by' AND NOT i.indisvalid) THEN
        DROP INDEX whitelist_entries_added_by;
    END IF;
END;
$$;
-- +goose StatementEnd
CREATE INDEX CONCURRENTLY IF NOT EXISTS whitelist_entries_added_by ON whitelist_entries (added_by_trans_id)
    WHERE added_by_trans_id IS NOT NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS whitelist_entries_added_by;
