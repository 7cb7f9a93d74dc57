-- +goose Up

-- One row per AReq the ACS answered: what was asked (merchant, amount, browser), what was decided and
-- why. The card number is not here: the card is referenced by id, and an unknown card leaves card_id
-- empty. Reasons are machine-readable names (card_unknown, not_registered, challenge_mandated, ...).
CREATE TABLE acs_transactions (
    acs_trans_id             uuid PRIMARY KEY,
    three_ds_server_trans_id uuid NOT NULL UNIQUE,
    ds_trans_id              uuid NOT NULL,
    message_version          text NOT NULL,
    card_id                  uuid REFERENCES issuer_cards (id),
    registration_id          uuid REFERENCES registrations (id),
    amount                   numeric(24, 6) NOT NULL CHECK (amount >= 0),
    minor_units              bigint NOT NULL CHECK (minor_units >= 0),
    currency                 char(3) NOT NULL,
    exponent                 smallint NOT NULL,
    merchant_name            text NOT NULL,
    acquirer_bin             text NOT NULL,
    acquirer_merchant_id     text NOT NULL,
    mcc                      text NOT NULL,
    merchant_country         char(3) NOT NULL,
    purchase_date            timestamptz NOT NULL,
    challenge_ind            char(2) NOT NULL,
    notification_url         text NOT NULL,
    three_ds_server_url      text,
    browser_language         text NOT NULL,
    trans_status             char(1) NOT NULL CHECK (trans_status IN ('Y', 'N', 'U', 'A', 'C', 'R')),
    trans_status_reason      char(2),
    reasons                  jsonb NOT NULL,
    created_at               timestamptz NOT NULL
);
CREATE INDEX acs_transactions_card ON acs_transactions (card_id, created_at);

-- +goose Down
DROP TABLE acs_transactions;
