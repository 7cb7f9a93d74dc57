-- +goose Up

-- Rate limits that every acs serve process shares (package limits): a counter per rule, subject and
-- fixed time window. Subjects are ids or HSM-keyed digests (a client address is never stored in clear).
CREATE TABLE rate_counters (
    rule         text NOT NULL,
    subject      text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (rule, subject, window_start)
);
CREATE INDEX rate_counters_age ON rate_counters (window_start);

-- +goose Down
DROP TABLE rate_counters;
