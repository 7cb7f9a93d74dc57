-- +goose Up

-- Browsers and IP addresses each card has completed a challenge from (keyed hashes computed in the HSM,
-- never the values): a purchase from one the card has not used is challenged. Learned only from a
-- successful challenge, so a fraudster's browser cannot become known through frictionless purchases.
CREATE TABLE acs_card_browsers (
    card_id    uuid NOT NULL REFERENCES issuer_cards (id),
    kind       text NOT NULL CHECK (kind IN ('browser', 'ip')),
    digest     bytea NOT NULL CHECK (octet_length(digest) = 32),
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (card_id, kind, digest)
);

-- The AReq's browser and IP digests, kept with the transaction until its challenge succeeds.
ALTER TABLE acs_transactions
    ADD COLUMN browser_digest bytea,
    ADD COLUMN ip_digest      bytea,
    ADD COLUMN trust_merchant boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE acs_transactions DROP COLUMN browser_digest, DROP COLUMN ip_digest, DROP COLUMN trust_merchant;
DROP TABLE acs_card_browsers;
