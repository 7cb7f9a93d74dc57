// Package sms owns text messages to cardholders: the outbox that state changes write to in their own
// transaction, the dispatcher that delivers from it with bounded retries, the gateways (Kannel's HTTP
// sendsms interface in production, a development inbox locally), and the per-card cost ledger for the
// monthly statement (R-AUTH-9).
//
// The outbox exists so that an mTAN is never "issued but not sent" or "sent but not issued": the row and
// the state change commit together, and delivery happens after. Number and text are encrypted while the
// message waits and wiped when it is final.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/envelope"
	"example.com/acs/store"
)

// Message is one SMS to send.
type Message struct {
	CardID  uuid.UUID
	Purpose string // mtan, number_confirmation, ...
	To      string // E.164, +49...
	Text    string
	Price   decimal.Decimal
	// Currency of Price, ISO 4217.
	Currency string
}

var (
	e164      = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	purposeRE = regexp.MustCompile(`^[a-z_]{1,40}$`)
)

// MaskNumber shows an E.164 number as "+49151*****67": the country and network prefix, the last two.
func MaskNumber(n string) string {
	if len(n) < 8 {
		return strings.Repeat("*", len(n))
	}
	return n[:6] + strings.Repeat("*", len(n)-8) + n[len(n)-2:]
}

// Outbox writes messages to send.
type Outbox struct {
	keys   *envelope.Keyring
	clock  clockwork.Clock
	budget Budget
	// sender sends EnqueueClaimed messages (nil: they are enqueued for the dispatchers' passes).
	sender *Dispatcher
}

// Budget bounds the SMS a card may cause, of every kind together (mTANs, number confirmations,
// step-up codes): every SMS is billed to the cardholder, and without a bound anyone who knows a card
// number could send its holder SMS after SMS (issue 12). The outbox is the ledger the budget is counted
// in, so several processes share it.
type Budget struct {
	PerHour int
	PerDay  int
}

// DefaultBudget is what a cardholder needs on a busy day (a few purchases, a registration, a resend or
// two) and what a bank would rather not bill without asking.
var DefaultBudget = Budget{PerHour: 10, PerDay: 25}

// ErrBudget refuses an SMS past the card's budget.
var ErrBudget = apperr.New(apperr.TooMany, "too many SMS were sent for this card; please try again later or call us")

// NewOutbox returns an Outbox with DefaultBudget.
func NewOutbox(keys *envelope.Keyring, clock clockwork.Clock) *Outbox {
	return &Outbox{keys: keys, clock: clock, budget: DefaultBudget}
}

// WithBudget returns the outbox with budget b (configuration).
func (o *Outbox) WithBudget(b Budget) *Outbox {
	c := *o
	c.budget = b
	return &c
}

// Columns are the encrypted columns of the outbox, for key rotation (acs keys reencrypt).
var Columns = []envelope.Column{
	{Table: "sms_outbox", Column: "to_enc", IDColumn: "id"},
	{Table: "sms_outbox", Column: "body_enc", IDColumn: "id"},
}

func adTo(id uuid.UUID) envelope.AD {
	return envelope.AD{Table: "sms_outbox", Column: "to_enc", Row: id.String()}
}
func adBody(id uuid.UUID) envelope.AD {
	return envelope.AD{Table: "sms_outbox", Column: "body_enc", Row: id.String()}
}

// SendsWith has the outbox's EnqueueClaimed messages sent by d at once after their commit (Send). The
// outbox is changed in place: it is wired before it serves (serve, after the dispatcher exists).
func (o *Outbox) SendsWith(d *Dispatcher) { o.sender = d }

// Claimed is a message EnqueueClaimed queued claimed by this process, for Send after the commit.
type Claimed struct {
	id                uuid.UUID
	to, text, masked  string
	purpose, currency string
	price             decimal.Decimal
}

// Enqueue writes m in the caller's transaction and wakes the dispatchers when it commits.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, m Message) (uuid.UUID, error) {
	return o.enqueue(ctx, tx, m, false)
}

