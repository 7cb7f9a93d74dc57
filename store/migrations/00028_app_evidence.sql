-- +goose Up

-- What proves an app approval (issue 14; § 675w BGB puts the burden of proof for an authorised payment
-- on the bank): the exact bytes the app signed (Confirmation.Canonical: transaction, amount, currency,
-- merchant, date, nonce), the device's signature over them, and the SHA-256 fingerprint of the device
-- key it verified with (the key itself stays encrypted in registrations.device_key_enc). With
-- verification (pin, biometric) and answered_at, `acs evidence` shows and re-verifies an approval.
ALTER TABLE app_confirmations ADD COLUMN signed_data bytea, ADD COLUMN signature bytea, ADD COLUMN device_key_sha256 bytea
    CHECK (octet_length(device_key_sha256) = 32);

-- +goose Down
ALTER TABLE app_confirmations DROP COLUMN signed_data, DROP COLUMN signature, DROP COLUMN device_key_sha256;
