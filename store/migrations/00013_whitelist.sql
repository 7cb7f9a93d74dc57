-- +goose Up

-- A card's trusted merchants (R-WL): a merchant as the EMV elements identify it (acquirer BIN and
-- acquirer merchant id), with the name for display. Added only with a successful confirmation (the
-- transaction is recorded), removed by the cardholder after a strong authentication; a removed entry
-- stays for the record. One live entry per card and merchant.
CREATE TABLE whitelist_entries (
    id                   uuid PRIMARY KEY,
    card_id              uuid NOT NULL REFERENCES issuer_cards (id),
    acquirer_bin         text NOT NULL,
    acquirer_merchant_id text NOT NULL,
    merchant_name        text NOT NULL,
    added_at             timestamptz NOT NULL,
    added_by_trans_id    uuid NOT NULL REFERENCES acs_transactions (acs_trans_id),
    removed_at           timestamptz,
    removed_via          text CHECK (removed_via IN ('portal', 'app', 'support'))
);
CREATE UNIQUE INDEX whitelist_one_live ON whitelist_entries (card_id, acquirer_bin, acquirer_merchant_id) WHERE removed_at IS NULL;

-- +goose Down
DROP TABLE whitelist_entries;
