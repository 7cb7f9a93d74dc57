-- +goose Up

-- ID-code letters (R-REG-3). A letter is requested (by registration or by support), then printed in a
-- batch: only then is its code generated, and only the code's keyed verifier (HMAC in the HSM) is kept,
-- so the code exists in clear only on paper. It is valid for 15 days from printing; a newer letter
-- supersedes an older unused one; a used code is spent; five wrong codes lock it.
CREATE TABLE letter_batches (
    id         uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    letters    integer NOT NULL CHECK (letters > 0)
);

CREATE TABLE letters (
    id              uuid PRIMARY KEY,
    card_id         uuid NOT NULL REFERENCES issuer_cards (id),
    state           text NOT NULL CHECK (state IN ('requested', 'printed', 'used', 'superseded', 'expired')),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    requested_by    text NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 100),
    requested_at    timestamptz NOT NULL,
    batch_id        uuid REFERENCES letter_batches (id),
    printed_at      timestamptz,
    valid_until     timestamptz,
    code_verifier   bytea CHECK (octet_length(code_verifier) = 32),
    failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    closed_at       timestamptz,
    -- A printed letter has its code and validity (kept after it is used or expires); a requested one has
    -- neither; a superseded one may have been either.
    CHECK (state <> 'requested' OR printed_at IS NULL),
    CHECK (state NOT IN ('printed', 'used', 'expired') OR printed_at IS NOT NULL),
    CHECK ((printed_at IS NULL) = (code_verifier IS NULL) AND (printed_at IS NULL) = (valid_until IS NULL))
);

-- At most one open (requested or printed) letter per card: a new request supersedes the open one in the
-- same transaction, and this index makes a concurrent second request fail instead of leaving two.
CREATE UNIQUE INDEX letters_one_open_per_card ON letters (card_id) WHERE state IN ('requested', 'printed');
CREATE INDEX letters_card ON letters (card_id, requested_at DESC);
CREATE INDEX letters_to_print ON letters (requested_at) WHERE state = 'requested';

-- +goose Down
DROP TABLE letters;
DROP TABLE letter_batches;
