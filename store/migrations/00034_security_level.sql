-- +goose Up

-- Issue 16, R-X-1: the cardholder's security level for the card's registration: adaptive (the risk
-- rules may let a purchase through without a challenge) or always_confirm (every purchase is
-- challenged, no exemption). A new registration starts adaptive.
ALTER TABLE registrations ADD COLUMN security_level text NOT NULL DEFAULT 'adaptive'
    CHECK (security_level IN ('adaptive', 'always_confirm'));

-- +goose Down
ALTER TABLE registrations DROP COLUMN security_level;
