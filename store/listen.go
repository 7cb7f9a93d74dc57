package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listen sends to wake (without blocking) whenever a NOTIFY on channel arrives, until ctx ends. It uses
// a connection of its own, outside the pool, so that listeners never take the pool's connections from
// requests; it reconnects after a failure (a database restart, a failover: issue 17). Notifications
// sent while it is away are lost, so every (re)connection wakes the caller once, after LISTEN is in
// place: the caller reads the database again and catches up on whatever it missed.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, wake chan<- struct{}) {
	for ctx.Err() == nil {
		cfg := pool.Config().ConnConfig.Copy()
		// The listener is named, so that an operator (and the tests) can tell it among the backends.
		cfg.RuntimeParams["application_name"] = "acs-listen-" + channel
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err == nil {
			select { // the catch-up read
			case wake <- struct{}{}:
			default:
			}
			for {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					break
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		_ = conn.Close(context.Background())
	}
}

// Broadcast wakes every waiter in this process when a NOTIFY on its channel arrives from any process:
// long-polling requests wait on Changed and then read the database again.
type Broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewBroadcast returns a Broadcast; Run feeds it.
func NewBroadcast() *Broadcast { return &Broadcast{ch: make(chan struct{})} }

// Changed returns a channel closed at the next notification.
func (b *Broadcast) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *Broadcast) fire() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

// Run listens on channel until ctx ends and wakes the waiters at each notification.
func (b *Broadcast) Run(ctx context.Context, pool *pgxpool.Pool, channel string) {
	wake := make(chan struct{}, 1)
	go Listen(ctx, pool, channel, wake)
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			b.fire()
		}
	}
}
