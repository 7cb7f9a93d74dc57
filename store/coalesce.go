package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A Coalescer records outcomes of one kind (an SMS handed to the gateway, an RReq the DS acknowledged)
// for many callers at once: one statement and one commit for every outcome that arrives while a write
// is under way or within Delay of the first one waiting (issue 13: each outcome was a statement and a
// WAL flush of its own, two of an mTAN purchase's five commits). It is Record for a batch: each caller
// waits, as with Record, until its outcome is written (or Record gave up), and gets that result; none
// waits more than Delay plus the write. No goroutine runs while nothing waits: the first caller of a
// batch writes it, and the ones that arrive meanwhile wait for the next.
//
// The statement must be safe to repeat and must not depend on the order of the items (Record's rule).
type Coalescer[T any] struct {
	Pool *pgxpool.Pool
	// Delay is how long the first outcome of a batch waits for others; Max bounds a batch.
	Delay time.Duration
	Max   int
	// Statement is the one statement that records items.
	Statement func(items []T) (sql string, args []any)

	mu      sync.Mutex
	queue   []waiting[T]
	writing bool          // a caller is gathering or writing a batch
	full    chan struct{} // closed when the queue reaches Max while its writer waits for Delay
}

type waiting[T any] struct {
	item T
	done chan error
}

// Record writes item with the others of its batch and returns the batch's result.
func (c *Coalescer[T]) Record(ctx context.Context, item T) error {
	w := waiting[T]{item: item, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if c.full != nil && len(c.queue) >= c.max() {
		close(c.full)
		c.full = nil
	}
	if c.writing {
		c.mu.Unlock()
		return <-w.done // the writer under way takes it, now or in its next batch
	}
	c.writing = true
	c.mu.Unlock()
	c.write(ctx)
	return <-w.done
}

func (c *Coalescer[T]) max() int {
	if c.Max < 1 {
		return 1
	}
	return c.Max
}

// write gathers for Delay (or until the queue is full) and writes one batch; where more wait, a
// goroutine writes the next, so that no caller's Record outlasts its own batch.
func (c *Coalescer[T]) write(ctx context.Context) {
	c.mu.Lock()
	if len(c.queue) < c.max() && c.Delay > 0 {
		full := make(chan struct{})
		c.full = full
		c.mu.Unlock()
		t := time.NewTimer(c.Delay)
		select {
		case <-t.C:
		case <-full:
			t.Stop()
		}
		c.mu.Lock()
		c.full = nil
	}
	n := min(len(c.queue), c.max())
	batch := append([]waiting[T](nil), c.queue[:n]...)
	c.queue = append(c.queue[:0], c.queue[n:]...)
	c.mu.Unlock()

	items := make([]T, len(batch))
	for i, w := range batch {
		items[i] = w.item
	}
	sql, args := c.Statement(items)
	err := Record(ctx, c.Pool, sql, args...)
	for _, w := range batch {
		w.done <- err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.writing = false
		return
	}
	go c.write(context.WithoutCancel(ctx))
}
