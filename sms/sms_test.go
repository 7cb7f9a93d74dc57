package sms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/envelope"
	"example.com/acs/internal/testenv"
	"example.com/acs/sms"
	"example.com/acs/store"
)

const number = "+4915112345678"

type fixture struct {
	pool   *pgxpool.Pool
	keys   *envelope.Keyring
	clock  *clockwork.FakeClock
	outbox *sms.Outbox
	card   uuid.UUID
	logs   *bytes.Buffer
	log    *slog.Logger
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := testenv.DB(t)
	keys, err := envelope.Open(ctx, pool, testenv.HSM(t).KEK(), "pii")
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{pool: pool, keys: keys, clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)),
		card: uuid.New(), logs: &bytes.Buffer{}}
	fx.log = slog.New(slog.NewJSONHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The dispatcher's tests send hundreds of SMS for one card: no budget here (TestBudget has one).
	fx.outbox = sms.NewOutbox(keys, fx.clock).WithBudget(sms.Budget{})
	// A minimal card row: the outbox references the directory.
	if _, err := pool.Exec(ctx, `INSERT INTO issuer_cards (id, pan_hash, pan_enc, pan_first6, pan_last4, pan_length, scheme,
		product, expiry_month, status, holder_enc) VALUES ($1, $2, '\x00', '400011', '0017', 16, 'visa', 'credit', '2030-01-01', 'active', '\x00')`,
		fx.card, bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) enqueue(t *testing.T, text string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	err := store.WithTx(context.Background(), fx.pool, func(tx pgx.Tx) error {
		var err error
		id, err = fx.outbox.Enqueue(context.Background(), tx, sms.Message{CardID: fx.card, Purpose: "mtan", To: number,
			Text: text, Price: decimal.RequireFromString("0.09"), Currency: "EUR"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (fx *fixture) dispatcher(gw sms.Gateway) *sms.Dispatcher {
	return &sms.Dispatcher{Pool: fx.pool, Keys: fx.keys, Gateway: gw, Clock: fx.clock, Log: fx.log, MaxAttempts: 3, Backoff: 5 * time.Second}
}

func state(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) (st string, wiped bool) {
	t.Helper()
	if err := pool.QueryRow(context.Background(), `SELECT state, to_enc IS NULL AND body_enc IS NULL FROM sms_outbox WHERE id = $1`, id).Scan(&st, &wiped); err != nil {
		t.Fatal(err)
	}
	return st, wiped
}

// R-AUTH-9: a sent SMS lands on the card's cost ledger; number and text are gone from the outbox.
func TestDeliverThroughDevInboxAndLedger(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	text := "mTAN 483920 für 49,90 EUR bei Beispiel-Shop"
	id := fx.enqueue(t, text)

	var dump string
	if err := fx.pool.QueryRow(ctx, `SELECT row_to_json(s)::text FROM sms_outbox s WHERE id = $1`, id).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, "15112345678") || strings.Contains(dump, "483920") {
		t.Fatalf("outbox holds number or text in clear: %s", dump)
	}

	sent, failed, err := fx.dispatcher(&sms.DevInbox{Pool: fx.pool, Clock: fx.clock}).DispatchOnce(ctx)
	if err != nil || sent != 1 || failed != 0 {
		t.Fatalf("dispatch: %d %d %v", sent, failed, err)
	}
	if st, wiped := state(t, fx.pool, id); st != "sent" || !wiped {
		t.Fatalf("after sending: %s wiped=%v", st, wiped)
	}
	var to, body string
	if err := fx.pool.QueryRow(ctx, `SELECT to_masked, body FROM dev_sms_inbox`).Scan(&to, &body); err != nil {
		t.Fatal(err)
	}
	if to != "+49151******78" || body != text {
		t.Fatalf("inbox: %q %q", to, body)
	}
	lines, err := sms.Ledger(ctx, fx.pool, fx.card, fx.clock.Now().Add(-time.Hour), fx.clock.Now().Add(time.Hour))
	if err != nil || len(lines) != 1 || !lines[0].Price.Equal(decimal.RequireFromString("0.09")) || lines[0].Purpose != "mtan" {
		t.Fatalf("ledger: %+v %v", lines, err)
	}
	if sent, _, _ := fx.dispatcher(&sms.DevInbox{Pool: fx.pool, Clock: fx.clock}).DispatchOnce(ctx); sent != 0 {
		t.Fatal("sent twice")
	}
	e := echo.New()
	e.GET("/dev/sms", (&sms.DevInbox{Pool: fx.pool, Clock: fx.clock}).Handler)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/dev/sms", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "483920") || !strings.Contains(rec.Body.String(), "49151******78") {
		t.Fatalf("inbox page: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(fx.logs.String(), "15112345678") || strings.Contains(fx.logs.String(), "483920") {
		t.Fatal("logs hold the number or the text")
	}
}

func TestRolledBackStateChangeSendsNothing(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	boom := errors.New("state change failed")
	err := store.WithTx(ctx, fx.pool, func(tx pgx.Tx) error {
		if _, err := fx.outbox.Enqueue(ctx, tx, sms.Message{CardID: fx.card, Purpose: "mtan", To: number, Text: "x",
			Price: decimal.Zero, Currency: "EUR"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if sent, _, _ := fx.dispatcher(&sms.DevInbox{Pool: fx.pool, Clock: fx.clock}).DispatchOnce(ctx); sent != 0 {
		t.Fatal("a rolled-back message was sent")
	}
}

func TestEnqueueRefusesBadNumbers(t *testing.T) {
	fx := newFixture(t)
	for _, n := range []string{"015112345678", "+49 151 12345678", "+0151123456", "+49151", "", "+4915112345678901234"} {
		err := store.WithTx(context.Background(), fx.pool, func(tx pgx.Tx) error {
			_, err := fx.outbox.Enqueue(context.Background(), tx, sms.Message{CardID: fx.card, Purpose: "mtan", To: n, Text: "x", Currency: "EUR"})
			return err
		})
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Fields["mobile_number"] == "" {
			t.Errorf("%q: got %v, want a field error on mobile_number", n, err)
		}
	}
}

type flaky struct {
	mu    sync.Mutex
	fails int
	err   error
	calls int
}

func (f *flaky) Send(context.Context, string, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fails {
		return "", f.err
	}
	return "ref", nil
}

// A gateway that is briefly down loses nothing: retries with doubling back-off, bounded in count.
func TestRetriesWithBackoff(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	id := fx.enqueue(t, "hello")
	gw := &flaky{fails: 2, err: errors.New("connection refused")}
	d := fx.dispatcher(gw)
	if sent, _, err := d.DispatchOnce(ctx); sent != 0 || err != nil {
		t.Fatalf("first try: %d %v", sent, err)
	}
	if sent, _, _ := d.DispatchOnce(ctx); sent != 0 || gw.calls != 1 {
		t.Fatalf("retried before the back-off: calls %d", gw.calls)
	}
	fx.clock.Advance(5 * time.Second)
	if sent, _, _ := d.DispatchOnce(ctx); sent != 0 || gw.calls != 2 {
		t.Fatalf("second try: calls %d", gw.calls)
	}
	fx.clock.Advance(9 * time.Second) // back-off doubled to 10 s
	if sent, _, _ := d.DispatchOnce(ctx); sent != 0 || gw.calls != 2 {
		t.Fatalf("back-off did not double: calls %d", gw.calls)
	}
	fx.clock.Advance(time.Second)
	if sent, _, _ := d.DispatchOnce(ctx); sent != 1 {
		t.Fatal("third try not sent")
	}
	if st, _ := state(t, fx.pool, id); st != "sent" {
		t.Fatal(st)
	}
}

func TestGivesUp(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	permanent := fx.enqueue(t, "a")
	d := fx.dispatcher(&flaky{fails: 99, err: &sms.PermanentError{Err: errors.New("kannel: 403 number barred")}})
	if _, failed, _ := d.DispatchOnce(ctx); failed != 1 {
		t.Fatal("permanent refusal not given up")
	}
	if st, wiped := state(t, fx.pool, permanent); st != "failed" || !wiped {
		t.Fatalf("%s wiped=%v", st, wiped)
	}
	transient := fx.enqueue(t, "b")
	d = fx.dispatcher(&flaky{fails: 99, err: errors.New("timeout")})
	for i := 0; i < 3; i++ {
		_, _, _ = d.DispatchOnce(ctx)
		fx.clock.Advance(time.Minute)
	}
	if st, wiped := state(t, fx.pool, transient); st != "failed" || !wiped {
		t.Fatalf("after max attempts: %s wiped=%v", st, wiped)
	}
	lines, _ := sms.Ledger(ctx, fx.pool, fx.card, time.Time{}, fx.clock.Now().Add(time.Hour))
	if len(lines) != 0 {
		t.Fatal("an undelivered SMS was charged")
	}
}

type counting struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *counting) Send(_ context.Context, _, text string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[text]++
	return "ok", nil
}

// Several dispatchers (processes) side by side send each message exactly once.
func TestConcurrentDispatchersSendOnce(t *testing.T) {
	fx := newFixture(t)
	for i := 0; i < 120; i++ {
		fx.enqueue(t, fmt.Sprint("message ", i))
	}
	gw := &counting{seen: map[string]int{}}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fx.dispatcher(gw)
			for {
				sent, _, err := d.DispatchOnce(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if sent == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(gw.seen) != 120 {
		t.Fatalf("%d distinct messages sent", len(gw.seen))
	}
	for text, n := range gw.seen {
		if n != 1 {
			t.Fatalf("%q sent %d times", text, n)
		}
	}
}

// Run wakes on the commit's notification, not on its (here: hour-long) timer.
func TestRunWakesOnNotify(t *testing.T) {
	fx := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gw := &counting{seen: map[string]int{}}
	done := make(chan struct{})
	go func() { fx.dispatcher(gw).Run(ctx, time.Hour); close(done) }()
	// Wait until the dispatcher's connection listens; a notification sent before that is not delivered.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		_ = fx.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN "sms_outbox"'`).Scan(&n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher did not LISTEN")
		}
	}
	fx.enqueue(t, "wake up")
	deadline := time.Now().Add(5 * time.Second)
	for {
		gw.mu.Lock()
		n := gw.seen["wake up"]
		gw.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not sent within 5 s of the commit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestKannelClient(t *testing.T) {
	var got *http.Request
	status, answer := http.StatusAccepted, "0: Accepted for delivery"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(status)
		fmt.Fprint(w, answer)
	}))
	defer srv.Close()
	k := &sms.Kannel{URL: srv.URL + "/cgi-bin/sendsms", Username: "acs", Password: "s3cret", From: "Musterbank"}
	ref, err := k.Send(context.Background(), number, "mTAN 483920 für 49,90 EUR")
	if err != nil || ref != "0: Accepted for delivery" {
		t.Fatalf("%q %v", ref, err)
	}
	q := got.URL.Query()
	if got.URL.Path != "/cgi-bin/sendsms" || q.Get("to") != "004915112345678" || q.Get("text") != "mTAN 483920 für 49,90 EUR" ||
		q.Get("username") != "acs" || q.Get("password") != "s3cret" || q.Get("from") != "Musterbank" || q.Get("charset") != "UTF-8" {
		t.Fatalf("request: %s", got.URL)
	}
	status, answer = http.StatusForbidden, "Authorization failed for sendsms"
	_, err = k.Send(context.Background(), number, "x")
	var pe *sms.PermanentError
	if !errors.As(err, &pe) {
		t.Fatalf("403: %v", err)
	}
	status, answer = http.StatusServiceUnavailable, "Queue full"
	if _, err = k.Send(context.Background(), number, "x"); err == nil || errors.As(err, &pe) {
		t.Fatalf("503 must be retried: %v", err)
	}
	srv.Close()
	_, err = k.Send(context.Background(), number, "mTAN 483920")
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "483920") || strings.Contains(err.Error(), "15112345678") {
		t.Fatalf("gateway down: %v", err)
	}
}

// Issue 12: a card's SMS of every kind are bounded per hour and day, counted in the outbox (shared by
// every process); the refused one is not queued, so it is neither sent nor billed.
func TestBudget(t *testing.T) {
	fx := newFixture(t)
	fx.outbox = fx.outbox.WithBudget(sms.Budget{PerHour: 3, PerDay: 4})
	ctx := context.Background()
	send := func() error {
		tx, err := fx.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = fx.outbox.Enqueue(ctx, tx, sms.Message{CardID: fx.card, Purpose: "mtan", To: "+4915112345678", Text: "x",
			Price: decimal.RequireFromString("0.09"), Currency: "EUR"})
		if err == nil {
			err = tx.Commit(ctx)
		}
		return err
	}
	for i := 0; i < 3; i++ {
		if err := send(); err != nil {
			t.Fatalf("SMS %d: %v", i, err)
		}
	}
	if err := send(); !errors.Is(err, sms.ErrBudget) {
		t.Fatalf("the fourth within the hour: %v", err)
	}
	fx.clock.Advance(61 * time.Minute)
	if err := send(); err != nil {
		t.Fatalf("the next hour: %v", err)
	}
	if err := send(); !errors.Is(err, sms.ErrBudget) {
		t.Fatalf("the fifth within the day: %v", err)
	}
	var queued int
	_ = fx.pool.QueryRow(ctx, `SELECT count(*) FROM sms_outbox WHERE card_id = $1`, fx.card).Scan(&queued)
	if queued != 4 {
		t.Fatalf("%d queued", queued)
	}
}

// barrier answers only once n sends are in flight at the same time.
type barrier struct {
	n     int
	mu    sync.Mutex
	in    int
	open  chan struct{}
	check func() // run when the n-th send arrives, before any is answered
}

func (b *barrier) Send(ctx context.Context, _, _ string) (string, error) {
	b.mu.Lock()
	b.in++
	if b.in == b.n {
		if b.check != nil {
			b.check()
		}
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		return "ok", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Issue 12: messages are sent side by side with no transaction open, so one slow gateway answer holds
// up no other message: eight sends are in flight at once (the gateway answers only then), and while
// they wait no session of the pool is inside a transaction.
func TestDispatchSendsInParallelOutsideTransactions(t *testing.T) {
	fx := newFixture(t)
	for i := 0; i < 8; i++ {
		fx.enqueue(t, fmt.Sprint("message ", i))
	}
	idleInTx := -1
	b := &barrier{n: 8, open: make(chan struct{}), check: func() {
		_ = fx.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&idleInTx)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sent, _, err := fx.dispatcher(b).DispatchOnce(ctx)
	if err != nil || sent != 8 {
		t.Fatalf("sent %d, %v (sent one after another?)", sent, err)
	}
	if idleInTx != 0 {
		t.Fatalf("%d sessions held a transaction open while sending", idleInTx)
	}
}

// failoverGateway takes every message, and makes PostgreSQL refuse the outbox's updates (as a database
// with no primary refuses writes) for a while after each: the failover between the gateway's acceptance
// and the record of it (issue 17, make chaos).
type failoverGateway struct {
	pool  *pgxpool.Pool
	away  time.Duration
	mu    sync.Mutex
	calls int
}

func (g *failoverGateway) Send(ctx context.Context, to, text string) (string, error) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	if _, err := g.pool.Exec(ctx, `INSERT INTO sms_refuse VALUES (1)`); err != nil {
		return "", err
	}
	go func() {
		time.Sleep(g.away)
		_, _ = g.pool.Exec(context.Background(), `DELETE FROM sms_refuse`)
	}()
	return "ref-1", nil
}

// R-AUTH-9 (the SMS outbox): a message the gateway took while PostgreSQL went away is recorded as sent once it is back (the
// record is repeated, store.Record), and is not sent a second time after the claim's lease: issue 17's
// chaos run saw one purchase get its mTAN twice when the primary died between the send and the record.
func TestSentIsRecordedOnceTheDatabaseIsBack(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if _, err := fx.pool.Exec(ctx, `CREATE TABLE sms_refuse (x int);
		CREATE FUNCTION sms_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF EXISTS (SELECT 1 FROM sms_refuse) THEN
				RAISE EXCEPTION 'cannot execute UPDATE in a read-only transaction' USING ERRCODE = '25006';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER sms_refuse BEFORE UPDATE ON sms_outbox FOR EACH ROW EXECUTE FUNCTION sms_refuse()`); err != nil {
		t.Fatal(err)
	}
	id := fx.enqueue(t, "mTAN 271828 für 49,90 EUR bei Beispiel-Shop")
	gw := &failoverGateway{pool: fx.pool, away: 700 * time.Millisecond}
	d := fx.dispatcher(gw)
	began := time.Now()
	sent, failed, err := d.DispatchOnce(ctx)
	if err != nil || sent != 1 || failed != 0 {
		t.Fatalf("dispatch: sent %d, failed %d, %v", sent, failed, err)
	}
	if took := time.Since(began); took < gw.away {
		t.Fatalf("the record took %s: the refusal was not met", took)
	}
	if st, wiped := state(t, fx.pool, id); st != "sent" || !wiped {
		t.Fatalf("after the database came back: %s, wiped %v", st, wiped)
	}
	// Long past the lease: nothing is due again.
	fx.clock.Advance(time.Hour)
	if sent, _, err := d.DispatchOnce(ctx); sent != 0 || err != nil {
		t.Fatalf("after the lease: sent %d more (%v)", sent, err)
	}
	if gw.calls != 1 {
		t.Fatalf("the gateway got the message %d times", gw.calls)
	}
}

// claim queues one message with EnqueueClaimed in a committed transaction.
func (fx *fixture) claim(t *testing.T, outbox *sms.Outbox, text string) *sms.Claimed {
	t.Helper()
	var c *sms.Claimed
	if err := store.WithTx(context.Background(), fx.pool, func(tx pgx.Tx) error {
		var err error
		b := &pgx.Batch{}
		b.Queue(`SELECT 1`) // the caller's own statement, sent with the message's
		if c, err = outbox.EnqueueClaimed(context.Background(), tx, b, sms.Message{CardID: fx.card, Purpose: "mtan", To: number,
			Text: text, Price: decimal.RequireFromString("0.09"), Currency: "EUR"}); err != nil {
			return err
		}
		return tx.SendBatch(context.Background(), b).Close()
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue 13, R-AUTH-9: an mTAN queued claimed goes to the gateway from the process that queued it, once,
// and is recorded sent; the dispatchers' passes leave it alone, at once and after the claim's lease. One
// whose process died before sending it (Send never called) is sent by a pass once the lease is over.
func TestClaimedMessagesAreSentOnceByTheirProcess(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	gw := &counting{seen: map[string]int{}}
	d := fx.dispatcher(gw)
	outbox := sms.NewOutbox(fx.keys, fx.clock).WithBudget(sms.Budget{})
	outbox.SendsWith(d)
	c := fx.claim(t, outbox, "sent by its process")
	if c == nil {
		t.Fatal("no claim with a dispatcher wired")
	}
	if sent, _, err := d.DispatchOnce(ctx); sent != 0 || err != nil {
		t.Fatalf("a pass sent %d claimed messages (%v)", sent, err)
	}
	outbox.Send(ctx, c)
	runCtx, stop := context.WithCancel(ctx)
	stop()
	d.Run(runCtx, time.Hour) // returns once the claimed send has been recorded
	orphan := fx.claim(t, outbox, "its process died")
	_ = orphan // never handed to Send
	for _, wait := range []time.Duration{0, time.Minute} {
		fx.clock.Advance(wait)
		if _, _, err := d.DispatchOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if gw.seen["sent by its process"] != 1 || gw.seen["its process died"] != 1 || len(gw.seen) != 2 {
		t.Fatalf("sent: %v", gw.seen)
	}
	var sent int
	if err := fx.pool.QueryRow(ctx, `SELECT count(*) FROM sms_outbox WHERE state = 'sent' AND to_enc IS NULL`).Scan(&sent); err != nil || sent != 2 {
		t.Fatalf("%d recorded sent (%v)", sent, err)
	}
	// Without a dispatcher wired (a command outside serve), it is an ordinary Enqueue: no claim.
	if c := fx.claim(t, fx.outbox, "for a pass"); c != nil {
		t.Fatal("claimed without a dispatcher")
	}
	if sent, _, err := d.DispatchOnce(ctx); sent != 1 || err != nil {
		t.Fatalf("the pass sent %d (%v)", sent, err)
	}
}