// EnqueueClaimed queues m into the caller's batch b claimed by this process, as a dispatcher's pass
// would claim it: the caller sends b in its transaction with its own statements (issue 13: one round
// trip for the challenge's writes and its mTAN), hands the message to Send once the transaction has
// committed, and it goes to the gateway from there, with no NOTIFY and no statement to claim it (an
// mTAN cost a NOTIFY, a wake-up of every dispatcher and a claim). Where the card's SMS budget applies,
// b's statements so far are sent first with the budget's lock and count (one round trip), and b is
// emptied. Should this process die before it is sent, any dispatcher sends it after the claim's lease.
// Without a dispatcher wired (SendsWith) the message is queued as Enqueue writes it, and the Claimed is
// nil.
func (o *Outbox) EnqueueClaimed(ctx context.Context, tx pgx.Tx, b *pgx.Batch, m Message) (*Claimed, error) {
	claimed := o.sender != nil
	id, err := o.queue(ctx, tx, b, m, claimed)
	if err != nil || !claimed {
		return nil, err
	}
	return &Claimed{id: id, to: m.To, text: m.Text, masked: MaskNumber(m.To), purpose: m.Purpose, currency: m.Currency, price: m.Price}, nil
}

// Send hands a message EnqueueClaimed queued to the dispatcher, after its transaction committed; it
// returns at once (the gateway's answer is not waited for). nil is nothing to send.
func (o *Outbox) Send(ctx context.Context, c *Claimed) {
	if c == nil || o.sender == nil {
		return
	}
	o.sender.sendClaimed(ctx, c)
}

func (o *Outbox) enqueue(ctx context.Context, tx pgx.Tx, m Message, claimed bool) (uuid.UUID, error) {
	b := &pgx.Batch{}
	id, err := o.queue(ctx, tx, b, m, claimed)
	if err != nil {
		return uuid.Nil, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return uuid.Nil, fmt.Errorf("sms: enqueue: %w", err)
	}
	return id, nil
}

// queue checks m and the card's budget (withinBudget) and queues m's insert into b, and, unless claimed,
// the dispatchers' wake-up for when it commits.
func (o *Outbox) queue(ctx context.Context, tx pgx.Tx, b *pgx.Batch, m Message, claimed bool) (uuid.UUID, error) {
	if !e164.MatchString(m.To) {
		return uuid.Nil, apperr.Field("mobile_number", "must be an international number such as +4915112345678")
	}
	if !purposeRE.MatchString(m.Purpose) || m.Text == "" || len(m.Text) > 459 || m.Price.IsNegative() || len(m.Currency) != 3 {
		return uuid.Nil, fmt.Errorf("sms: malformed message (purpose %q)", m.Purpose)
	}
	if m.CardID != uuid.Nil && (o.budget.PerHour > 0 || o.budget.PerDay > 0) {
		if err := o.withinBudget(ctx, tx, b, m.CardID); err != nil {
			return uuid.Nil, err
		}
	}
	id := uuid.New()
	to, err := o.keys.Encrypt(adTo(id), []byte(m.To))
	if err != nil {
		return uuid.Nil, err
	}
	body, err := o.keys.Encrypt(adBody(id), []byte(m.Text))
	if err != nil {
		return uuid.Nil, err
	}
	now := o.clock.Now()
	next := now
	if claimed {
		next = now.Add(lease)
	}
	b.Queue(`INSERT INTO sms_outbox (id, card_id, purpose, to_enc, body_enc, to_masked, price, currency,
		state, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)`,
		id, m.CardID, m.Purpose, to, body, MaskNumber(m.To), m.Price, m.Currency, next, now)
	if !claimed {
		b.Queue(`SELECT pg_notify('sms_outbox', '')`)
	}
	return id, nil
}

