-- +goose Up

-- The audit log of staff and security-relevant actions (R-SUP-3, PCI DSS 10.2): who, what, when, which
-- card (masked). Append-only: the trigger refuses UPDATE and DELETE even for the table's owner, so a
-- compromised application cannot rewrite history through SQL it is allowed to run.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    action      text NOT NULL CHECK (action ~ '^[a-z][a-z_.]{0,60}$'),
    card_id     uuid,
    card_masked text CHECK (card_masked ~ '^[0-9]{6}[*]{3,9}[0-9]{4}$'),
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_card ON audit_log (card_id, at);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Every read of the issuer's card data during registration (R-REG-9); the cardholder and support see the
-- count of the last 13 months.
CREATE TABLE issuer_data_access (
    id          bigserial PRIMARY KEY,
    card_id     uuid NOT NULL REFERENCES issuer_cards (id),
    purpose     text NOT NULL CHECK (purpose ~ '^[a-z_]{1,40}$'),
    accessed_at timestamptz NOT NULL
);
CREATE INDEX issuer_data_access_card ON issuer_data_access (card_id, accessed_at);

-- +goose Down
DROP TABLE issuer_data_access;
DROP TRIGGER audit_log_append_only ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE audit_log;
