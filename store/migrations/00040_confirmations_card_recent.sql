-- +goose NO TRANSACTION
-- Built CONCURRENTLY (no lock on a busy table), which PostgreSQL allows only outside a transaction. An
-- interrupted build leaves an invalid index that IF NOT EXISTS would keep: it is dropped first.

-- +goose Up

-- The bound on an app's confirmations (acs.openConfirmationSQL) counts the card's waiting ones and all
-- of its last window: the partial index on waiting ones cannot serve the second half of that OR, so
-- each app CReq read the whole table (issue 13: 57 buffers a call after a 5-second bench run, growing
-- with every confirmation ever made).
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = 'app_confirmations_card_recent' AND NOT i.indisvalid) THEN
        DROP INDEX app_confirmations_card_recent;
    END IF;
END;
$$;
-- +goose StatementEnd
CREATE INDEX CONCURRENTLY IF NOT EXISTS app_confirmations_card_recent ON app_confirmations (card_id, created_at);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS app_confirmations_card_recent;
