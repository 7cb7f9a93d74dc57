package acs

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"example.com/acs/cards"
	"example.com/acs/registration"
)

// The AReq's database work is one read and one write (issue 13): the read below fetches the card, its
// active registration and every risk input in one statement, the decision is made in memory, and the
// transaction is written by one statement (insertTx) that also counts a low-value exemption under the
// counter's row lock. Before, an AReq took 5 to 9 round trips, BEGIN and COMMIT among them. The columns
// mean what their owning packages say (cards.Card; registrations.locked_at set by the method lockout;
// acs_card_browsers learned from completed challenges; whitelist_entries managed by package whitelist).

// knownDigests bounds how many learned browsers and addresses per card the read returns: the newest, so
// that one seen long ago and never since counts as new again (the safe direction: a challenge).
const knownDigests = 64

// decisionInputs is what the decision reads about the card.
type decisionInputs struct {
	card *cards.Card // nil: no such card
	// regID is the card's active registration (nil: none), with its method and lock.
	regID  *uuid.UUID
	method registration.Method
	locked bool
	// recent counts the card's AReqs within the velocity window, up to the rule's threshold.
	recent int
	// whitelisted: the merchant's acquirer ids are on the card's trusted list.
	whitelisted bool
	// scaCount, scaSum are the low-value purchases let through since the last strong authentication.
	scaCount int
	scaSum   decimal.Decimal
	// browsers, ips are the digests the card completed a challenge from.
	browsers, ips [][]byte
}

// The subqueries sit in CASE branches that PostgreSQL evaluates only when reached, so an unregistered
// card costs one index lookup per table it is joined to and nothing more. The velocity count stops at
// the rule's threshold ($7; 0: the rule is off), so a card's busy history costs no more than that.
const readInputsSQL = `SELECT c.id, c.pan_first6, c.pan_last4, c.pan_length, c.scheme, c.product, c.expiry_month, c.status,
	r.id, coalesce(r.method, ''), r.locked_at IS NOT NULL,
	CASE WHEN r.id IS NULL OR $7 = 0 THEN 0 ELSE (SELECT count(*) FROM
		(SELECT 1 FROM acs_transactions t WHERE t.card_id = c.id AND t.created_at > $2 LIMIT $7) v) END,
	CASE WHEN r.id IS NULL OR $3 = '' THEN false ELSE EXISTS (SELECT 1 FROM whitelist_entries w
		WHERE w.card_id = c.id AND w.acquirer_bin = $3 AND w.acquirer_merchant_id = $4 AND w.removed_at IS NULL) END,
	coalesce(s.count, 0), coalesce(s.cumulative, 0),
	CASE WHEN r.id IS NULL OR NOT $5 THEN '{}' ELSE ARRAY(SELECT b.digest FROM acs_card_browsers b
		WHERE b.card_id = c.id AND b.kind = 'browser' ORDER BY b.last_seen DESC LIMIT $6) END,
	CASE WHEN r.id IS NULL OR NOT $5 THEN '{}' ELSE ARRAY(SELECT b.digest FROM acs_card_browsers b
		WHERE b.card_id = c.id AND b.kind = 'ip' ORDER BY b.last_seen DESC LIMIT $6) END
FROM issuer_cards c
LEFT JOIN registrations r ON r.card_id = c.id AND r.state = 'active'
LEFT JOIN acs_sca_counters s ON s.card_id = c.id
WHERE c.pan_hash = $1`

// readInputs reads the decision's inputs for the card whose lookup hash is panHash. The velocity rule v
// starts its window at now; browsers says whether the known browsers are wanted.
func readInputs(ctx context.Context, pool *pgxpool.Pool, panHash []byte, a *AReq, v Velocity, now time.Time, browsers bool) (*decisionInputs, error) {
	var in decisionInputs
	var c cards.Card
	var method string
	err := pool.QueryRow(ctx, readInputsSQL, panHash, now.Add(-v.Window), a.AcquirerBIN, a.AcquirerMerchantID, browsers, knownDigests,
		v.Count).Scan(
		&c.ID, &c.First6, &c.Last4, &c.PANLength, &c.Scheme, &c.Product, &c.ExpiryMonth, &c.Status,
		&in.regID, &method, &in.locked, &in.recent, &in.whitelisted, &in.scaCount, &in.scaSum, &in.browsers, &in.ips)
	if errors.Is(err, pgx.ErrNoRows) {
		return &in, nil
	}
	if err != nil {
		return nil, err
	}
	in.card, in.method = &c, registration.Method(method)
	return &in, nil
}

// known reports whether digest is among the learned ones.
func known(list [][]byte, digest []byte) bool {
	for _, d := range list {
		if string(d) == string(digest) {
			return true
		}
	}
	return false
}
