-- +goose Up

-- The timeout sweep reads challenges by when they fall due (issue 13): no CReq 30 seconds after the
-- ARes, or not finished 10 minutes after the CReq. With only created_at indexed, every open challenge
-- whose CReq had come was read on each pass, so the sweep's cost grew with the number of challenges
-- under way; with due_at indexed it reads only those that are due.
ALTER TABLE acs_transactions ADD COLUMN due_at timestamptz;
UPDATE acs_transactions SET due_at = coalesce(creq_at + interval '10 minutes', created_at + interval '30 seconds')
    WHERE trans_status = 'C' AND final_status IS NULL;
CREATE INDEX acs_transactions_due ON acs_transactions (due_at) WHERE trans_status = 'C' AND final_status IS NULL;
DROP INDEX acs_transactions_open;

-- +goose Down
CREATE INDEX acs_transactions_open ON acs_transactions (created_at) WHERE trans_status = 'C' AND final_status IS NULL;
DROP INDEX acs_transactions_due;
ALTER TABLE acs_transactions DROP COLUMN due_at;
