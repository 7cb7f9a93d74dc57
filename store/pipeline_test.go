package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"example.com/acs/internal/testenv"
	"example.com/acs/store"
)

// Issue 13: statements of concurrent callers go together, each caller returns once its own statement is
// committed, with its own result (a row, no row, a row count), and each statement runs once.
func TestPipelineSendsTogether(t *testing.T) {
	ctx := context.Background()
	pool := pipedTable(t, `CREATE TABLE piped (id int PRIMARY KEY, v text NOT NULL)`)
	p := &store.Pipeline{Pool: pool, Lanes: 2, Max: 16}
	var wg sync.WaitGroup
	for i := 1; i <= 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0: // a read that finds nothing, then an insert
				var v string
				if err := p.QueryRow(ctx, `SELECT v FROM piped WHERE id = -$1::int`, i).Scan(&v); !errors.Is(err, pgx.ErrNoRows) {
					t.Errorf("read %d: %v, want no rows", i, err)
				}
				fallthrough
			case 1:
				tag, err := p.Exec(ctx, `INSERT INTO piped (id, v) VALUES ($1, 'x')`, i)
				if err != nil || tag.RowsAffected() != 1 {
					t.Errorf("insert %d: %v %v", i, tag, err)
					return
				}
			default: // an insert that returns what it stored
				var v string
				if err := p.QueryRow(ctx, `INSERT INTO piped (id, v) VALUES ($1, 'r' || $1::int) RETURNING v`, i).Scan(&v); err != nil || v == "" {
					t.Errorf("insert %d: %q %v", i, v, err)
					return
				}
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM piped WHERE id = $1`, i).Scan(&n); err != nil || n != 1 {
				t.Errorf("row %d: %d when its caller returned (%v)", i, n, err)
			}
		}()
	}
	wg.Wait()
	s := p.Stats()
	if s.Statements != 400 || s.Batches >= s.Statements || s.Resent != 0 {
		t.Fatalf("400 statements: %+v, want them in fewer batches, none sent again", s)
	}
	t.Logf("400 statements in %d batches", s.Batches)
}

// A statement PostgreSQL refuses fails its own caller only: the rest of its batch, rolled back with it,
// is sent again statement by statement and stored once.
func TestPipelineIsolatesAFailedStatement(t *testing.T) {
	ctx := context.Background()
	pool := pipedTable(t, `CREATE TABLE piped (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)`)
	if _, err := pool.Exec(ctx, `INSERT INTO piped (id) VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	p := &store.Pipeline{Pool: pool, Lanes: 1, Max: 64}
	// The one lane is busy for a while, so that what comes meanwhile waits and goes as one batch.
	hold := sent(p, `SELECT pg_sleep(0.3)`)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := i + 1
			if i == 7 {
				id = 0 // taken
			}
			_, errs[i] = p.Exec(ctx, `INSERT INTO piped (id) VALUES ($1)`, id)
			if i%2 == 0 {
				_, err := p.Exec(ctx, `UPDATE piped SET n = n + 1 WHERE id = 0`)
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := <-hold; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		var pg *pgconn.PgError
		if i == 7 {
			if !errors.As(err, &pg) || pg.Code != "23505" {
				t.Fatalf("the duplicate: %v, want its unique violation", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("statement %d failed with the duplicate: %v", i, err)
		}
	}
	var rows, n int
	if err := pool.QueryRow(ctx, `SELECT count(*), sum(n) FROM piped`).Scan(&rows, &n); err != nil {
		t.Fatal(err)
	}
	if rows != 20 || n != 10 {
		t.Fatalf("%d rows and %d updates stored, want 20 and 10 (each once)", rows, n)
	}
	if s := p.Stats(); s.Resent != 1 {
		t.Fatalf("%+v: the duplicate alone should have been sent by itself", s)
	}
}

// A caller that gives up before its statement is sent takes it back: it never runs.
func TestPipelineCancelledBeforeSending(t *testing.T) {
	ctx := context.Background()
	pool := pipedTable(t, `CREATE TABLE piped (id int PRIMARY KEY)`)
	p := &store.Pipeline{Pool: pool, Lanes: 1}
	hold := sent(p, `SELECT pg_sleep(0.3)`)
	short, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := p.Exec(short, `INSERT INTO piped VALUES (1)`); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v", err)
	}
	if err := <-hold; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM piped`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows, %v: the cancelled statement ran", n, err)
	}
	if s := p.Stats(); s.Statements != 1 {
		t.Fatalf("%+v", s)
	}
}

// A statement that waits for a row lock holds back its batch for at most the lock timeout: then the
// others are sent again by themselves and return while it still waits, and it completes once the lock
// is released.
func TestPipelineALockWaitHoldsBackNoOne(t *testing.T) {
	ctx := context.Background()
	pool := pipedTable(t, `CREATE TABLE piped (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)`)
	if _, err := pool.Exec(ctx, `INSERT INTO piped (id) VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT 1 FROM piped WHERE id = 0 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	p := &store.Pipeline{Pool: pool, Lanes: 1}
	blocked := sent(p, `UPDATE piped SET n = n + 1 WHERE id = 0`)
	others := make(chan error, 10)
	for i := 1; i <= 10; i++ {
		go func() { _, err := p.Exec(ctx, `INSERT INTO piped (id) VALUES ($1)`, i); others <- err }()
	}
	for range 10 {
		select {
		case err := <-others:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the statements behind a lock wait were held back while the lock was held")
		}
	}
	select {
	case err := <-blocked:
		t.Fatalf("the update returned while its row was locked: %v", err)
	default:
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err != nil {
		t.Fatalf("the update, once the lock was released: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT n FROM piped WHERE id = 0`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("updated %d times, %v", n, err)
	}
}

// The operator reads how many statements shared a commit (acs_db_pipeline_*).
func TestPipelineMetrics(t *testing.T) {
	ctx := context.Background()
	p := &store.Pipeline{Pool: testenv.DB(t), Lanes: 1}
	for range 3 {
		if _, err := p.Exec(ctx, `SELECT 1`); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(store.PipelineCollector(p))
	want := `
# HELP acs_db_pipeline_batches_total Batches the AReqs' statements went to the database in (store.Pipeline).
# TYPE acs_db_pipeline_batches_total counter
acs_db_pipeline_batches_total 3
# HELP acs_db_pipeline_resent_total Statements sent again by themselves after their batch failed: the one that failed (the rest go as the next batch), or all where the commit was refused.
# TYPE acs_db_pipeline_resent_total counter
acs_db_pipeline_resent_total 0
# HELP acs_db_pipeline_statements_total Statements sent in those batches.
# TYPE acs_db_pipeline_statements_total counter
acs_db_pipeline_statements_total 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// A batch whose connection the server ends while a statement runs (an operator's pg_terminate_backend,
// a failover) never reached its commit: its statements are sent again by themselves and succeed.
func TestPipelineResendsABatchWhoseConnectionEnded(t *testing.T) {
	ctx := context.Background()
	pool := pipedTable(t, `CREATE TABLE piped (id int PRIMARY KEY)`)
	p := &store.Pipeline{Pool: pool, Lanes: 1}
	hold := sent(p, `SELECT pg_sleep(0.2)`)
	slow, insert := make(chan error, 1), make(chan error, 1)
	go func() { _, err := p.Exec(ctx, `SELECT pg_sleep(0.4), 'ended'`); slow <- err }()
	go func() { _, err := p.Exec(ctx, `INSERT INTO piped VALUES (1)`); insert <- err }()
	var ended bool
	for deadline := time.Now().Add(5 * time.Second); !ended && time.Now().Before(deadline); {
		if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_stat_activity
			WHERE query = 'SELECT pg_sleep(0.4), ''ended''' AND state = 'active' AND datname = current_database()`).Scan(&ended); err != nil {
			t.Fatal(err)
		}
	}
	if !ended {
		t.Fatal("the batch was never seen running")
	}
	for _, ch := range []<-chan error{hold, slow, insert} {
		if err := <-ch; err != nil {
			t.Fatalf("after the connection ended: %v", err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM piped`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows, %v", n, err)
	}
	if s := p.Stats(); s.Resent != 1 || s.Batches < 3 {
		t.Fatalf("%+v: the statement that was running should have been sent alone, the other in a batch again", s)
	}
}

// A row that does not scan fails its own caller only: the batch has committed, and the others get their
// results.
func TestPipelineAScanErrorIsItsCallersAlone(t *testing.T) {
	ctx := context.Background()
	pool := pipedTable(t, `CREATE TABLE piped (id int PRIMARY KEY)`)
	p := &store.Pipeline{Pool: pool, Lanes: 1}
	hold := sent(p, `SELECT pg_sleep(0.3)`)
	bad := make(chan error, 1)
	go func() {
		var n int
		bad <- p.QueryRow(ctx, `INSERT INTO piped VALUES (100) RETURNING 'not a number'`).Scan(&n)
	}()
	errs := make(chan error, 5)
	for i := 1; i <= 5; i++ {
		go func() {
			var got int
			err := p.QueryRow(ctx, `INSERT INTO piped VALUES ($1) RETURNING id`, i).Scan(&got)
			if err == nil && got != i {
				err = errors.New("another statement's row")
			}
			errs <- err
		}()
	}
	if err := <-hold; err != nil {
		t.Fatal(err)
	}
	if err := <-bad; err == nil || serverErr(err) {
		t.Fatalf("the row that does not scan: %v, want its scan error", err)
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatalf("a statement next to the row that does not scan: %v", err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM piped`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d rows (%v), want all 6 stored once", n, err)
	}
	if s := p.Stats(); s.Batches != 2 || s.Resent != 0 {
		t.Fatalf("%+v, want the six in one batch, none sent again", s)
	}
}

func serverErr(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg)
}

// pipedTable is a pool on a database of the test's own with the table the statements use.
func pipedTable(t *testing.T, ddl string) *pgxpool.Pool {
	t.Helper()
	pool := testenv.DB(t)
	if _, err := pool.Exec(context.Background(), ddl); err != nil {
		t.Fatal(err)
	}
	return pool
}

// sent runs sql through p and returns once its batch is under way (the lane busy with it, so that what
// comes meanwhile waits for the next batch); the channel gets its outcome.
func sent(p *store.Pipeline, sql string) <-chan error {
	before := p.Stats().Batches
	done := make(chan error, 1)
	go func() { _, err := p.Exec(context.Background(), sql); done <- err }()
	for p.Stats().Batches == before {
		time.Sleep(time.Millisecond)
	}
	return done
}
