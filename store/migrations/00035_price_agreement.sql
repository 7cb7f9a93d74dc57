-- +goose Up

-- Issue 16, R-REG-6: what the cardholder accepted when ordering the charged SMS: the price per SMS, its
-- currency and the version of the price agreement document shown (the PDF), next to the time of
-- acceptance (price_accepted_at). The three come together, and only with an acceptance; registrations
-- accepted before this migration keep their time without the terms (they were not recorded then).
ALTER TABLE registrations
    ADD COLUMN price_accepted_amount numeric(10, 4),
    ADD COLUMN price_accepted_currency text,
    ADD COLUMN price_document_version text,
    ADD CONSTRAINT registrations_price_terms_whole CHECK (
        (price_accepted_amount IS NULL) = (price_accepted_currency IS NULL)
        AND (price_accepted_amount IS NULL) = (price_document_version IS NULL)
        AND (price_accepted_amount IS NULL OR price_accepted_at IS NOT NULL));

-- +goose Down
ALTER TABLE registrations DROP CONSTRAINT registrations_price_terms_whole,
    DROP COLUMN price_accepted_amount, DROP COLUMN price_accepted_currency, DROP COLUMN price_document_version;
