// Package whitelist owns each card's trusted merchants (R-WL-1..3): adding one together with a
// successful confirmation, listing and removing them, and the lookup the risk decision asks. A merchant
// is identified as EMV identifies it, by acquirer BIN and acquirer merchant id; its name is kept for
// display only, so a merchant cannot join a list by calling itself like a trusted one.
//
// Who may change a list is decided by the callers: adding happens only inside the database transaction
// that records a successful challenge (package acs), removing only after a strong authentication
// (portal: mTAN and security answer; app: device signature and PIN), as PSD2 RTS Art. 13 requires.
package whitelist

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/apperr"
)

// Merchant identifies a merchant as the AReq does.
type Merchant struct {
	AcquirerBIN        string
	AcquirerMerchantID string
	Name               string
}

// Entry is a live whitelist entry.
type Entry struct {
	ID                 uuid.UUID `json:"id"`
	AcquirerBIN        string    `json:"acquirer_bin"`
	AcquirerMerchantID string    `json:"acquirer_merchant_id"`
	MerchantName       string    `json:"merchant_name"`
	AddedAt            time.Time `json:"added_at"`
}

// Querier is a pool or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// List is the whitelist store.
type List struct {
	pool  *pgxpool.Pool
	clock clockwork.Clock
}

// New returns a List.
func New(pool *pgxpool.Pool, clock clockwork.Clock) *List { return &List{pool: pool, clock: clock} }

// AddTx puts m on the card's list inside tx, the transaction that records the successful challenge
// transID. A merchant already on the list is left as it is (its first entry keeps its date).
func (l *List) AddTx(ctx context.Context, tx pgx.Tx, cardID uuid.UUID, m Merchant, transID uuid.UUID) error {
	sql, args := l.AddSQL(cardID, m, transID)
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// AddSQL is AddTx's statement and arguments, for a caller that sends it in a batch with the rest of
// the challenge's end (one round trip).
func (l *List) AddSQL(cardID uuid.UUID, m Merchant, transID uuid.UUID) (string, []any) {
	return `INSERT INTO whitelist_entries (id, card_id, acquirer_bin, acquirer_merchant_id, merchant_name, added_at,
		added_by_trans_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (card_id, acquirer_bin, acquirer_merchant_id) WHERE removed_at IS NULL DO NOTHING`,
		[]any{uuid.New(), cardID, m.AcquirerBIN, m.AcquirerMerchantID, m.Name, l.clock.Now(), transID}
}

// Contains reports whether the merchant is on the card's list, read through q (the decision's
// transaction), so that a removal committed before an AReq is seen by it.
func (l *List) Contains(ctx context.Context, q Querier, cardID uuid.UUID, acquirerBIN, merchantID string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM whitelist_entries WHERE card_id = $1 AND acquirer_bin = $2
		AND acquirer_merchant_id = $3 AND removed_at IS NULL)`, cardID, acquirerBIN, merchantID).Scan(&ok)
	return ok, err
}

// List returns the card's live entries, newest first.
func (l *List) List(ctx context.Context, cardID uuid.UUID) ([]Entry, error) {
	rows, err := l.pool.Query(ctx, `SELECT id, acquirer_bin, acquirer_merchant_id, merchant_name, added_at FROM whitelist_entries
		WHERE card_id = $1 AND removed_at IS NULL ORDER BY added_at DESC, id`, cardID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		return e, r.Scan(&e.ID, &e.AcquirerBIN, &e.AcquirerMerchantID, &e.MerchantName, &e.AddedAt)
	})
}

// Remove takes an entry off the card's list; via names the channel (portal, app, support). An entry of
// another card, or one removed already, is NotFound: a caller learns nothing about other cards' lists.
func (l *List) Remove(ctx context.Context, cardID, entryID uuid.UUID, via string) error {
	return l.RemoveVia(ctx, l.pool, cardID, entryID, via)
}

// Execer runs a statement in the caller's transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RemoveVia is Remove within the caller's transaction (support removes an entry and audits it together).
func (l *List) RemoveVia(ctx context.Context, q Execer, cardID, entryID uuid.UUID, via string) error {
	tag, err := q.Exec(ctx, `UPDATE whitelist_entries SET removed_at = $3, removed_via = $4
		WHERE id = $1 AND card_id = $2 AND removed_at IS NULL`, entryID, cardID, l.clock.Now(), via)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return apperr.New(apperr.NotFound, "no such entry on this card's list")
	}
	return nil
}
