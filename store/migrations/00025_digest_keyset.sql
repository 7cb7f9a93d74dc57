-- +goose Up

-- The browser and IP digests of the risk rules are keyed by the "digest" keyset in data_keysets
-- (envelope.Digester, computed in process) instead of the HSM's keyed hash (issue 13: an HSM call less
-- per digest). A digest made with the old key never equals a new one, so the learned ones are dropped:
-- each card's next purchase from a browser it knew is challenged once, the safe direction.
DELETE FROM acs_card_browsers;

-- +goose Down
-- Nothing to restore: the old binary learns its browsers again the same way.
SELECT 1;
