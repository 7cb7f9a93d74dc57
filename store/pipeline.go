package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A Pipeline sends the single statements of concurrent requests to PostgreSQL together (issue 13): while
// Lanes batches are under way, the statements that arrive wait, and the next free lane sends them as one
// pgx batch, that is one round trip and one implicit transaction, so one commit for all of them. An AReq
// is one or two statements of its own; at load, most of what PostgreSQL spends on each is the
// statement's fixed cost and its commit, and most of what the service spends is the socket. Nothing
// waits while a lane is free: alone, a statement goes at once, as through the pool.
//
// Only statements that stand alone go through it (each its own transaction, its outcome its caller's
// alone). A batch that fails on the server has rolled back as a whole: the statement that failed is sent
// again by itself, so that its caller gets its own result, and the others go again as the next batch.
// So does a batch whose connection the server ended while a statement ran (it never reached its
// commit). An error of the connection where the commit's outcome is unknown (the socket, or the server
// ending it at the commit) is every caller's, as it would be through the pool. Rows are scanned once the
// batch has committed, so that a row that does not scan fails its own caller only.
//
// A statement that waits holds back the statements behind it in its batch: each batch waits for a lock
// at most 200 ms per wait and runs a statement at most 5 s (batchSettingsSQL); the statement that timed
// out is then sent again by itself, without those bounds, waiting only for itself. Two lanes (or two
// processes' lanes) may take row locks of the same rows in opposite orders (AReqs of each of two cards
// counting low-value exemptions): the lock timeout ends that too.
type Pipeline struct {
	Pool *pgxpool.Pool
	// Lanes bounds the batches under way at once (at least 1); Max the statements of one batch (0:
	// DefaultPipelineMax).
	Lanes, Max int
	// Timeout bounds a batch (0: DefaultPipelineTimeout), since its callers' contexts do not: a caller
	// whose statement was sent waits for its outcome.
	Timeout time.Duration

	mu    sync.Mutex
	queue []*piped
	busy  int // lanes sending

	batches, statements, alone atomic.Int64
}

// PipelineStats are a Pipeline's counts since it started: batches sent, statements they held, and
// statements sent again by themselves after their batch failed.
type PipelineStats struct{ Batches, Statements, Resent int64 }

// Stats returns the counts (acs_db_pipeline_* in the metrics).
func (p *Pipeline) Stats() PipelineStats {
	return PipelineStats{p.batches.Load(), p.statements.Load(), p.alone.Load()}
}

// piped is one statement waiting for its batch.
type piped struct {
	sql  string
	args []any
	dest []any // scanned from the row; exec: none is read
	exec bool

	tag    pgconn.CommandTag
	err    error
	fields []pgconn.FieldDescription // the row, kept until the batch committed
	values [][]byte
	taken  bool // a lane took it (under Pipeline.mu)
	done   chan struct{}
}

// DefaultPipelineMax bounds a batch: enough for every request of a busy process at once, few enough
// that one slow batch does not hold back a crowd.
const DefaultPipelineMax = 64

// DefaultPipelineTimeout bounds a batch when Timeout is zero.
const DefaultPipelineTimeout = 10 * time.Second

// Exec runs one statement that stands alone, with the others waiting.
func (p *Pipeline) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c := &piped{sql: sql, args: args, exec: true}
	err := p.do(ctx, c)
	return c.tag, err
}

// QueryRow is pgx's QueryRow for one statement that stands alone: the statement is sent when the row is
// scanned, and Scan returns pgx.ErrNoRows as pgx does.
func (p *Pipeline) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return pipedRow{p: p, ctx: ctx, sql: sql, args: args}
}

type pipedRow struct {
	p    *Pipeline
	ctx  context.Context
	sql  string
	args []any
}

func (r pipedRow) Scan(dest ...any) error {
	return r.p.do(r.ctx, &piped{sql: r.sql, args: r.args, dest: dest})
}

func (p *Pipeline) do(ctx context.Context, c *piped) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.done = make(chan struct{})
	p.mu.Lock()
	p.queue = append(p.queue, c)
	if p.busy < max(p.Lanes, 1) {
		p.busy++
		go p.lane()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
	}
	p.mu.Lock()
	if !c.taken {
		if i := slices.Index(p.queue, c); i >= 0 {
			p.queue = slices.Delete(p.queue, i, i+1)
		}
		p.mu.Unlock()
		return ctx.Err()
	}
	p.mu.Unlock()
	<-c.done // sent: its outcome is known within the batch's Timeout
	return c.err
}

// lane sends batches while statements wait.
func (p *Pipeline) lane() {
	for {
		p.mu.Lock()
		n := len(p.queue)
		if n == 0 {
			p.busy--
			p.mu.Unlock()
			return
		}
		n = min(n, p.max())
		batch := append([]*piped(nil), p.queue[:n]...)
		rest := copy(p.queue, p.queue[n:])
		clear(p.queue[rest:]) // the queue's array keeps no statement that left it
		p.queue = p.queue[:rest]
		for _, c := range batch {
			c.taken = true
		}
		p.mu.Unlock()
		p.send(batch)
	}
}

func (p *Pipeline) max() int {
	if p.Max <= 0 {
		return DefaultPipelineMax
	}
	return p.Max
}

