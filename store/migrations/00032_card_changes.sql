-- +goose Up

-- Issue 16: the card management system closes cards (and replaces them: the old number closed, a new
-- card for the same holder); replaced_by links the old card to its replacement for support.
ALTER TABLE issuer_cards DROP CONSTRAINT issuer_cards_status_check;
ALTER TABLE issuer_cards ADD CONSTRAINT issuer_cards_status_check CHECK (status IN ('active', 'blocked', 'closed'));
ALTER TABLE issuer_cards ADD COLUMN replaced_by uuid REFERENCES issuer_cards (id);

-- +goose Down
ALTER TABLE issuer_cards DROP COLUMN replaced_by;
UPDATE issuer_cards SET status = 'blocked' WHERE status = 'closed';
ALTER TABLE issuer_cards DROP CONSTRAINT issuer_cards_status_check;
ALTER TABLE issuer_cards ADD CONSTRAINT issuer_cards_status_check CHECK (status IN ('active', 'blocked'));
