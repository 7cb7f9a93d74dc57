// Package audit owns the two records the bank must be able to show: the append-only audit log of staff
// and security-relevant actions (R-SUP-3: who, what, when, which card by masked number), and the log of
// reads of the issuer's card data during registration (R-REG-9), counted for the cardholder over the
// last 13 months. It is apart from the debug log: what it keeps is evidence, and it never holds a full
// card number or a secret.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
)

// Execer is a pool or a transaction: an audit entry commits with the action it records.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Entry is one audited action.
type Entry struct {
	At         time.Time         `json:"at"`
	Actor      string            `json:"actor"`  // "staff:mia", "cardholder", "system"
	Action     string            `json:"action"` // "letter.request", "card.block", ...
	CardID     *uuid.UUID        `json:"card_id,omitempty"`
	CardMasked string            `json:"card,omitempty"` // 400011******0017; never the full number
	Details    map[string]string `json:"details,omitempty"`
}

var maskedRE = regexp.MustCompile(`^[0-9]{6}[*]{3,9}[0-9]{4}$`)

// Log writes audit entries and access records.
type Log struct {
	pool  *pgxpool.Pool
	clock clockwork.Clock
}

// New returns a Log.
func New(pool *pgxpool.Pool, clock clockwork.Clock) *Log { return &Log{pool: pool, clock: clock} }

// Record appends an entry through q (the caller's transaction, so the entry and the action commit or
// roll back together). A masked number that is not masked is refused rather than stored.
func (l *Log) Record(ctx context.Context, q Execer, e Entry) error {
	if e.CardMasked != "" && !maskedRE.MatchString(e.CardMasked) {
		return fmt.Errorf("audit: card number is not masked")
	}
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("audit: details: %w", err)
	}
	var masked *string
	if e.CardMasked != "" {
		masked = &e.CardMasked
	}
	if _, err := q.Exec(ctx, `INSERT INTO audit_log (at, actor, action, card_id, card_masked, details)
		VALUES ($1, $2, $3, $4, $5, $6)`, l.clock.Now(), e.Actor, e.Action, e.CardID, masked, details); err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

// ForCard lists a card's audit entries, oldest first.
func (l *Log) ForCard(ctx context.Context, cardID uuid.UUID) ([]Entry, error) {
	rows, err := l.pool.Query(ctx, `SELECT at, actor, action, card_id, coalesce(card_masked, ''), details FROM audit_log
		WHERE card_id = $1 ORDER BY at, id`, cardID)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var details []byte
		if err := rows.Scan(&e.At, &e.Actor, &e.Action, &e.CardID, &e.CardMasked, &details); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// IssuerDataRead records one read of the issuer's data of a card (R-REG-9).
func (l *Log) IssuerDataRead(ctx context.Context, q Execer, cardID uuid.UUID, purpose string) error {
	if _, err := q.Exec(ctx, `INSERT INTO issuer_data_access (card_id, purpose, accessed_at) VALUES ($1, $2, $3)`,
		cardID, purpose, l.clock.Now()); err != nil {
		return fmt.Errorf("audit: record issuer data read: %w", err)
	}
	return nil
}

// AccessWindowMonths is how far back the cardholder is shown reads of the issuer's data (R-REG-9).
const AccessWindowMonths = 13

// IssuerDataReads counts the reads of a card's issuer data in the last 13 months.
func (l *Log) IssuerDataReads(ctx context.Context, cardID uuid.UUID) (int, error) {
	since := l.clock.Now().AddDate(0, -AccessWindowMonths, 0)
	var n int
	if err := l.pool.QueryRow(ctx, `SELECT count(*) FROM issuer_data_access WHERE card_id = $1 AND accessed_at > $2`,
		cardID, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit: count issuer data reads: %w", err)
	}
	return n, nil
}
