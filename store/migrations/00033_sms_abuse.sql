-- +goose Up

-- Issue 16, R-AUTH-9: an SMS caused by abuse (someone else triggering mTANs for the card) is not the
-- cardholder's to pay: support marks it, and the monthly statement leaves it out.
ALTER TABLE sms_outbox ADD COLUMN abuse_marked_at timestamptz, ADD COLUMN abuse_marked_by text;
CREATE INDEX sms_outbox_sent ON sms_outbox (sent_at) WHERE state = 'sent';

-- +goose Down
DROP INDEX sms_outbox_sent;
ALTER TABLE sms_outbox DROP COLUMN abuse_marked_at, DROP COLUMN abuse_marked_by;
