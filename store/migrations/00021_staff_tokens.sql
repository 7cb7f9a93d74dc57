-- +goose Up

-- Staff tokens expire (PCI DSS 8.3.9: a single factor is changed at least every 90 days) and can be
-- rotated; existing ones expire 90 days after they were made.
ALTER TABLE staff ADD COLUMN token_expires_at timestamptz;
UPDATE staff SET token_expires_at = created_at + interval '90 days';
ALTER TABLE staff ALTER COLUMN token_expires_at SET NOT NULL;

-- +goose Down
ALTER TABLE staff DROP COLUMN token_expires_at;
