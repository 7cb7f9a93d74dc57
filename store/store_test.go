package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
