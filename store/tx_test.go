package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/internal/testenv"
	"example.com/acs/store"
)

func txTable(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := testenv.DB(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE txt (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

func rowsIn(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM txt`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Issue 13: WithTx sends BEGIN with the first statement instead of on its own. Whatever that first
// statement is (Exec, Query, QueryRow, a batch), it runs inside the transaction: another connection does
// not see its write before the commit, and a rollback undoes it.
func TestWithTxFirstStatementIsInTheTransaction(t *testing.T) {
	ctx := context.Background()
	pool := txTable(t)
	first := map[string]func(tx pgx.Tx) error{
		"Exec": func(tx pgx.Tx) error { _, err := tx.Exec(ctx, `INSERT INTO txt VALUES (1)`); return err },
		"Query": func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `INSERT INTO txt VALUES (1) RETURNING id`)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err == nil && (len(ids) != 1 || ids[0] != 1) {
				t.Errorf("Query returned %v", ids)
			}
			return err
		},
		"QueryRow": func(tx pgx.Tx) error {
			var id int
			err := tx.QueryRow(ctx, `INSERT INTO txt VALUES ($1) RETURNING id`, 1).Scan(&id)
			if err == nil && id != 1 {
				t.Errorf("QueryRow returned %d", id)
			}
			return err
		},
		"SendBatch": func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO txt VALUES (1)`)
			b.Queue(`INSERT INTO txt VALUES (2)`)
			return tx.SendBatch(ctx, b).Close()
		},
	}
	for name, write := range first {
		t.Run(name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, `TRUNCATE txt`); err != nil {
				t.Fatal(err)
			}
			undo := errors.New("undo")
			err := store.WithTx(ctx, pool, func(tx pgx.Tx) error {
				if err := write(tx); err != nil {
					return err
				}
				if tx.Conn().PgConn().TxStatus() != 'T' {
					t.Errorf("after the first statement the connection is not in a transaction (status %c)", tx.Conn().PgConn().TxStatus())
				}
				if n := rowsIn(t, pool); n != 0 {
					t.Errorf("another connection sees %d uncommitted rows", n)
				}
				return undo
			})
			if !errors.Is(err, undo) {
				t.Fatalf("WithTx = %v, want fn's error unchanged", err)
			}
			if n := rowsIn(t, pool); n != 0 {
				t.Errorf("%d rows after the rollback", n)
			}
			if err := store.WithTx(ctx, pool, write); err != nil {
				t.Fatal(err)
			}
			if n := rowsIn(t, pool); n == 0 {
				t.Error("nothing after the commit")
			}
		})
	}
}

// A statement that failed aborts the transaction even if fn goes on: the commit reports the rollback
// (pgx's ErrTxCommitRollback) and stores nothing. Failing as the first statement, or in a batch, leaves
// the pooled connection usable.
func TestWithTxFailuresRollBack(t *testing.T) {
	ctx := context.Background()
	pool := txTable(t)
	err := store.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO txt VALUES (1)`); err != nil {
			return err
		}
		_, _ = tx.Exec(ctx, `INSERT INTO txt VALUES (1)`) // duplicate key, ignored
		return nil
	})
	if !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("WithTx = %v, want ErrTxCommitRollback", err)
	}
	for range 3 { // more than once: the same pooled connection comes back
		err = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
			var n int
			return tx.QueryRow(ctx, `SELECT count(*) FROM no_such_table`).Scan(&n)
		})
		if err == nil {
			t.Fatal("a query of a missing table succeeded")
		}
		err = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO txt VALUES (7)`)
			b.Queue(`INSERT INTO txt VALUES (7)`)
			return tx.SendBatch(ctx, b).Close()
		})
		if err == nil {
			t.Fatal("a batch with a duplicate key succeeded")
		}
	}
	if n := rowsIn(t, pool); n != 0 {
		t.Errorf("%d rows stored by failed transactions", n)
	}
	var id int
	err = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM txt WHERE id = 1`).Scan(&id)
	})
	if !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("QueryRow of no row = %v, want pgx.ErrNoRows", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		_ = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO txt VALUES (3)`); err != nil {
				return err
			}
			panic("fn panics")
		})
	}()
	if n := rowsIn(t, pool); n != 0 {
		t.Errorf("%d rows after a panic", n)
	}
	// A transaction that sends nothing commits nothing, and after it is closed it refuses statements.
	var kept pgx.Tx
	if err := store.WithTx(ctx, pool, func(tx pgx.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Exec(ctx, `INSERT INTO txt VALUES (4)`); !errors.Is(err, pgx.ErrTxClosed) {
		t.Errorf("a statement after the end = %v, want ErrTxClosed", err)
	}
}
