-- +goose Up

-- Issue 16, review of retention: the guards that keep the audit log's retention from being a way to
-- rewrite it, and the card block's origin.
--
-- When an entry was written, by the database's clock: the application writes `at`, so a guard on `at`
-- alone would let it insert an entry dated years ago and delete it at once. Entries from before this
-- migration count as written now (kept at least another 12 months).
ALTER TABLE audit_log ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
-- +goose StatementBegin
CREATE FUNCTION audit_log_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.recorded_at := now();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_stamp BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_stamp();

-- Retention removes an entry only when it was written more than 12 months ago and an anchor written in
-- the same run covers it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_log_retention_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('acs.audit_retention', true), '') <> 'on' OR OLD.recorded_at >= now() - interval '12 months'
        OR OLD.at >= now() - interval '12 months'
        OR OLD.id > coalesce((SELECT max(through_id) FROM audit_chain_anchors), 0) THEN
        RAISE EXCEPTION 'audit_log is append-only; retention removes entries older than 12 months only, behind an anchor';
    END IF;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd

-- An anchor names an existing entry that may be removed, carries that entry's hash, and moves forward
-- only: a forged anchor (one that would make acs audit verify skip or accept a cut) is refused.
-- +goose StatementBegin
CREATE FUNCTION audit_chain_anchor_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e audit_log%ROWTYPE;
BEGIN
    IF coalesce(current_setting('acs.audit_retention', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit chain anchors are written by retention only';
    END IF;
    SELECT * INTO e FROM audit_log WHERE id = NEW.through_id;
    IF NOT FOUND OR e.hash IS DISTINCT FROM NEW.hash THEN
        RAISE EXCEPTION 'an anchor names an existing audit entry and carries its hash';
    END IF;
    IF e.recorded_at >= now() - interval '12 months' OR e.at >= now() - interval '12 months' THEN
        RAISE EXCEPTION 'audit entries younger than 12 months are kept';
    END IF;
    IF NEW.through_id <= coalesce((SELECT max(through_id) FROM audit_chain_anchors), 0) THEN
        RAISE EXCEPTION 'audit chain anchors only move forward';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_chain_anchor_check BEFORE INSERT ON audit_chain_anchors FOR EACH ROW EXECUTE FUNCTION audit_chain_anchor_check();

-- Who blocked a card: support may lift only its own blocks; a block from the card management system
-- (a card reported stolen there) is lifted there, or support would authenticate purchases the bank's
-- card system still refuses, and its delta file would never block the card again.
ALTER TABLE issuer_cards ADD COLUMN blocked_by text CHECK (blocked_by IN ('support', 'card_management', 'card_file'));
UPDATE issuer_cards SET blocked_by = 'card_file' WHERE status = 'blocked';

-- +goose Down
ALTER TABLE issuer_cards DROP COLUMN blocked_by;
DROP TRIGGER audit_chain_anchor_check ON audit_chain_anchors;
DROP FUNCTION audit_chain_anchor_check();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_log_retention_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('acs.audit_retention', true), '') <> 'on' OR OLD.at >= now() - interval '12 months' THEN
        RAISE EXCEPTION 'audit_log is append-only; retention removes entries older than 12 months only';
    END IF;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
DROP TRIGGER audit_log_stamp ON audit_log;
DROP FUNCTION audit_log_stamp();
ALTER TABLE audit_log DROP COLUMN recorded_at;
