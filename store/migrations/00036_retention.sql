-- +goose Up

-- Issue 16: retention (acs retention run). What it needs of the schema:
--
-- A trusted merchant outlives the transaction that added it: the transaction is removed when its
-- retention ends, the entry stays (its merchant and date are its own columns).
ALTER TABLE whitelist_entries ALTER COLUMN added_by_trans_id DROP NOT NULL,
    DROP CONSTRAINT whitelist_entries_added_by_trans_id_fkey,
    ADD CONSTRAINT whitelist_entries_added_by_trans_id_fkey FOREIGN KEY (added_by_trans_id)
        REFERENCES acs_transactions (acs_trans_id) ON DELETE SET NULL;

-- A registration that ended long ago is kept as a record (when, which method, why it ended) without
-- what identified the person: its secrets, verifiers and numbers are cleared and anonymised_at set.
ALTER TABLE registrations ADD COLUMN anonymised_at timestamptz,
    ADD CONSTRAINT registrations_anonymised_closed CHECK (anonymised_at IS NULL OR state IN ('abandoned', 'replaced', 'ended')),
    DROP CONSTRAINT registrations_check,
    DROP CONSTRAINT registrations_check1,
    DROP CONSTRAINT registrations_app_offline_secret,
    ADD CONSTRAINT registrations_mtan_whole CHECK (anonymised_at IS NOT NULL OR method <> 'mtan'
        OR (mobile_enc IS NOT NULL AND mobile_hash IS NOT NULL AND answer_verifier IS NOT NULL AND question IS NOT NULL)),
    ADD CONSTRAINT registrations_app_whole CHECK (anonymised_at IS NOT NULL OR method <> 'app'
        OR (device_key_enc IS NOT NULL AND device_key_hash IS NOT NULL AND pin_verifier IS NOT NULL AND em_cert_id IS NOT NULL
            AND offline_secret_enc IS NOT NULL));

-- The audit log stays append-only for the application, with one exception: retention removes the
-- oldest entries, and only those older than a year (PCI DSS 10.5.1 keeps 12 months), only from a
-- transaction that asked for it (SET LOCAL acs.audit_retention = 'on'). The database's own clock
-- decides: an application that got past its checks still cannot remove a recent entry.
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
-- +goose StatementBegin
CREATE FUNCTION audit_log_retention_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('acs.audit_retention', true), '') <> 'on' OR OLD.at >= now() - interval '12 months' THEN
        RAISE EXCEPTION 'audit_log is append-only; retention removes entries older than 12 months only';
    END IF;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_retention_only BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_retention_only();

-- Where the chain continues after removed entries: the hash of the last entry removed, which the
-- first entry kept names as its prev_hash (acs audit verify starts there). Append-only as well.
CREATE TABLE audit_chain_anchors (
    through_id bigint PRIMARY KEY,
    hash       bytea,
    removed    integer NOT NULL CHECK (removed > 0),
    at         timestamptz NOT NULL
);
CREATE TRIGGER audit_chain_anchors_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_chain_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TABLE audit_chain_anchors;
DROP TRIGGER audit_log_retention_only ON audit_log;
DROP FUNCTION audit_log_retention_only();
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
ALTER TABLE registrations DROP CONSTRAINT registrations_mtan_whole, DROP CONSTRAINT registrations_app_whole,
    DROP CONSTRAINT registrations_anonymised_closed, DROP COLUMN anonymised_at,
    ADD CONSTRAINT registrations_check CHECK (method <> 'mtan' OR (mobile_enc IS NOT NULL AND mobile_hash IS NOT NULL
        AND answer_verifier IS NOT NULL AND question IS NOT NULL)),
    ADD CONSTRAINT registrations_check1 CHECK (method <> 'app' OR (device_key_enc IS NOT NULL AND device_key_hash IS NOT NULL
        AND pin_verifier IS NOT NULL AND em_cert_id IS NOT NULL)),
    ADD CONSTRAINT registrations_app_offline_secret CHECK (method <> 'app' OR offline_secret_enc IS NOT NULL);
ALTER TABLE whitelist_entries DROP CONSTRAINT whitelist_entries_added_by_trans_id_fkey,
    ADD CONSTRAINT whitelist_entries_added_by_trans_id_fkey FOREIGN KEY (added_by_trans_id) REFERENCES acs_transactions (acs_trans_id);
