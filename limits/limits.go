// Package limits owns the rate limits that several acs serve processes must share: fixed-window
// counters in PostgreSQL (table rate_counters), each check or count one statement, never process
// memory. It knows nothing of what is limited; callers name a rule and a subject (a card id, an
// HSM-keyed digest of a client address).
package limits

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
)

// Rule is a limit: at most Max counted events per subject within each Window.
type Rule struct {
	Name   string
	Max    int
	Window time.Duration
}

// Limiter counts events against rules.
type Limiter struct {
	pool  *pgxpool.Pool
	clock clockwork.Clock
}

// New returns a Limiter.
func New(pool *pgxpool.Pool, clock clockwork.Clock) *Limiter {
	return &Limiter{pool: pool, clock: clock}
}

func (l *Limiter) window(r Rule) time.Time { return l.clock.Now().UTC().Truncate(r.Window) }

// Reached reports whether subject has used up rule in the current window.
func (l *Limiter) Reached(ctx context.Context, r Rule, subject string) (bool, error) {
	var n int
	err := l.pool.QueryRow(ctx, `SELECT coalesce(sum(count), 0) FROM rate_counters WHERE rule = $1 AND subject = $2 AND window_start = $3`,
		r.Name, subject, l.window(r)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("limits: read %s: %w", r.Name, err)
	}
	return n >= r.Max, nil
}

// Count records one event for subject and returns the window's count after it.
func (l *Limiter) Count(ctx context.Context, r Rule, subject string) (int, error) {
	var n int
	err := l.pool.QueryRow(ctx, `INSERT INTO rate_counters AS c (rule, subject, window_start, count) VALUES ($1, $2, $3, 1)
		ON CONFLICT (rule, subject, window_start) DO UPDATE SET count = c.count + 1 RETURNING count`,
		r.Name, subject, l.window(r)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("limits: count %s: %w", r.Name, err)
	}
	return n, nil
}

// Reset forgets subject's count of rule (after a success that ends a run of failures).
func (l *Limiter) Reset(ctx context.Context, r Rule, subject string) error {
	_, err := l.pool.Exec(ctx, `DELETE FROM rate_counters WHERE rule = $1 AND subject = $2`, r.Name, subject)
	return err
}

// Indexer computes HSM-keyed digests (hsm.HSM.Index).
type Indexer interface {
	Index(domain string, data []byte) ([]byte, error)
}

// Client is the subject that stands for a client address under rule r: its HSM-keyed digest, so that no
// address is stored in clear.
func Client(h Indexer, r Rule, addr string) (string, error) {
	d, err := h.Index(r.Name, []byte(addr))
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(d), nil
}
