-- +goose Up

-- A second factor for staff (PCI DSS 8.4.2: multi-factor for all access to the cardholder data
-- environment): a TOTP secret (RFC 6238), encrypted with the data keyset under associated data naming
-- this row, the last time step used (a code works once, RFC 6238 section 5.2) and a lock after ten wrong
-- codes in a row (PCI DSS 8.3.4: locked for at least 30 minutes). A member without a secret (made before
-- this migration) cannot sign in until `acs staff otp NAME` enrols one.
ALTER TABLE staff
    ADD COLUMN totp_enc bytea,
    ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0,
    ADD COLUMN otp_failures int NOT NULL DEFAULT 0 CHECK (otp_failures >= 0),
    ADD COLUMN locked_until timestamptz;

-- A sign-in (token and code) opens a session; its bearer token is stored only as a keyed hash. It ends
-- after 8 hours, after 15 idle minutes (PCI DSS 8.2.8), at sign-out, and with the member's token
-- rotation, re-enrolment or disabling.
CREATE TABLE staff_sessions (
    token_hash   bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    staff_id     uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- +goose Down
DROP TABLE staff_sessions;
ALTER TABLE staff DROP COLUMN totp_enc, DROP COLUMN totp_last_step, DROP COLUMN otp_failures, DROP COLUMN locked_until;