// again puts statements of a batch that rolled back at the head of the queue, for the next batch.
func (p *Pipeline) again(batch []*piped) {
	for _, c := range batch {
		c.tag, c.err, c.fields, c.values = pgconn.CommandTag{}, nil, nil, nil
	}
	p.mu.Lock()
	p.queue = append(batch, p.queue...)
	p.mu.Unlock()
}

func (p *Pipeline) timeout() time.Duration {
	if p.Timeout <= 0 {
		return DefaultPipelineTimeout
	}
	return p.Timeout
}

// send sends one batch and gives each caller its outcome, or sends statements again (again, alone).
func (p *Pipeline) send(batch []*piped) {
	p.batches.Add(1)
	p.statements.Add(int64(len(batch)))
	// The wait for a connection has a bound of its own, so that the batch has all of its own.
	actx, acancel := context.WithTimeout(context.Background(), p.timeout())
	conn, err := p.Pool.Acquire(actx)
	acancel()
	if err != nil { // nothing was sent
		p.finish(batch, err)
		return
	}
	defer conn.Release()
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout())
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(batchSettingsSQL)
	for _, c := range batch {
		b.Queue(c.sql, c.args...)
	}
	br := conn.SendBatch(ctx, b)
	_, failed := br.Exec() // failed: the server refused a statement, the batch's transaction is rolled back
	culprit := -1          // which statement (none: the settings, or the commit)
	if !serverError(failed) {
		failed = nil
	}
	for i, c := range batch {
		if c.exec {
			c.tag, c.err = br.Exec()
		} else {
			c.err = c.keep(br.Query())
		}
		if failed == nil && serverError(c.err) {
			failed, culprit = c.err, i
		}
	}
	err = br.Close()
	if failed == nil && refusedCommit(err) {
		failed = err
	}
	switch {
	case failed != nil && culprit >= 0:
		// The one that failed by itself, the others (rolled back with it, innocent) as the next batch.
		p.alone.Add(1)
		p.sendAlone(batch[culprit])
		p.again(append(batch[:culprit:culprit], batch[culprit+1:]...))
	case failed != nil:
		p.alone.Add(int64(len(batch)))
		for _, c := range batch {
			p.sendAlone(c)
		}
	case err != nil: // the connection: no one knows whether the batch committed
		for _, c := range batch {
			if c.err == nil || errors.Is(c.err, pgx.ErrNoRows) {
				c.err = err
			}
		}
		p.finish(batch, nil)
	default:
		m := conn.Conn().TypeMap()
		for _, c := range batch {
			if !c.exec && c.err == nil {
				c.err = scan(m, c)
			}
		}
		p.finish(batch, nil)
	}
}

// keep reads the first row of a statement's result and keeps a copy, to be scanned after the commit.
func (c *piped) keep(rows pgx.Rows, err error) error {
	if err != nil {
		return err
	}
	if !rows.Next() {
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	c.fields = slices.Clone(rows.FieldDescriptions()) // pgconn reuses its array for the next result
	raw := rows.RawValues()
	c.values = make([][]byte, len(raw))
	for i, v := range raw {
		if v != nil {
			c.values[i] = slices.Clone(v)
		}
	}
	rows.Close()
	return rows.Err()
}

// scan scans c's row into its destinations; a destination's Scan that panics fails c alone.
func scan(m *pgtype.Map, c *piped) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: scanning the row panicked: %v", r)
		}
	}()
	return pgx.ScanRow(m, c.fields, c.values, c.dest...)
}

// finish gives each caller of batch its outcome (err, when not nil, for all).
func (p *Pipeline) finish(batch []*piped, err error) {
	for _, c := range batch {
		if err != nil {
			c.err = err
		}
		close(c.done)
	}
}

// sendAlone runs c by itself, outside any batch and without the batch's bounds, so that it holds back
// nothing while it waits.
func (p *Pipeline) sendAlone(c *piped) {
	c.tag, c.err, c.fields, c.values = pgconn.CommandTag{}, nil, nil, nil
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout())
		defer cancel()
		defer close(c.done)
		defer func() {
			if r := recover(); r != nil {
				c.err = fmt.Errorf("store: scanning the row panicked: %v", r)
			}
		}()
		if c.exec {
			c.tag, c.err = p.Pool.Exec(ctx, c.sql, c.args...)
			return
		}
		c.err = p.Pool.QueryRow(ctx, c.sql, c.args...).Scan(c.dest...)
	}()
}

// batchSettingsSQL opens every batch, for the batch's transaction only: a statement that waits for a row
// lock (a card's low-value counter, a card or registration another transaction holds) waits at most
// 200 ms, and none runs longer than 5 s, since each holds back every statement behind it; then the batch
// fails with an error PostgreSQL reports (a known rollback, unlike a socket cut at the batch's Timeout),
// and the statement is sent again by itself.
const batchSettingsSQL = `SELECT set_config('lock_timeout', '200ms', true), set_config('statement_timeout', '5s', true)`

// refusedCommit reports whether PostgreSQL refused the batch's commit, so that it rolled back. A
// connection the server ended (FATAL) at the commit may have committed first: its outcome is unknown.
// An error in answer to a statement, of any severity, came before the commit.
func refusedCommit(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.SeverityUnlocalized == "ERROR"
}

// serverError reports whether PostgreSQL refused a statement (as opposed to a row that was not there or
// that did not scan, or a connection that failed).
func serverError(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg)
}