// withinBudget refuses a message the card's budget does not allow (ErrBudget). The card's row lock
// serialises the count with the insert, so parallel requests cannot pass the budget together; the count
// is a statement after the lock's, so that it sees what a request that held the lock committed. Both go
// with b's statements so far, in one round trip, and b is emptied.
func (o *Outbox) withinBudget(ctx context.Context, tx pgx.Tx, b *pgx.Batch, cardID uuid.UUID) error {
	before := b.Len()
	now := o.clock.Now()
	b.Queue(`SELECT 1 FROM issuer_cards WHERE id = $1 FOR NO KEY UPDATE`, cardID)
	b.Queue(`SELECT count(*) FILTER (WHERE created_at > $2), count(*) FROM sms_outbox
		WHERE card_id = $1 AND created_at > $3`, cardID, now.Add(-time.Hour), now.Add(-24*time.Hour))
	br := tx.SendBatch(ctx, b)
	defer func() { *b = pgx.Batch{} }() // sent: the caller queues afresh (the results read b until Close)
	if err := store.SkipResults(br, before); err != nil {
		return err
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("sms: lock card: %w", err)
	}
	var hour, day int
	if err := br.QueryRow().Scan(&hour, &day); err != nil {
		_ = br.Close()
		return fmt.Errorf("sms: budget: %w", err)
	}
	if err := br.Close(); err != nil {
		return err
	}
	if (o.budget.PerHour > 0 && hour >= o.budget.PerHour) || (o.budget.PerDay > 0 && day >= o.budget.PerDay) {
		return ErrBudget
	}
	return nil
}

// Gateway delivers one SMS and returns the gateway's reference for it.
type Gateway interface {
	Send(ctx context.Context, to, text string) (ref string, err error)
}

// PermanentError is a gateway refusal that retrying will not cure (a number the gateway rejects).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Dispatcher delivers due messages from the outbox.
type Dispatcher struct {
	Pool    *pgxpool.Pool
	Keys    *envelope.Keyring
	Gateway Gateway
	Clock   clockwork.Clock
	Log     *slog.Logger
	// MaxAttempts before a message is given up as failed; an mTAN older than a few minutes is useless.
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles with each further one.
	Backoff time.Duration
	// Metrics counts the outcomes (nil: not counted).
	Metrics *Metrics

	// inflight are the sends of claimed messages (Outbox.Send) under way; Run waits for them.
	inflight sync.WaitGroup
	// sendSlots bounds the claimed messages sent at once (made on first use).
	slotsOnce sync.Once
	sendSlots chan struct{}
	// sent records messages the gateway took, a few at a time (made on first use).
	sentOnce sync.Once
	sent     *store.Coalescer[sentMessage]
}

// sentMessage is a message the gateway took: when, and its reference.
type sentMessage struct {
	id  uuid.UUID
	at  time.Time
	ref string
}

// sentDelay is how long a sent message waits for others to be recorded with: no one waits for the
// record (the SMS is on its way), and at a few hundred mTANs a second most share a statement and a commit
// (issue 13: each was a statement and a WAL flush of its own).
const sentDelay = 20 * time.Millisecond

// recordSent records m sent, with the others sent meanwhile (store.Coalescer): each row moves only
// from pending, and its number and text are wiped.
func (d *Dispatcher) recordSent(ctx context.Context, m sentMessage) error {
	d.sentOnce.Do(func() {
		d.sent = &store.Coalescer[sentMessage]{Pool: d.Pool, Delay: sentDelay, Max: 100, Statement: func(items []sentMessage) (string, []any) {
			ids, at, refs := make([]uuid.UUID, len(items)), make([]time.Time, len(items)), make([]string, len(items))
			for i, m := range items {
				ids[i], at[i], refs[i] = m.id, m.at, m.ref
			}
			// Joined to the list, as acs.deliveredSQL is (the primary key where many are pending).
			return `UPDATE sms_outbox o SET state = 'sent', sent_at = u.at, gateway_ref = u.ref, attempts = o.attempts + 1,
				to_enc = NULL, body_enc = NULL, last_error = NULL
				FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS u(id, at, ref)
				WHERE o.id = u.id AND o.state = 'pending'`, []any{ids, at, refs}
		}}
	})
	return d.sent.Record(ctx, m)
}

