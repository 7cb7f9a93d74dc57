package acs

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	// refused: the read stored the transaction as refused N/13 (refusingSQL).
	refused bool
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
func inputsSQL(velocityCount int, browsers, refuse bool) string {
	key := inputsVariant{velocityCount, browsers, refuse}
	if q, ok := inputsSQLs.Load(key); ok {
		return q.(string)
	}
	q := buildInputsSQL(velocityCount, browsers)
	if refuse {
		q = refusingSQL(q, velocityCount > 0)
	}
	inputsSQLs.Store(key, q)
	return q
}

// inputsVariant names one text of the read; inputsSQLs keeps each text made (a handful per process).
type inputsVariant struct {
	velocityCount int
	browsers      bool
	// refuse: the read also stores the AReq's refusal where the card is usable and not registered
	// (refusingSQL).
	refuse bool
}

// refusingSQL makes the read q also store the transaction of an AReq whose card has no active
// registration, is active and not expired: the answer N with transStatusReason 13 (not enrolled),
// which the decision gives such a card in every configuration where Decide asks for it (refusesHere).
// The not-registered AReq is then one statement instead of two (issue 13). The transaction's values are
// insertTx's, numbered after the read's parameters ($4 or $5 onward), with the card's id from the read
// and no registration; the predicate's last parameter is the first day of the current month (UTC): a
// card's expiry_month is the first day of its last valid month (cards.Card.Expired). The last column
// reports whether the row was stored.
func refusingSQL(q string, velocity bool) string {
	shift := 3
	if velocity {
		shift = 4
	}
	values := placeholder.ReplaceAllStringFunc(txValues, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		switch {
		case n == 5:
			return "i.card_id"
		case n == 6:
			return "NULL::uuid"
		case n > 6:
			n -= 2 // the card and the registration are not sent (refusalArgs)
		}
		return "$" + strconv.Itoa(n+shift)
	})
	return `WITH i AS (` + q + `),
	stored AS (INSERT INTO acs_transactions (` + txColumns + `) SELECT ` + values + ` FROM i
		WHERE i.reg_id IS NULL AND i.status = '` + string(cards.Active) + `' AND i.expiry_month >= $` + strconv.Itoa(shift+txParams-2+1) + `
		RETURNING 1)
	SELECT i.*, EXISTS (SELECT 1 FROM stored) FROM i`
}

// placeholder is a statement parameter ($n).
var placeholder = regexp.MustCompile(`\$[0-9]+`)

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
	return `SELECT c.id AS card_id, c.pan_first6, c.pan_last4, c.pan_length, c.scheme, c.product, c.expiry_month, c.status,
	r.id AS reg_id, coalesce(r.method, ''), r.locked_at IS NOT NULL, coalesce(r.security_level = '` + string(registration.AlwaysConfirm) + `', false),
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
// starts its window at now; browsers says whether the known browsers are wanted. refusal, when not nil,
// holds insertTx's arguments of the AReq answered N/13 (refusalArgs): the read stores it where the card turns out
// usable and not registered (refusingSQL), and in.refused reports that it did.
func readInputs(ctx context.Context, db single, panHash []byte, a *AReq, v Velocity, now time.Time, browsers bool,
	refusal []any) (*decisionInputs, error) {
	var in decisionInputs
	var c cards.Card
	var method string
	args := []any{panHash, a.AcquirerBIN, a.AcquirerMerchantID}
	if v.Count > 0 {
		args = append(args, now.Add(-v.Window))
	}
	dest := []any{&c.ID, &c.First6, &c.Last4, &c.PANLength, &c.Scheme, &c.Product, &c.ExpiryMonth, &c.Status,
		&in.regID, &method, &in.locked, &in.alwaysConfirm, &in.recent, &in.whitelisted, &in.scaCount, &in.scaSum, &in.browsers, &in.ips}
	if refusal != nil {
		utc := now.UTC()
		args = append(append(args, refusal...), time.Date(utc.Year(), utc.Month(), 1, 0, 0, 0, 0, time.UTC))
		dest = append(dest, &in.refused)
	}
	err := db.QueryRow(ctx, inputsSQL(v.Count, browsers, refusal != nil), args...).Scan(dest...)
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
