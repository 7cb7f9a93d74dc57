-- +goose Up

-- The challenge of a transaction answered with ARes C. For mTAN: the current code's keyed verifier,
-- bound to the transaction (its amount, currency and merchant are fixed in acs_transactions), its
-- expiry, and the failures counted across resends. A challenge ends once: a guarded UPDATE from
-- 'pending' decides.
CREATE TABLE acs_challenges (
    acs_trans_id   uuid PRIMARY KEY REFERENCES acs_transactions (acs_trans_id),
    method         text NOT NULL CHECK (method IN ('mtan', 'app')),
    state          text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    otp_verifier   bytea,
    otp_expires_at timestamptz,
    otp_sent       integer NOT NULL DEFAULT 0,
    failures       integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    completed_at   timestamptz
);

-- +goose Down
DROP TABLE acs_challenges;
