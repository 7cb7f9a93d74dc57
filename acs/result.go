package acs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/authval"
	"example.com/acs/cards"
	"example.com/acs/dslink"
	"example.com/acs/emv"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

const (
	// CReqTimeout is how long after an ARes C the ACS waits for the browser's first CReq (EMV 3DS
	// 2.2.0, 5.5: 30 seconds); then the transaction ends with RReq N, reason 14, challengeCancel 05.
	CReqTimeout = 30 * time.Second
	// ChallengeTimeout ends a challenge nobody finished, counted from the first CReq (challengeCancel 04).
	ChallengeTimeout = 10 * time.Minute
)

// EMV values for the end of a challenge (2.3.1 Annex A, transStatusReason and challengeCancel; the
// same codes in 2.1.0 and 2.2.0).
const (
	statusReasonAuthFailed    = "01" // card authentication failed
	statusReasonTimedOut      = "14" // transaction timed out at the ACS
	statusReasonMaxChallenges = "19" // exceeds ACS maximum challenges: the tries of a challenge are used up
	cancelByCardholder        = "01" // cardholder selected cancel
	cancelTimedOut            = "04" // timed out at the ACS, other timeouts
	cancelNoCReq              = "05" // timed out at the ACS, first CReq not received
	cancelErroReceivedForCReq = "10" // an Erro answered a CReq the ACS received (a refused browser CReq)
	cancelErroFromSDK         = "09" // the SDK answered a CRes with an Erro (2.3.1)
	cancelSDKTimedOut         = "08" // timed out at the 3DS SDK
)

// Reasons recorded with the end of a challenge.
const (
	ReasonChallengeSucceeded = "challenge_succeeded"
	ReasonChallengeFailed    = "challenge_failed"
	ReasonCancelled          = "cancelled_by_cardholder"
	ReasonNoCReq             = "timeout_no_creq"
	ReasonChallengeTimeout   = "timeout_challenge"
	ReasonCReqRefused        = "creq_refused"
	ReasonDSErro             = "ds_erro"
	ReasonMethodLocked       = "method_locked"
)

// Via is how the cardholder answered a challenge: it decides authenticationMethod (2.3.1) and
// authenticationType (2.1.0, 2.2.0) in the RReq.
type Via string

// The ways a challenge is answered.
const (
	ViaMTAN    Via = "mtan"    // SMS one-time code and security answer
	ViaApp     Via = "app"     // confirmation in the bank's app (out of band), PIN or biometric
	ViaOffline Via = "offline" // the app's offline password, typed into the page
)

// Result is how a challenge ended.
type Result struct {
	Status         string         // Y or N (U for a refused CReq)
	Reason         string         // transStatusReason for N and U
	Cancel         string         // challengeCancel, when the challenge did not run to a decision
	ChallengeState ChallengeState // the acs_challenges state to set if the challenge is still pending
	Why            string         // reason name stored with the transaction
	// Assessed says the ending was itself an assessment of an answer (a right or a wrong entry, an
	// answer in the app): it counts in interactionCounter next to the wrong entries before it.
	Assessed bool
	// Via is the method that answered; empty: the registration's method.
	Via Via
	// Verification is how the bank's app verified the cardholder (PIN or biometric) when Via is the
	// app: the authentication value encodes it.
	Verification Verification
	// Erro, for a refused CReq, is the Erro sent to the 3DS Requestor (RReq challengeErrorReporting).
	Erro *Erro
	// NoRReq: the DS reported an Erro for the transaction, so no RReq is sent for its end (Req 221).
	NoRReq bool
}

var (
	resultSucceeded = Result{Status: "Y", ChallengeState: ChallengeSucceeded, Why: ReasonChallengeSucceeded, Assessed: true}
	resultFailed    = Result{Status: "N", Reason: statusReasonMaxChallenges, ChallengeState: ChallengeFailed, Why: ReasonChallengeFailed}
	resultCancelled = Result{Status: "N", Reason: statusReasonAuthFailed, Cancel: cancelByCardholder, ChallengeState: ChallengeCancelled, Why: ReasonCancelled}
	resultNoCReq    = Result{Status: "N", Reason: statusReasonTimedOut, Cancel: cancelNoCReq, ChallengeState: ChallengeTimedOut, Why: ReasonNoCReq}
	resultTimedOut  = Result{Status: "N", Reason: statusReasonTimedOut, Cancel: cancelTimedOut, ChallengeState: ChallengeTimedOut, Why: ReasonChallengeTimeout}
)

