package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WithTx runs fn in a transaction: committed when fn returns nil, rolled back when it returns an error
// or panics. The error of fn is returned unchanged, so callers can still match it with errors.Is.
//
// The transaction's BEGIN goes in the round trip of its first statement (issue 13): pgx's own
// transaction sends BEGIN as a round trip of its own, which was one of the four of every challenge
// step, and a transaction that sends no statement sends neither BEGIN nor COMMIT. PostgreSQL takes a
// READ COMMITTED transaction's snapshots per statement, so where BEGIN is sent changes nothing it sees.
func WithTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left inside a transaction (a failed ROLLBACK) is closed by the pool on release.
	defer conn.Release()
	t := &lazyTx{conn: conn.Conn()}
	defer func() {
		if p := recover(); p != nil {
			_ = t.Rollback(ctx)
			panic(p)
		}
	}()
	if err := fn(t); err != nil {
		_ = t.Rollback(ctx)
		return err
	}
	return t.Commit(ctx)
}

// errNested: WithTx's transactions have no savepoints; nothing here needs them.
var errNested = errors.New("store: nested transactions (savepoints) are not supported by WithTx")

// lazyTx is a pgx.Tx whose BEGIN is queued ahead of its first statement.
type lazyTx struct {
	conn   *pgx.Conn
	begun  bool // BEGIN has been sent
	closed bool // committed or rolled back
}

var _ pgx.Tx = (*lazyTx)(nil)

// first is a batch of BEGIN and the first statement, or nil once BEGIN went.
func (t *lazyTx) first() *pgx.Batch {
	if t.begun {
		return nil
	}
	t.begun = true
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	return b
}

func (t *lazyTx) usable() error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	return nil
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.usable(); err != nil {
		return pgconn.CommandTag{}, err
	}
	b := t.first()
	if b == nil {
		return t.conn.Exec(ctx, sql, args...)
	}
	b.Queue(sql, args...)
	br := t.conn.SendBatch(ctx, b)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	b := t.first()
	if b == nil {
		return t.conn.Query(ctx, sql, args...)
	}
	b.Queue(sql, args...)
	br := t.conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.usable(); err != nil {
		return &failedBatch{err: err}
	}
	nb := t.first()
	if nb == nil {
		return t.conn.SendBatch(ctx, b)
	}
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, nb)
	if _, err := br.Exec(); err != nil {
		return &failedBatch{err: err, br: br}
	}
	return br
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.usable(); err != nil {
		return 0, err
	}
	if b := t.first(); b != nil {
		if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
			return 0, err
		}
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// Commit sends COMMIT; a transaction that sent nothing has nothing to commit. As pgx's own, it reports
// pgx.ErrTxCommitRollback when PostgreSQL rolled back instead (a statement had failed).
func (t *lazyTx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	if !t.begun {
		return nil
	}
	tag, err := t.conn.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *lazyTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	if !t.begun || t.conn.PgConn().TxStatus() == 'I' {
		return nil
	}
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
}

func (t *lazyTx) Begin(context.Context) (pgx.Tx, error) { return nil, errNested }

// LargeObjects is not offered: nothing here stores large objects.
func (t *lazyTx) LargeObjects() pgx.LargeObjects {
	panic("store: WithTx's transactions offer no large objects")
}

func (t *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Prepare(ctx, name, sql)
}

func (t *lazyTx) Conn() *pgx.Conn { return t.conn }

// batchRows are the rows of a statement sent with BEGIN: closing them finishes the batch.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Close() {
	if r.br == nil {
		return
	}
	r.Rows.Close()
	r.err = r.br.Close()
	r.br = nil
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// row is QueryRow's answer over Query, with pgx's rules: pgx.ErrNoRows when there is none.
type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// failedBatch answers every result of a batch whose BEGIN failed with that failure.
type failedBatch struct {
	err error
	br  pgx.BatchResults
}

func (f *failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f *failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f *failedBatch) QueryRow() pgx.Row                { return &row{err: f.err} }
func (f *failedBatch) Close() error {
	if f.br != nil {
		_ = f.br.Close()
		f.br = nil
	}
	return f.err
}
func (f *failedBatch) Tx() pgx.Tx { return nil }