// maxClaimedSends bounds the gateway calls for claimed messages at once; more wait for a slot.
const maxClaimedSends = 32

// sendClaimed sends a claimed message in the background and records the outcome as a pass would.
func (d *Dispatcher) sendClaimed(ctx context.Context, c *Claimed) {
	d.slotsOnce.Do(func() { d.sendSlots = make(chan struct{}, maxClaimedSends) })
	ctx = context.WithoutCancel(ctx) // the request that queued it has answered meanwhile
	d.inflight.Add(1)
	go func() {
		defer d.inflight.Done()
		d.sendSlots <- struct{}{}
		defer func() { <-d.sendSlots }()
		out, err := d.send(ctx, c.id, c.to, c.text, c.masked, 0, d.Clock.Now())
		if err != nil {
			d.Log.ErrorContext(ctx, "sms outcome not recorded; sent again after the lease", "sms_id", c.id, "err", err)
			return
		}
		d.Metrics.delivered(c.purpose, out, c.price, c.currency)
	}()
}

// DispatchOnce sends up to 50 due messages and reports how many were sent and given up. It claims them
// in one statement (moving their next attempt past the send's timeout, SKIP LOCKED keeping processes
// apart), sends them in parallel (at most 8 at once) with no database transaction or lock held, and
// records each outcome in a statement of its own: a slow gateway answer holds up no other message and
// no pool connection (issue 12). The outcome is recorded again while PostgreSQL is away (store.Record:
// a failover), within the claim's lease, so a message the gateway took is not sent again by another
// process (issue 17). A process that dies mid-send leaves the message to another after the lease: SMS
// delivery is at least once.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (sent, failed int, err error) {
	now := d.Clock.Now()
	rows, err := d.Pool.Query(ctx, `UPDATE sms_outbox o SET next_attempt_at = $2
		FROM (SELECT id FROM sms_outbox WHERE state = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED) due
		WHERE o.id = due.id
		RETURNING o.id, o.to_enc, o.body_enc, o.to_masked, o.attempts, o.purpose, o.price, o.currency`, now, now.Add(lease))
	if err != nil {
		return 0, 0, err
	}
	type due struct {
		id       uuid.UUID
		to, body []byte
		masked   string
		attempts int
		purpose  string
		price    decimal.Decimal
		currency string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
		var x due
		return x, r.Scan(&x.id, &x.to, &x.body, &x.masked, &x.attempts, &x.purpose, &x.price, &x.currency)
	})
	if err != nil {
		return 0, 0, err
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, 8)
	)
	for _, m := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, derr := d.deliver(ctx, m.id, m.to, m.body, m.masked, m.attempts, now)
			if derr == nil {
				d.Metrics.delivered(m.purpose, out, m.price, m.currency)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case derr != nil && err == nil:
				err = derr
			case out == delivered && derr == nil:
				sent++
			case out == givenUp && derr == nil:
				failed++
			}
		}()
	}
	wg.Wait()
	return sent, failed, err
}

// sendTimeout bounds one gateway call.
const sendTimeout = 10 * time.Second

// lease is how long a claimed message is left to the process that claimed it: its send, the recording
// of the outcome (store.RecordBudget) and a margin.
const lease = sendTimeout + store.RecordBudget + 10*time.Second

type outcome int

const (
	delivered outcome = iota
	retrying
	givenUp
)

func (d *Dispatcher) deliver(ctx context.Context, id uuid.UUID, toEnc, bodyEnc []byte, masked string, attempts int, now time.Time) (outcome, error) {
	to, err := d.Keys.Decrypt(ctx, adTo(id), toEnc)
	if err != nil {
		return retrying, err
	}
	body, err := d.Keys.Decrypt(ctx, adBody(id), bodyEnc)
	if err != nil {
		return retrying, err
	}
	return d.send(ctx, id, string(to), string(body), masked, attempts, now)
}

