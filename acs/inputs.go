package acs

import (
	"context"
	"errors"
	"strconv"
	"sync"
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
	// alwaysConfirm: the cardholder chose that every purchase is challenged (R-X-1).
	alwaysConfirm bool
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
// the rule's threshold, so a card's busy history costs no more than that.
//
// The statement's text is made per configuration (velocity rule on or off, learned browsers wanted or
// not) with the limits written in as numbers, not sent as parameters: PostgreSQL plans a prepared
// statement afresh at every call while a parameter can fold a branch away or change a LIMIT's estimate
// (its custom plans then look cheaper than the generic one), and planning this statement cost 0.34 ms,
// ten times its execution (pg_stat_statements.track_planning in make bench). Without such parameters the
// generic plan is kept per connection. Parameters: $1 the lookup hash, $2 and $3 the acquirer's BIN and
// merchant id, $4 the velocity window's start (only when the rule is on).
func inputsSQL(velocityCount int, browsers bool) string {
	key := inputsVariant{velocityCount, browsers}
	if q, ok := inputsSQLs.Load(key); ok {
		return q.(string)
	}
	q := buildInputsSQL(velocityCount, browsers)
	inputsSQLs.Store(key, q)
	return q
}

// inputsVariant names one text of the read; inputsSQLs keeps each text made (a handful per process).
type inputsVariant struct {
	velocityCount int
	browsers      bool
}

var inputsSQLs sync.Map

func buildInputsSQL(velocityCount int, browsers bool) string {
	velocity := "0"
	if velocityCount > 0 {
		velocity = `CASE WHEN r.id IS NULL THEN 0 ELSE (SELECT count(*) FROM
		(SELECT 1 FROM acs_transactions t WHERE t.card_id = c.id AND t.created_at > $4 LIMIT ` + strconv.Itoa(velocityCount) + `) v) END`
	}
	digests := func(kind string) string {
		if !browsers {
			return "'{}'::bytea[]"
		}
		return `CASE WHEN r.id IS NULL THEN '{}' ELSE ARRAY(SELECT b.digest FROM acs_card_browsers b
		WHERE b.card_id = c.id AND b.kind = '` + kind + `' ORDER BY b.last_seen DESC LIMIT ` + strconv.Itoa(knownDigests) + `) END`
	}
	return `SELECT c.id, c.pan_first6, c.pan_last4, c.pan_length, c.scheme, c.product, c.expiry_month, c.status,
	r.id, coalesce(r.method, ''), r.locked_at IS NOT NULL, coalesce(r.security_level = '` + string(registration.AlwaysConfirm) + `', false),
	` + velocity + `,
	CASE WHEN r.id IS NULL THEN false ELSE EXISTS (SELECT 1 FROM whitelist_entries w
		WHERE w.card_id = c.id AND w.acquirer_bin = $2 AND w.acquirer_merchant_id = $3 AND w.removed_at IS NULL) END,
	coalesce(s.count, 0), coalesce(s.cumulative, 0),
	` + digests("browser") + `,
	` + digests("ip") + `
FROM issuer_cards c
LEFT JOIN registrations r ON r.card_id = c.id AND r.state = 'active'
LEFT JOIN acs_sca_counters s ON s.card_id = c.id
WHERE c.pan_hash = $1`
}

// readInputs reads the decision's inputs for the card whose lookup hash is panHash. The velocity rule v
// starts its window at now; browsers says whether the known browsers are wanted.
func readInputs(ctx context.Context, pool *pgxpool.Pool, panHash []byte, a *AReq, v Velocity, now time.Time, browsers bool) (*decisionInputs, error) {
	var in decisionInputs
	var c cards.Card
	var method string
	args := []any{panHash, a.AcquirerBIN, a.AcquirerMerchantID}
	if v.Count > 0 {
		args = append(args, now.Add(-v.Window))
	}
	err := pool.QueryRow(ctx, inputsSQL(v.Count, browsers), args...).Scan(
		&c.ID, &c.First6, &c.Last4, &c.PANLength, &c.Scheme, &c.Product, &c.ExpiryMonth, &c.Status,
		&in.regID, &method, &in.locked, &in.alwaysConfirm, &in.recent, &in.whitelisted, &in.scaCount, &in.scaSum, &in.browsers, &in.ips)
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
