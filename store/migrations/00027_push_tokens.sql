-- +goose Up

-- The bank's app's push token per card registration (issue 14): the FCM registration token (android) or
-- the APNs device token (ios), Tink-encrypted (associated data app_push_tokens|token_enc|<registration>):
-- it identifies a phone. Replaced when the app sends a new one; dropped when the push service reports
-- it invalid, and with the registration.
CREATE TABLE app_push_tokens (
    registration_id uuid PRIMARY KEY REFERENCES registrations (id) ON DELETE CASCADE,
    platform        text NOT NULL CHECK (platform IN ('android', 'ios')),
    token_enc       bytea NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE app_push_tokens;
