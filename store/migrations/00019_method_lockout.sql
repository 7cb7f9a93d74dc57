-- +goose Up

-- One failure counter per card and method (PSD2 RTS Art. 4(3)(b): a block after at most 5 consecutive
-- failed attempts; issue 12): every wrong mTAN or security answer (challenges and portal step-ups
-- alike), every wrong offline password and app PIN counts toward its registration's counter; a
-- success resets it; the fifth in a row locks the method until support lifts the lock. The app PIN's
-- own count (pin_failures) becomes this one.
ALTER TABLE registrations
    ADD COLUMN auth_failures integer NOT NULL DEFAULT 0 CHECK (auth_failures >= 0),
    ADD COLUMN locked_at timestamptz;
UPDATE registrations SET auth_failures = pin_failures, locked_at = CASE WHEN pin_failures >= 5 THEN now() END;
ALTER TABLE registrations DROP COLUMN pin_failures;

-- +goose Down
ALTER TABLE registrations ADD COLUMN pin_failures integer NOT NULL DEFAULT 0;
UPDATE registrations SET pin_failures = auth_failures;
ALTER TABLE registrations DROP COLUMN auth_failures, DROP COLUMN locked_at;
