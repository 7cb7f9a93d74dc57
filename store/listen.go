package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listen sends to wake (without blocking) whenever a NOTIFY on channel arrives, until ctx ends. It holds
// one connection of the pool and reconnects after a failure; a listening connection is closed rather
// than returned to the pool in that state. Notifications sent while it reconnects are lost, so callers
// also poll.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err == nil {
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					break
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		_ = conn.Conn().Close(context.Background())
		conn.Release()
	}
}