// Final is the stored end of a challenged transaction: what the final CRes says and where it goes.
type Final struct {
	ACSTransID           uuid.UUID
	ThreeDSServerTransID string
	MessageVersion       string
	NotificationURL      string
	TransStatus          string
	TransStatusReason    string
	ChallengeCancel      string
	// Why is the reason name the end was recorded with (challenge_succeeded, identification_failed, ...).
	Why string
	// claimed is the RReq this process queued claimed to deliver at once (endRow.deliverHere): Deliver
	// sends it without claiming it again.
	claimed *dueResult
	// delivered: the DS acknowledged the RReq already (View read it so): Deliver has nothing to do.
	delivered bool
}

// CRes returns the final CRes of f for the browser (2.3.1 Annex A: threeDSServerTransID, acsTransID,
// messageType, messageVersion, transStatus; challengeCompletionInd where the version has it for the
// browser).
func (f *Final) CRes() ([]byte, error) {
	m := emv.NewMessage(emv.TypeCRes, emv.Version(f.MessageVersion))
	m.Channel = emv.BRW
	m.Set("threeDSServerTransID", f.ThreeDSServerTransID)
	m.Set("acsTransID", f.ACSTransID.String())
	if t, _ := emv.TableOf(emv.TypeCRes, m.Version); t.Defines("challengeCompletionInd", emv.BRW) {
		m.Set("challengeCompletionInd", "Y")
	}
	m.Set("transStatus", f.TransStatus)
	return emv.Encode(m)
}

// ResultDeps are what ending transactions and delivering their results need.
type ResultDeps struct {
	Pool  *pgxpool.Pool
	Cards *cards.Directory
	// AV computes the authentication value of a challenge that succeeded.
	AV    *authval.Service
	Clock clockwork.Clock
	Log   *slog.Logger
	// Link reaches the Directory Servers: the RReq goes to the AReq's dsURL when it names a configured
	// DS, else to the card scheme's configured DS (Req 109). nil: results are recorded, not sent.
	Link *dslink.Link
	// MaxAttempts bounds the sends of an RReq whose DS could not be reached; RetryInterval is the wait
	// between them (2.3.1 5.5.2.2: retry every 10 seconds).
	MaxAttempts   int
	RetryInterval time.Duration
	// ReadTimeout is how long the ACS waits for the RRes after sending (Req 241: 5 seconds).
	ReadTimeout time.Duration
	// Whitelist receives merchants the cardholder trusted in a successful challenge; nil: none.
	Whitelist *whitelist.List
	// Metrics counts challenge results; nil: not counted.
	Metrics *Metrics
}

// Results ends challenged transactions exactly once, queues their RReq in the same database
// transaction, delivers queued RReqs to the DS until an RRes acknowledges them, and times out
// challenges that were never started or never finished.
type Results struct {
	d ResultDeps
	// acks records acknowledged RReqs a few at a time (deliveredSQL).
	acks *store.Coalescer[ack]
}

// ack is an RReq the DS acknowledged, and when.
type ack struct {
	id uuid.UUID
	at time.Time
}

// ackDelay is how long an acknowledged RReq waits for others to be recorded with (store.Coalescer):
// the request that delivered it answers that much later at most, and at a few hundred purchases a
// second most of them share a statement and a commit.
const ackDelay = 3 * time.Millisecond

// NewResults returns Results with the specification's timing where d leaves it open.
func NewResults(d ResultDeps) *Results {
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 30
	}
	if d.RetryInterval <= 0 {
		d.RetryInterval = 10 * time.Second
	}
	if d.ReadTimeout <= 0 {
		d.ReadTimeout = 5 * time.Second
	}
	rs := &Results{d: d}
	rs.acks = &store.Coalescer[ack]{Pool: d.Pool, Delay: ackDelay, Max: 100, Statement: func(items []ack) (string, []any) {
		ids, at := make([]uuid.UUID, len(items)), make([]time.Time, len(items))
		for i, a := range items {
			ids[i], at[i] = a.id, a.at
		}
		return deliveredSQL, []any{ids, at}
	}}
	return rs
}

