-- +goose Up

-- Decoupled authentications (transStatus D, issue 14) fall due like challenges: when the cardholder has
-- not answered in the bank's app within their time, the sweep ends them (U, reason 24). The sweep's index
-- holds both.
ALTER TABLE acs_transactions DROP CONSTRAINT acs_transactions_trans_status_check;
ALTER TABLE acs_transactions ADD CONSTRAINT acs_transactions_trans_status_check
    CHECK (trans_status IN ('Y', 'N', 'U', 'A', 'C', 'R', 'I', 'D'));
CREATE INDEX acs_transactions_due_cd ON acs_transactions (due_at) WHERE trans_status IN ('C', 'D') AND final_status IS NULL;
DROP INDEX acs_transactions_due;

-- +goose Down
ALTER TABLE acs_transactions DROP CONSTRAINT acs_transactions_trans_status_check;
ALTER TABLE acs_transactions ADD CONSTRAINT acs_transactions_trans_status_check
    CHECK (trans_status IN ('Y', 'N', 'U', 'A', 'C', 'R', 'I'));
CREATE INDEX acs_transactions_due ON acs_transactions (due_at) WHERE trans_status = 'C' AND final_status IS NULL;
DROP INDEX acs_transactions_due_cd;
