package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// alone): a batch that fails on the server has rolled back as a whole, so each of its statements is sent
// again by itself and its caller gets its own result. So is a batch whose connection the server ended
// while a statement ran (it never reached its commit). An error of the connection where the commit's
// outcome is unknown (the socket, or the server ending it at the commit) is every caller's, as it would
// be through the pool. A statement that waits for a
// row lock holds back the statements behind it in its batch, so a batch waits for a lock at most 200 ms
// (lockTimeoutSQL) before its statements are sent again one by one, each then waiting only for itself.
// Two lanes (or two processes' lanes) may take row locks of the same rows in opposite orders (AReqs of
// each of two cards counting low-value exemptions): the lock timeout ends that too.
type Pipeline struct {
	Pool *pgxpool.Pool
	// Lanes bounds the batches under way at once (at least 1); Max the statements of one batch.
	Lanes, Max int
	// Timeout bounds a batch, since its callers' contexts do not: a caller whose statement was sent waits
	// for its outcome.
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

	tag   pgconn.CommandTag
	err   error
	taken bool // a lane took it (under Pipeline.mu)
	done  chan struct{}
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
		for i, q := range p.queue {
			if q == c {
				p.queue = append(p.queue[:i], p.queue[i+1:]...)
				break
			}
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
		if p.Max > 0 && n > p.Max {
			n = p.Max
		}
		batch := append([]*piped(nil), p.queue[:n]...)
		p.queue = append(p.queue[:0], p.queue[n:]...)
		for _, c := range batch {
			c.taken = true
		}
		p.mu.Unlock()
		p.send(batch)
	}
}

func (p *Pipeline) send(batch []*piped) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultPipelineTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	p.batches.Add(1)
	p.statements.Add(int64(len(batch)))
	b := &pgx.Batch{}
	b.Queue(lockTimeoutSQL)
	for _, c := range batch {
		b.Queue(c.sql, c.args...)
	}
	br := p.Pool.SendBatch(ctx, b)
	_, failed := br.Exec() // failed: the server refused a statement, the batch's transaction is rolled back
	if !serverError(failed) {
		failed = nil
	}
	for _, c := range batch {
		if c.exec {
			c.tag, c.err = br.Exec()
		} else {
			c.err = br.QueryRow().Scan(c.dest...)
		}
		if failed == nil && serverError(c.err) {
			failed = c.err
		}
	}
	err := br.Close()
	if failed == nil && refusedCommit(err) {
		failed = err
	}
	switch {
	case failed != nil:
		// Each again by itself, in parallel and without the lock timeout, so that a statement that waits
		// for a lock holds back neither the others nor the next batch.
		p.alone.Add(int64(len(batch)))
		for _, c := range batch {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				c.tag, c.err = pgconn.CommandTag{}, nil
				c.alone(ctx, p.Pool)
				close(c.done)
			}()
		}
		return
	case err != nil: // the connection: no one knows whether the batch committed
		for _, c := range batch {
			if c.err == nil || errors.Is(c.err, pgx.ErrNoRows) {
				c.err = err
			}
		}
	}
	for _, c := range batch {
		close(c.done)
	}
}

// lockTimeoutSQL opens every batch: a statement that waits for a row lock (a card's low-value counter, a
// registration another transaction holds) waits in a batch at most this long, since it holds back every
// statement behind it; then the batch fails and each of its statements is sent again by itself.
const lockTimeoutSQL = `SELECT set_config('lock_timeout', '200ms', true)`

// alone runs the statement by itself.
func (c *piped) alone(ctx context.Context, pool *pgxpool.Pool) {
	if c.exec {
		c.tag, c.err = pool.Exec(ctx, c.sql, c.args...)
		return
	}
	c.err = pool.QueryRow(ctx, c.sql, c.args...).Scan(c.dest...)
}

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