// send gives one message to the gateway and records the outcome.
func (d *Dispatcher) send(ctx context.Context, id uuid.UUID, to, body, masked string, attempts int, now time.Time) (outcome, error) {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	ref, sendErr := d.Gateway.Send(sctx, to, body)
	cancel()
	// The outcome is recorded even if the caller's context ended meanwhile, and again while PostgreSQL is
	// away (store.Record): a sent SMS must not be sent again after the lease. Each statement moves the
	// message only from pending, so a repeat of one that took effect changes nothing.
	var err error
	if sendErr == nil {
		err = d.recordSent(ctx, sentMessage{id: id, at: d.Clock.Now(), ref: ref})
		d.Log.InfoContext(ctx, "sms sent", "sms_id", id, "to", masked)
		return delivered, err
	}
	attempts++
	var pe *PermanentError
	permanent := errors.As(sendErr, &pe)
	// Gateway errors are logged and stored by their text, which names the failure, not the message.
	if permanent || attempts >= d.MaxAttempts {
		err = store.Record(ctx, d.Pool, `UPDATE sms_outbox SET state = 'failed', attempts = $2, last_error = $3,
			to_enc = NULL, body_enc = NULL WHERE id = $1 AND state = 'pending'`, id, attempts, truncate(sendErr.Error()))
		d.Log.WarnContext(ctx, "sms given up", "sms_id", id, "to", masked, "attempts", attempts, "err", sendErr)
		return givenUp, err
	}
	wait := d.Backoff << (attempts - 1)
	err = store.Record(ctx, d.Pool, `UPDATE sms_outbox SET attempts = $2, last_error = $3, next_attempt_at = $4
		WHERE id = $1 AND state = 'pending'`, id, attempts, truncate(sendErr.Error()), now.Add(wait))
	d.Log.WarnContext(ctx, "sms delivery failed, will retry", "sms_id", id, "to", masked, "attempts", attempts, "retry_in", wait, "err", sendErr)
	return retrying, err
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// Run dispatches until ctx ends: at once when an Enqueue commits (LISTEN/NOTIFY on a connection of its
// own), and every interval for retries and for notifications missed while reconnecting.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	defer d.inflight.Wait()
	wake := make(chan struct{}, 1)
	go store.Listen(ctx, d.Pool, "sms_outbox", wake)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			sent, _, err := d.DispatchOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.Log.ErrorContext(ctx, "sms dispatch", "err", err)
				}
				break
			}
			if sent < 50 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// LedgerLine is one charged SMS on a card's statement.
type LedgerLine struct {
	ID       uuid.UUID       `json:"id"`
	SentAt   time.Time       `json:"sent_at"`
	Purpose  string          `json:"purpose"`
	ToMasked string          `json:"to"`
	Price    decimal.Decimal `json:"price"`
	Currency string          `json:"currency"`
	// Abuse: support marked it as caused by abuse; the statement does not charge it.
	Abuse bool `json:"abuse"`
}

// Ledger lists the SMS sent for a card in [from, to), for the monthly statement (R-AUTH-9).
func Ledger(ctx context.Context, pool *pgxpool.Pool, cardID uuid.UUID, from, to time.Time) ([]LedgerLine, error) {
	rows, err := pool.Query(ctx, `SELECT id, sent_at, purpose, to_masked, price, currency, abuse_marked_at IS NOT NULL FROM sms_outbox
		WHERE card_id = $1 AND state = 'sent' AND sent_at >= $2 AND sent_at < $3 ORDER BY sent_at`, cardID, from, to)
	if err != nil {
		return nil, fmt.Errorf("sms: ledger: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerLine, error) {
		var l LedgerLine
		return l, r.Scan(&l.ID, &l.SentAt, &l.Purpose, &l.ToMasked, &l.Price, &l.Currency, &l.Abuse)
	})
}
