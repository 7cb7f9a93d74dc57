-- +goose Up

-- The per-device secret from which the app derives offline passwords (R-AUTH-4), provisioned at app
-- registration and stored only as a Tink ciphertext.
ALTER TABLE registrations ADD COLUMN offline_secret_enc bytea;
ALTER TABLE registrations ADD CONSTRAINT registrations_app_offline_secret
    CHECK (method <> 'app' OR offline_secret_enc IS NOT NULL);

-- +goose Down
ALTER TABLE registrations DROP CONSTRAINT registrations_app_offline_secret;
ALTER TABLE registrations DROP COLUMN offline_secret_enc;
