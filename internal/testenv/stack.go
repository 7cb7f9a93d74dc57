package testenv

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/audit"
	"example.com/acs/authval"
	"example.com/acs/cards"
	"example.com/acs/envelope"
	"example.com/acs/hsm"
	"example.com/acs/letters"
	"example.com/acs/sms"
)

// Buffer is a log sink that goroutines may share.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Stack is the lower half of the ACS as the domain tests need it: a database of the test's own with the
// demo cards imported, keys on the test token, a fake clock, a debug log captured for leak checks, and
// letters whose codes the test can read (on paper only, otherwise).
type Stack struct {
	Pool *pgxpool.Pool
	// Trips counts the pool's round trips.
	Trips *RoundTrips
	HSM   *hsm.HSM
	// AV computes authentication values with the HSM's scheme keys (default configuration).
	AV      *authval.Service
	Keys    *envelope.Keyring
	Digests *envelope.Digester
	Clock   *clockwork.FakeClock
	Logs    *Buffer
	Log     *slog.Logger
	Cards   *cards.Directory
	Letters *letters.Letters

	mu    sync.Mutex
	codes []string
}

// Start is the fake clock's starting time.
var Start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// NewStack builds a Stack for t.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	ctx := context.Background()
	trips := &RoundTrips{}
	s := &Stack{Pool: DBWith(t, trips), Trips: trips, HSM: HSM(t), Clock: clockwork.NewFakeClockAt(Start), Logs: &Buffer{}}
	s.AV = authval.New(authval.Config{}, s.HSM)
	var err error
	if s.Keys, err = envelope.Open(ctx, s.Pool, s.HSM.KEK(), "pii"); err != nil {
		t.Fatal(err)
	}
	if s.Digests, err = envelope.OpenDigester(ctx, s.Pool, s.HSM.KEK(), "digest"); err != nil {
		t.Fatal(err)
	}
	s.Log = slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.Cards = cards.New(cards.Deps{Pool: s.Pool, Keys: s.Keys, Hasher: s.HSM, Log: s.Log})
	f, err := os.Open(DemoCards())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.Cards.Import(ctx, f); err != nil {
		t.Fatal(err)
	}
	s.Letters = letters.New(letters.Deps{Pool: s.Pool, Verifier: s.HSM, Cards: s.Cards, Clock: s.Clock, Log: s.Log,
		Issuer: "Musterbank AG", Access: audit.New(s.Pool, s.Clock), NewCode: func() (string, error) {
			c, err := letters.NewCode()
			s.mu.Lock()
			s.codes = append(s.codes, c)
			s.mu.Unlock()
			return c, err
		}})
	return s
}

// Codes returns every ID code printed so far, oldest first.
func (s *Stack) Codes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.codes...)
}

// PrintLetters runs a letter batch and returns the newest code.
func (s *Stack) PrintLetters(t testing.TB) string {
	t.Helper()
	if res, err := s.Letters.Batch(context.Background(), t.TempDir()); err != nil || res.Letters == 0 {
		t.Fatalf("letter batch: %+v %v", res, err)
	}
	c := s.Codes()
	return c[len(c)-1]
}

// DemoCards is the path of the demo card file.
func DemoCards() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "cards.csv")
}

// Dump renders every row of the named tables (all tables of the database if none are named) as JSON,
// bytea as hex: what someone holding a copy of the database would read.
func Dump(t testing.TB, pool *pgxpool.Pool, tables ...string) string {
	t.Helper()
	ctx := context.Background()
	if len(tables) == 0 {
		rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, n)
		}
	}
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := pool.Query(ctx, `SELECT row_to_json(x)::text FROM `+tbl+` x`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// DeliverSMS sends what the SMS outbox holds through the development gateway and returns the newest
// message text, as the cardholder's phone would show it.
func (s *Stack) DeliverSMS(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	d := &sms.Dispatcher{Pool: s.Pool, Keys: s.Keys, Gateway: &sms.DevInbox{Pool: s.Pool, Clock: s.Clock}, Clock: s.Clock,
		Log: s.Log, MaxAttempts: 3, Backoff: time.Second}
	if _, _, err := d.DispatchOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var body string
	if err := s.Pool.QueryRow(ctx, `SELECT body FROM dev_sms_inbox ORDER BY id DESC LIMIT 1`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	return body
}
