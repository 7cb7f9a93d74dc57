-- +goose Up

-- Low-value exemption counters (PSD2 RTS Art. 16): per card, the purchases let through without a
-- challenge since the last strong customer authentication, by number and by amount (EUR). Updated by
-- one guarded upsert, so parallel AReqs cannot pass the limits together; reset by a successful challenge.
CREATE TABLE acs_sca_counters (
    card_id    uuid PRIMARY KEY REFERENCES issuer_cards (id),
    count      integer NOT NULL CHECK (count >= 0),
    cumulative numeric(24, 6) NOT NULL CHECK (cumulative >= 0),
    since      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE acs_sca_counters;