// finishTx ends the challenged transaction id with r unless it has ended already; either way it returns
// the transaction's final state. It is the one place a challenge's result is decided: readEnd's row lock
// makes concurrent completions agree on the first. A step that has read the row already calls end.
func (rs *Results) finishTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, r Result) (*Final, error) {
	e, err := readEnd(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	return rs.end(ctx, tx, e, r)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DSErro takes an Erro the DS sent about one of this ACS's transactions (2.3.1 5.9: the ACS accepts
// Erro, Req 203; for example D/402 when the ARes reached the DS too late). An open challenge that has
// not started ends as timed out without an RReq: the DS has given up on the transaction (Req 221). It
// reports whether the Erro named such a transaction.
func (rs *Results) DSErro(ctx context.Context, e *emv.Message) (bool, error) {
	id, err := uuid.Parse(e.Str("acsTransID"))
	if err != nil {
		return false, nil
	}
	var started bool
	err = rs.d.Pool.QueryRow(ctx, `SELECT creq_at IS NOT NULL FROM acs_transactions
		WHERE acs_trans_id = $1 AND trans_status IN ('C', 'D') AND final_status IS NULL AND lower(ds_trans_id) = lower($2)`,
		id, e.Str("dsTransID")).Scan(&started)
	if errors.Is(err, pgx.ErrNoRows) || started {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r := resultNoCReq
	r.NoRReq, r.Why = true, ReasonDSErro
	_, err = rs.Finish(ctx, id, r)
	return err == nil, err
}

// Finish ends transaction id with r in a transaction of its own (see finishTx).
func (rs *Results) Finish(ctx context.Context, id uuid.UUID, r Result) (*Final, error) {
	var f *Final
	err := store.WithTx(ctx, rs.d.Pool, func(tx pgx.Tx) error {
		var err error
		f, err = rs.finishTx(ctx, tx, id, r)
		return err
	})
	return f, err
}

// sweepBatch is how many timed-out challenges one sweep transaction ends.
const sweepBatch = 100

// Sweep ends transactions whose challenge timed out: no CReq within CReqTimeout after the ARes, or not
// finished within ChallengeTimeout after the CReq. It returns how many it ended. Several processes may
// sweep at once; SKIP LOCKED keeps them apart.
func (rs *Results) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := store.WithTx(ctx, rs.d.Pool, func(tx pgx.Tx) error {
		n = 0
		now := rs.d.Clock.Now()
		// due_at is set by the AReq (CReqTimeout) and moved on by the CReq (ChallengeTimeout); its index
		// holds only open challenges, so a pass reads those that are due and no others.
		rows, err := tx.Query(ctx, `SELECT acs_trans_id, creq_at IS NULL, trans_status = 'D' FROM acs_transactions
			WHERE trans_status IN ('C', 'D') AND final_status IS NULL AND due_at <= $1
			ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, sweepBatch)
		if err != nil {
			return err
		}
		type due struct {
			id                uuid.UUID
			noCReq, decoupled bool
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
			var d due
			return d, r.Scan(&d.id, &d.noCReq, &d.decoupled)
		})
		if err != nil {
			return err
		}
		for _, d := range list {
			r := resultTimedOut
			switch {
			case d.decoupled:
				r = resultDecoupledTimeout
			case d.noCReq:
				r = resultNoCReq
			}
			if _, err := rs.finishTx(ctx, tx, d.id, r); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// SendBudget is how long delivering one RReq can take: the read timeout and a margin for recording.
func (rs *Results) SendBudget() time.Duration { return rs.d.ReadTimeout + 2*time.Second }

// DeliverDue sends the RReqs that are due, up to 20 at once, and returns how many the DS acknowledged.
func (rs *Results) DeliverDue(ctx context.Context) (int, error) {
	return rs.deliver(ctx, uuid.Nil)
}

// lease is how long a claimed RReq is left to the process that claimed it: the send (ReadTimeout), the
// recording of its outcome (recordBudget) and a margin.
func (rs *Results) lease() time.Duration { return rs.d.ReadTimeout + recordBudget + 5*time.Second }

// Deliver sends the RReq of an ended transaction before the browser brings its final CRes: the one f
// holds claimed if it does (no statement to claim it), else as DeliverNow. A failure leaves it queued.
func (rs *Results) Deliver(ctx context.Context, f *Final) error {
	if f.delivered {
		return nil // the app's answer delivered it (AnswerApp): no statement to find that again
	}
	if f.claimed == nil {
		return rs.DeliverNow(ctx, f.ACSTransID)
	}
	d := *f.claimed
	f.claimed = nil // sent once from here; a second call finds it delivered or due in the database
	if rs.d.Link == nil {
		return nil
	}
	_, err := rs.deliverOne(ctx, d)
	return err
}

// DeliverNow tries to deliver the RReq of one transaction at once, so that the DS has the result before
// the browser brings the final CRes (2.3.1 5.8.2: the final CRes follows the RRes). A failure leaves
// the RReq queued for DeliverDue.
func (rs *Results) DeliverNow(ctx context.Context, id uuid.UUID) error {
	_, err := rs.deliver(ctx, id)
	return err
}

type dueResult struct {
	id       uuid.UUID
	target   string
	rreq     []byte
	attempts int
}

// deliverBatch is how many RReqs one delivery pass claims and sends side by side.
const deliverBatch = 20

// deliver claims due RReqs in one short statement, sends them with no database transaction or row lock
// held, and records each outcome in a statement of its own. The claim moves next_attempt_at past the
// send's timeout: a process that dies mid-send leaves the row to another process after that, and two
// processes never send the same row at once.
func (rs *Results) deliver(ctx context.Context, only uuid.UUID) (int, error) {
	if rs.d.Link == nil {
		return 0, nil
	}
	now := rs.d.Clock.Now()
	lease := now.Add(rs.lease())
	rows, err := rs.d.Pool.Query(ctx, `UPDATE acs_results r SET next_attempt_at = $3, attempts = r.attempts + 1
		FROM (SELECT acs_trans_id FROM acs_results
			WHERE state = '`+string(DeliveryPending)+`' AND next_attempt_at <= $1 AND ($2 = '00000000-0000-0000-0000-000000000000'::uuid OR acs_trans_id = $2)
			ORDER BY next_attempt_at LIMIT `+strconv.Itoa(deliverBatch)+` FOR UPDATE SKIP LOCKED) due
		WHERE r.acs_trans_id = due.acs_trans_id
		RETURNING r.acs_trans_id, r.target_url, r.rreq::text, r.attempts`, now, only, lease)
	if err != nil {
		return 0, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dueResult, error) {
		var d dueResult
		var body string
		err := r.Scan(&d.id, &d.target, &body, &d.attempts)
		d.rreq = []byte(body)
		return d, err
	})
	if err != nil {
		return 0, err
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		n  int
		fe error
	)
	for _, d := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := rs.deliverOne(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				n++
			}
			if err != nil && fe == nil {
				fe = err
			}
		}()
	}
	wg.Wait()
	return n, fe
}

// deliverOne sends one claimed RReq and records what became of it. A send once begun runs to its RRes or
// its read timeout even when the caller's context ends meanwhile (a browser gone, a shutdown): cut off, it
// would count as sent but unanswered, never to be sent again (issue 12: seen at SIGTERM under load). The
// outcome is recorded in any case: a send that happened must not be forgotten and sent again after the
// lease.
func (rs *Results) deliverOne(ctx context.Context, d dueResult) (bool, error) {
	ctx = context.WithoutCancel(ctx) // send, record and tell bound themselves
	sendErr := rs.send(ctx, d)
	now := rs.d.Clock.Now()
	var perm *permanentError
	var bad *invalidRRes
	switch {
	case sendErr == nil:
		// With the others acknowledged meanwhile: one statement and one commit for them all (issue 13).
		err := rs.acks.Record(ctx, ack{id: d.id, at: now})
		rs.d.Log.InfoContext(ctx, "rreq delivered", "acs_trans_id", d.id, "attempts", d.attempts)
		return true, err
	case errors.Is(sendErr, dslink.ErrNoAnswer):
		// Sent, but no RRes within the read timeout: the DS may have it, so it is not sent again; the DS
		// is told with Erro 402 (Req 241, 242).
		err := rs.endDelivery(ctx, d.id, DeliveryTimedOut, clip(sendErr.Error()), now)
		rs.d.Log.ErrorContext(ctx, "rreq not answered in time", "acs_trans_id", d.id, "err", sendErr)
		rs.tellTimeout(ctx, d)
		return false, err
	case errors.As(sendErr, &bad):
		// The DS answered, but not with a valid RRes: it has the RReq. The ACS tells it with the Erro
		// (2.3.1 5.9.12) and does not send the RReq again.
		err := rs.endDelivery(ctx, d.id, DeliveryAbandoned, clip(sendErr.Error()), now)
		rs.d.Log.ErrorContext(ctx, "rreq answered with an invalid RRes", "acs_trans_id", d.id, "err", sendErr)
		rs.tell(ctx, d, bad.erro)
		return false, err
	case errors.As(sendErr, &perm) || d.attempts >= rs.d.MaxAttempts:
		err := rs.endDelivery(ctx, d.id, DeliveryAbandoned, clip(sendErr.Error()), now)
		rs.d.Log.ErrorContext(ctx, "rreq given up", "acs_trans_id", d.id, "attempts", d.attempts, "err", sendErr)
		return false, err
	default:
		// Not delivered (no connection, HTTP error, a transient Erro): sent again at once after the first
		// failure, then at the specification's interval (2.3.1 5.5.2.2).
		next := now.Add(rs.d.RetryInterval)
		if d.attempts == 1 {
			next = now
		}
		err := rs.record(ctx, `UPDATE acs_results SET last_error = $2, next_attempt_at = $3 WHERE acs_trans_id = $1
			AND state = '`+string(DeliveryPending)+`'`,
			d.id, clip(sendErr.Error()), next)
		rs.d.Log.WarnContext(ctx, "rreq not acknowledged, will retry", "acs_trans_id", d.id, "attempts", d.attempts,
			"retry_in", rs.d.RetryInterval, "err", sendErr)
		return false, err
	}
}

// endDelivery records a delivery's end (endDeliverySQL), with record's retries.
func (rs *Results) endDelivery(ctx context.Context, id uuid.UUID, to DeliveryState, lastErr string, now time.Time) error {
	args, err := deliveryEndArgs(id, to, lastErr, now)
	if err != nil {
		return err
	}
	return rs.record(ctx, endDeliverySQL, args...)
}

// recordBudget bounds how long the outcome of a send is retried while PostgreSQL is away (a restart, a
// failover); the claim's lease outlasts it, so no delivery sends the RReq again meanwhile.
const recordBudget = store.RecordBudget

// record runs the statement that records a send's outcome through store.Record (again while it fails,
// for up to recordBudget): an outcome left unrecorded has the RReq sent a second time once the lease
// has passed (issue 12: RReqs the DS had acknowledged reached it twice when PostgreSQL restarted between
// the RRes and the record). The statements are guarded by state = 'pending', so one that took effect
// before its answer was lost changes nothing when repeated.
func (rs *Results) record(ctx context.Context, sql string, args ...any) error {
	return store.Record(ctx, rs.d.Pool, sql, args...)
}

// permanentError is an answer that retrying cannot change: the DS refused the RReq with Erro.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// invalidRRes is an answer that is no valid RRes for the RReq: erro is what the ACS tells the DS.
type invalidRRes struct{ erro *Erro }

func (e *invalidRRes) Error() string {
	return "DS answered an invalid RRes: Erro " + e.erro.ErrorCode + " " + e.erro.ErrorDetail
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// send posts one RReq (X-Request-ID: acsTransID, Table A.29) and checks the RRes that acknowledges it
// against its element table.
func (rs *Results) send(ctx context.Context, d dueResult) error {
	sctx, cancel := context.WithTimeout(ctx, rs.d.ReadTimeout)
	defer cancel()
	var head struct {
		Version string `json:"messageVersion"`
	}
	_ = json.Unmarshal(d.rreq, &head)
	resp, err := rs.d.Link.Post(sctx, d.target, d.rreq, map[string]string{"X-Request-ID": d.id.String()})
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return fmt.Errorf("DS answered HTTP %d", resp.Status)
	}
	var mt struct {
		MessageType string `json:"messageType"`
	}
	_ = json.Unmarshal(resp.Body, &mt)
	if mt.MessageType == string(emv.TypeErro) {
		var e Erro
		_ = json.Unmarshal(resp.Body, &e)
		msg := fmt.Sprintf("DS refused the RReq: Erro %s %s", clip(e.ErrorCode), clip(e.ErrorDetail))
		if e.ErrorCode == emv.ErrTransientFailure || e.ErrorCode == emv.ErrSystemConnection {
			return errors.New(msg) // the DS or the 3DS Server behind it is down for now: sent again
		}
		return &permanentError{msg}
	}
	m, erro := emv.Decode(resp.Body, emv.TypeRRes, emv.Context{Version: emv.Version(head.Version)})
	ids := rreqIDs(d.rreq)
	if erro != nil {
		return &invalidRRes{erro.Echo(ids)}
	}
	// The answer's ids must be the RReq's (Req 212).
	for _, name := range []string{"acsTransID", "threeDSServerTransID", "dsTransID"} {
		if !strings.EqualFold(m.Str(name), ids.Str(name)) {
			return &invalidRRes{newErro(emv.ErrTransactionUnknown, name, m.Version, emv.TypeRRes).Echo(ids)}
		}
	}
	return nil
}

// rreqIDs reads the ids and version of a stored RReq (an Erro about its answer echoes them).
func rreqIDs(rreq []byte) *emv.Message {
	var ids struct {
		Version string `json:"messageVersion"`
		Server  string `json:"threeDSServerTransID"`
		ACS     string `json:"acsTransID"`
		DSTrans string `json:"dsTransID"`
	}
	_ = json.Unmarshal(rreq, &ids)
	m := emv.NewMessage(emv.TypeRReq, emv.Version(ids.Version))
	m.Set("threeDSServerTransID", ids.Server)
	m.Set("acsTransID", ids.ACS)
	m.Set("dsTransID", ids.DSTrans)
	return m
}

// tellTimeout sends the DS Erro 402 for an RReq it did not answer in time (Req 242).
func (rs *Results) tellTimeout(ctx context.Context, d dueResult) {
	ids := rreqIDs(d.rreq)
	rs.tell(ctx, d, newErro(emv.ErrTimedOut, "RRes not received", ids.Version, emv.TypeRRes).Echo(ids))
}

// tell sends the DS an Erro about its answer to an RReq; best effort, a failure is logged.
func (rs *Results) tell(ctx context.Context, d dueResult, e *Erro) {
	sctx, cancel := context.WithTimeout(ctx, rs.d.ReadTimeout)
	defer cancel()
	if _, err := rs.d.Link.Post(sctx, d.target, emv.EncodeErro(e), map[string]string{"X-Request-ID": d.id.String()}); err != nil {
		rs.d.Log.WarnContext(ctx, "erro to the DS not delivered", "acs_trans_id", d.id, "error_code", e.ErrorCode, "err", err)
	}
}

// Run sweeps timeouts and delivers RReqs until ctx ends: every interval, and deliveries at once after a
// sweep ended transactions. A request that ends a challenge delivers its RReq itself (DeliverNow), so
// results need no NOTIFY (issue 13: it woke every process's delivery pass for each ended challenge, to
// find nothing); a result a process left behind (it died mid-delivery, or the DS was away) is due
// again to every process's next pass. The sweep runs on its own: a slow DS holds up the deliveries of
// its results, never the end of another transaction's challenge (issue 12).
func (rs *Results) Run(ctx context.Context, interval time.Duration) {
	wake := make(chan struct{}, 1)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			n, err := rs.Sweep(ctx)
			if err != nil && ctx.Err() == nil {
				rs.d.Log.ErrorContext(ctx, "challenge timeout sweep", "err", err)
			}
			if n > 0 {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			if n == sweepBatch && ctx.Err() == nil {
				continue // more are due: a backlog is ended at once, not 100 a second
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { <-swept }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := rs.DeliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			rs.d.Log.ErrorContext(ctx, "rreq delivery", "err", err)
		}
		if n == deliverBatch && ctx.Err() == nil {
			// A full batch went through: more may wait (a burst of timeouts). They go now, not 20 a
			// second (issue 13); a batch with a failure waits for the next tick, so a DS that is down is
			// not hammered.
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}
