package testenv

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/store"
)

// DatabaseURL creates an empty database of the test's own on the test cluster and returns its URL; the
// database is dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("ACS_PG_URL")
	if base == "" {
		t.Fatal("ACS_PG_URL is not set: run the tests with `make test`, which starts a private PostgreSQL")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatalf("connect to test cluster: %v", err)
	}
	defer admin.Close(ctx)
	name := "t_" + RandomHex(t, 8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base+"/postgres?sslmode=disable")
		if err != nil {
			t.Errorf("drop database: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return base + "/" + name + "?sslmode=disable"
}

// DB returns a pool on a migrated database of the test's own.
func DB(t testing.TB) *pgxpool.Pool { t.Helper(); return DBWith(t, nil) }

// DBWith is DB with a tracer on the pool (nil: none).
func DBWith(t testing.TB, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, store.Config{URL: DatabaseURL(t), MaxConns: 20, Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

// RoundTrips counts what a pool sends to PostgreSQL, as a pgx tracer: each statement sent by itself and
// each batch is one round trip once its statements are prepared (issue 13's tests pin how many an AReq
// or a challenge step takes). It keeps the start of each one's SQL, for a failing test to show.
type RoundTrips struct {
	mu   sync.Mutex
	sent []string
	in   map[*pgx.Conn]int // the batch under way on a connection: its index in sent
}

var (
	_ pgx.QueryTracer = (*RoundTrips)(nil)
	_ pgx.BatchTracer = (*RoundTrips)(nil)
)

// Count returns the round trips since the last Reset.
func (r *RoundTrips) Count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.sent))
}

// Sent lists the round trips since the last Reset: a statement's SQL, or a batch's statements joined by
// " | ", each cut to 40 characters.
func (r *RoundTrips) Sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// Reset starts counting afresh.
func (r *RoundTrips) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent, r.in = nil, nil
}

func cut(sql string) string {
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 40 {
		return sql[:40]
	}
	return sql
}

func (r *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, cut(d.SQL))
	return ctx
}
func (r *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *RoundTrips) TraceBatchStart(ctx context.Context, c *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.in == nil {
		r.in = map[*pgx.Conn]int{}
	}
	r.in[c] = len(r.sent)
	r.sent = append(r.sent, "batch:")
	return ctx
}
func (r *RoundTrips) TraceBatchQuery(_ context.Context, c *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.in[c]; ok && i < len(r.sent) {
		r.sent[i] += " " + cut(d.SQL) + " |"
	}
}
func (r *RoundTrips) TraceBatchEnd(_ context.Context, c *pgx.Conn, _ pgx.TraceBatchEndData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.in, c)
}
