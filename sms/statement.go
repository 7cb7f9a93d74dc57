package sms

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"example.com/acs/cards"
)

// The monthly SMS statement (R-AUTH-9, issue 16): per card, the SMS sent in a billing month with time,
// purpose and price, for the card billing system to charge. SMS support marked as caused by abuse are
// left out. The file is a function of the month and the ledger: running it twice gives the same bytes.

// StatementColumns is the statement file's header. card_ref is the ACS's id of the card (the issuer
// API's POST /issuer/v1/cards/lookup gives it for a card number): the file holds no card number, only
// the masked one for people reading it.
var StatementColumns = []string{"card_ref", "card", "sent_at", "purpose", "price", "currency"}

// StatementLine is one charged SMS.
type StatementLine struct {
	CardRef  uuid.UUID
	Card     string // masked
	SentAt   time.Time
	Purpose  string
	Price    decimal.Decimal
	Currency string
}

// Month is a billing month in the bank's time zone: [From, To).
type Month struct{ From, To time.Time }

// ParseMonth reads YYYY-MM as a billing month in loc.
func ParseMonth(s string, loc *time.Location) (Month, error) {
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil || len(s) != 7 {
		return Month{}, errors.New("month must be YYYY-MM")
	}
	return Month{From: t, To: t.AddDate(0, 1, 0)}, nil
}

// Statement lists the month's charged SMS of every card, by card and time.
func Statement(ctx context.Context, pool *pgxpool.Pool, m Month) ([]StatementLine, error) {
	rows, err := pool.Query(ctx, `SELECT o.card_id, c.pan_first6, c.pan_last4, c.pan_length, o.sent_at, o.purpose, o.price, o.currency
		FROM sms_outbox o JOIN issuer_cards c ON c.id = o.card_id
		WHERE o.state = 'sent' AND o.sent_at >= $1 AND o.sent_at < $2 AND o.abuse_marked_at IS NULL
		ORDER BY o.card_id, o.sent_at, o.id`, m.From, m.To)
	if err != nil {
		return nil, fmt.Errorf("sms: statement: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementLine, error) {
		var l StatementLine
		var first6, last4 string
		var n int
		err := r.Scan(&l.CardRef, &first6, &last4, &n, &l.SentAt, &l.Purpose, &l.Price, &l.Currency)
		l.Card = cards.Mask(first6, last4, n)
		return l, err
	})
}

// WriteStatement writes lines as the statement file: CSV with StatementColumns, times in RFC 3339 in
// loc, prices with four decimals.
func WriteStatement(w io.Writer, lines []StatementLine, loc *time.Location) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(StatementColumns); err != nil {
		return err
	}
	for _, l := range lines {
		if err := cw.Write([]string{l.CardRef.String(), l.Card, l.SentAt.In(loc).Format(time.RFC3339), l.Purpose,
			l.Price.StringFixed(4), l.Currency}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ErrNoSuchSMS means the SMS is not one sent to the card.
var ErrNoSuchSMS = errors.New("sms: no such sent SMS for this card")

// MarkAbuse marks a sent SMS of the card as caused by abuse, within the caller's transaction; false:
// it was marked already.
func MarkAbuse(ctx context.Context, tx pgx.Tx, cardID, smsID uuid.UUID, by string, now time.Time) (bool, error) {
	var marked bool
	err := tx.QueryRow(ctx, `UPDATE sms_outbox SET abuse_marked_at = coalesce(abuse_marked_at, $4),
			abuse_marked_by = coalesce(abuse_marked_by, $3)
		WHERE id = $1 AND card_id = $2 AND state = 'sent'
		RETURNING abuse_marked_at = $4`, smsID, cardID, by, now).Scan(&marked)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrNoSuchSMS
	}
	if err != nil {
		return false, fmt.Errorf("sms: mark abuse: %w", err)
	}
	return marked, nil
}
