-- +goose Up

-- The end of a challenged transaction. The ARes said C (trans_status keeps what the ARes said); the
-- challenge's result is written here once, by a guarded UPDATE (final_status IS NULL), in the same
-- database transaction that queues the RReq carrying it.
ALTER TABLE acs_transactions
    ADD COLUMN creq_at          timestamptz,
    ADD COLUMN window_size      char(2),
    ADD COLUMN final_status     char(1) CHECK (final_status IN ('Y', 'N', 'U', 'A', 'R')),
    ADD COLUMN final_reason     char(2),
    ADD COLUMN challenge_cancel char(2),
    ADD COLUMN eci              char(2),
    ADD COLUMN completed_at     timestamptz;
-- The timeout sweep looks for open challenges only.
CREATE INDEX acs_transactions_open ON acs_transactions (created_at) WHERE trans_status = 'C' AND final_status IS NULL;

-- RReq outbox: one result per challenged transaction, delivered to the 3DS Server (threeDSServerURL, or
-- the configured Directory Server) until an RRes acknowledges it, with bounded retries and back-off.
CREATE TABLE acs_results (
    acs_trans_id    uuid PRIMARY KEY REFERENCES acs_transactions (acs_trans_id),
    target_url      text NOT NULL,
    rreq            jsonb NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'abandoned')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX acs_results_due ON acs_results (next_attempt_at) WHERE state = 'pending';

-- +goose Down
DROP TABLE acs_results;
DROP INDEX acs_transactions_open;
ALTER TABLE acs_transactions DROP COLUMN creq_at, DROP COLUMN window_size, DROP COLUMN final_status,
    DROP COLUMN final_reason, DROP COLUMN challenge_cancel, DROP COLUMN eci, DROP COLUMN completed_at;
