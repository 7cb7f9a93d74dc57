// Package store owns the connection to PostgreSQL: the pool, the embedded schema migrations, the
// transaction helper, and the batching of many callers' statements (Pipeline, Coalescer). All state of
// the ACS lives in this one database so that several `acs serve` processes behave as one; no package
// keeps state that matters in process memory.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// Config is the database part of the service configuration.
type Config struct {
	// URL is a PostgreSQL connection URL (postgres://user@host:port/db?sslmode=...).
	URL string `yaml:"url" env:"ACS_DATABASE_URL" validate:"required,url"`
	// MaxConns bounds the pool; 0 means DefaultMaxConns. A challenge step holds one connection for its
	// transaction and may read through a second, so the pool should stay well above the number of
	// concurrent requests' transactions (listeners use connections of their own).
	MaxConns int32 `yaml:"max_conns" validate:"min=0,max=1000"`
	// PipelineLanes is how many batches of the AReqs' statements are under way at once (Pipeline); 0
	// sends each statement by itself. The default is DefaultPipelineLanes.
	PipelineLanes int `yaml:"pipeline_lanes" env:"ACS_DATABASE_PIPELINE_LANES" validate:"min=0,max=64"`
	// Tracer, when not nil, sees every statement and batch the pool sends (the tests count round trips
	// with it, testenv.RoundTrips).
	Tracer pgx.QueryTracer `yaml:"-" validate:"-"`
}

// DefaultPipelineLanes: with one lane the batches grow with the load, as a group commit does, and in make
// bench that served the most AReqs (not-registered ratio 0.29 and 0.31 in two runs, two lanes 0.26 and
// 0.28, none 0.22 and 0.24; frictionless 0.21, 0.20, 0.18). A statement waiting for a lock holds back a
// lane for at most Pipeline's lock timeout.
const DefaultPipelineLanes = 1

// DefaultMaxConns is the pool size when the configuration names none.
const DefaultMaxConns = 20

//go:embed migrations/*.sql
var migrations embed.FS

// followPrimary makes the pool follow the primary across a failover (issue 17). Every new connection
// must be to a server that takes writes, as target_session_attrs=read-write asks (the default here when
// the URL names none): with a multi-host URL (postgres://app@db1,db2/acs) pgx tries the hosts in turn
// and refuses a standby. A connection whose server turned read-only while it was in the pool (a demoted
// primary; PostgreSQL 14+ reports in_hot_standby and default_transaction_read_only to the client) is
// not given back to the pool, so the next statement connects anew, to the new primary.
func followPrimary(pc *pgxpool.Config, url string) {
	if !strings.Contains(url, "target_session_attrs") {
		pc.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	pc.AfterRelease = func(c *pgx.Conn) bool { return !ReadOnly(c.PgConn()) }
}

// ReadOnly reports whether the server of a connection takes no writes, by what it reported last.
func ReadOnly(c *pgconn.PgConn) bool {
	return c.ParameterStatus("in_hot_standby") == "on" || c.ParameterStatus("default_transaction_read_only") == "on"
}

// Open connects a pool and checks that the server answers.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's parse error can repeat the URL, password included: say only what is wrong in general.
		return nil, errors.New("store: database URL does not parse")
	}
	pc.MaxConns = DefaultMaxConns
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	followPrimary(pc, cfg.URL)
	if cfg.Tracer != nil {
		pc.ConnConfig.Tracer = cfg.Tracer
	}
	// google/uuid values are sql driver.Valuers, which pgx encodes by way of their text and scans by
	// parsing text: 8 % of the service's CPU in the mTAN flow (issue 13). Registered, they are 16 bytes
	// on the wire both ways.
	pc.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		pgxuuid.Register(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	return pool, nil
}

func provider(pool *pgxpool.Pool) (*goose.Provider, *sql.DB, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	// A session-level advisory lock around the whole run: processes starting together migrate once
	// (goose takes no lock without it).
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("store: migrations: %w", err)
	}
	return p, db, nil
}

// Migrate applies every migration not applied yet, each in its own transaction, and returns how many
// it applied. A PostgreSQL advisory lock (provider) makes processes starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	p, db, err := provider(pool)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("store: migrate: %w", err)
	}
	return len(res), nil
}

// SchemaVersion returns the newest applied migration and the newest one embedded in this binary; a
// server whose database is behind refuses to start.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (current, latest int64, err error) {
	p, db, err := provider(pool)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	if current, err = p.GetDBVersion(ctx); err != nil {
		return 0, 0, fmt.Errorf("store: schema version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

// Queued is a statement one package has another send ahead of its own, in its round trip and its
// transaction, so that both take effect or neither (issue 13: a signed app request's nonce, written with
// the answer it carries instead of in a commit of its own).
type Queued struct {
	SQL  string
	Args []any
}

// Exec runs q on its own.
func (q *Queued) Exec(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, q.SQL, q.Args...)
	return err
}

// QueueTo adds q to b (nil: nothing).
func (q *Queued) QueueTo(b *pgx.Batch) {
	if q != nil {
		b.Queue(q.SQL, q.Args...)
	}
}

// SkipResults reads the results of the first n statements of a sent batch, for a caller that wants what
// comes after them (the statements queued ahead of its own, Queued). On an error it closes br.
func SkipResults(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	return nil
}

// RecordBudget bounds how long Record repeats a statement while PostgreSQL is away: a restart, or a
// failover to the standby (writes are back within 15 s under make cluster's Patroni; issue 17).
const RecordBudget = 20 * time.Second

// Record runs a statement that records what was done outside the database (an SMS handed to the
// gateway, an RReq the DS acknowledged), again every 100 ms while it fails, for up to RecordBudget, even
// when ctx has ended: an outcome left unrecorded has the work done a second time once its claim's lease
// has passed. The statement must be safe to repeat (guarded by the state it moves from), since one that
// took effect before its answer was lost runs again.
func Record(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RecordBudget)
	defer cancel()
	for {
		_, err := pool.Exec(ctx, sql, args...)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
