-- +goose Up

-- A letter's ID code activates only the registration it was issued for (R-REG-3, R-REG-4; issue 12):
-- the registration in progress when the letter was requested. A code typed for another registration of
-- the same card (one an attacker with card data started) does not redeem.
ALTER TABLE letters ADD COLUMN registration_id uuid REFERENCES registrations (id);
-- Number-confirmation codes sent per registration: resends are bounded and do not reset the tries.
ALTER TABLE registrations ADD COLUMN confirm_sent integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE registrations DROP COLUMN confirm_sent;
ALTER TABLE letters DROP COLUMN registration_id;
