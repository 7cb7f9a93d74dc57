package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/internal/testenv"
	"example.com/acs/store"
)

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, store.Config{URL: testenv.DatabaseURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	n, err := store.Migrate(ctx, pool)
	if err != nil || n == 0 {
		t.Fatalf("first migrate applied %d, %v", n, err)
	}
	n, err = store.Migrate(ctx, pool)
	if err != nil || n != 0 {
		t.Fatalf("second migrate applied %d, %v; want 0", n, err)
	}
	cur, latest, err := store.SchemaVersion(ctx, pool)
	if err != nil || cur != latest || cur == 0 {
		t.Fatalf("schema version %d of %d, %v", cur, latest, err)
	}
}

// Processes starting together (a rolling deploy) migrate once: the second waits for the first's lock
// and finds nothing left to apply.
func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	var pools [3]*pgxpool.Pool
	for i := range pools {
		p, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pools[i] = p
	}
	applied := make(chan int, len(pools))
	errs := make(chan error, len(pools))
	for _, p := range pools {
		go func() {
			n, err := store.Migrate(ctx, p)
			applied <- n
			errs <- err
		}()
	}
	total := 0
	for range pools {
		total += <-applied
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	_, latest, err := store.SchemaVersion(ctx, pools[0])
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := pools[0].QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if int64(total) != latest || int64(rows) != latest {
		t.Fatalf("%d migrations applied, %d recorded, %d embedded", total, rows, latest)
	}
}

func TestWithTxRollsBackOnError(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	boom := errors.New("boom")
	err := store.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO data_keysets (name, wrapped, primary_key_id) VALUES ('x', '\x00', 1)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the function's error", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM data_keysets`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("row survived the rollback: %d %v", n, err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
			_, _ = tx.Exec(ctx, `INSERT INTO data_keysets (name, wrapped, primary_key_id) VALUES ('y', '\x00', 1)`)
			panic("in the middle")
		})
	}()
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM data_keysets`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("row survived a panic: %d %v", n, err)
	}
	if err := store.WithTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO data_keysets (name, wrapped, primary_key_id) VALUES ('z', '\x00', 1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM data_keysets`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("committed row missing: %d %v", n, err)
	}
}

func TestOpenHidesPassword(t *testing.T) {
	_, err := store.Open(context.Background(), store.Config{URL: "postgres://app:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"})
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error shows the password: %v", err)
	}
}

// Issue 17: a LISTEN connection that drops (a database restart, a failover) comes back by itself, and
// the notification sent while it was away is not lost: the reconnection wakes the caller once, which
// then reads the database again.
func TestListenCatchesUpAfterADrop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := testenv.DB(t)
	wake := make(chan struct{}, 1)
	go store.Listen(ctx, pool, "test_channel", wake)
	waitWake := func(what string) {
		t.Helper()
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up %s", what)
		}
	}
	waitWake("at the first connection")
	if _, err := pool.Exec(ctx, `NOTIFY test_channel`); err != nil {
		t.Fatal(err)
	}
	waitWake("for a notification")
	// The listener's backend is killed; a notification sent before it is back reaches nobody.
	var killed int
	if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'acs-listen-test_channel' AND datname = current_database()`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
	if _, err := pool.Exec(ctx, `NOTIFY test_channel`); err != nil {
		t.Fatal(err)
	}
	waitWake("after the listener came back")
	// And it listens again.
	time.Sleep(100 * time.Millisecond)
	select {
	case <-wake:
	default:
	}
	if _, err := pool.Exec(ctx, `NOTIFY test_channel`); err != nil {
		t.Fatal(err)
	}
	waitWake("for a notification after the reconnection")
}

// Issue 17: the pool follows the primary. A connection whose server turns read-only (here: the session
// set read-only, as a demoted primary reports itself) is not given back to the pool; while the only
// server takes no writes, no connection is made to it (target_session_attrs=read-write), and the pool
// recovers by itself once a primary is back, without a restart.
func TestPoolFollowsThePrimary(t *testing.T) {
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	pool, err := store.Open(ctx, store.Config{URL: url, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	_ = conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
	if _, err := conn.Exec(ctx, `SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	if !store.ReadOnly(conn.Conn().PgConn()) {
		t.Fatal("the server's read-only report did not reach the client")
	}
	conn.Release()
	var again int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&again); err != nil || again == pid {
		t.Fatalf("the read-only connection was handed out again: %d %d %v", pid, again, err)
	}

	// The database itself turns read-only and every session ends (a primary demoted to a standby).
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var db string
	_ = admin.QueryRow(ctx, `SELECT current_database()`).Scan(&db)
	for _, sql := range []string{`ALTER DATABASE ` + pgx.Identifier{db}.Sanitize() + ` SET default_transaction_read_only = on`,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	// The pool's idle connections were killed: the first statement may meet one (57P01, a 503 for the
	// client, who tries again); then no new connection is made to the read-only server.
	var ce *pgconn.ConnectError
	for i := 0; i < 3; i++ {
		if _, err = pool.Exec(ctx, `CREATE TABLE follow_test (x int)`); errors.As(err, &ce) {
			break
		}
	}
	if !errors.As(err, &ce) || !errors.Is(err, pgconn.ErrReadOnlyConnection) {
		t.Fatalf("a write while the only server is read-only: %v", err)
	}
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` RESET default_transaction_read_only`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE follow_test (x int)`); err != nil {
		t.Fatalf("the pool did not recover: %v", err)
	}
}
