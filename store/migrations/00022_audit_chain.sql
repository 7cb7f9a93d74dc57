-- +goose Up

-- Tamper evidence for the audit log (issue 12, PCI DSS 10.3.4): each entry carries an HSM-keyed hash
-- over its content and the hash of the entry before it, so `acs audit verify` finds an entry changed,
-- removed or put out of order even by someone who can write the table (the append-only trigger stops
-- the application; the chain catches whoever gets past it). Entries from before the chain have none.
ALTER TABLE audit_log ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

-- +goose Down
ALTER TABLE audit_log DROP COLUMN prev_hash, DROP COLUMN hash;
