package acs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"example.com/acs/emv"
)

// Record is one transaction of a card as support sees it: what was asked, what the ARes said and, for a
// challenge, how it ended, with every stored reason (R-AUTH-7: each decision is explainable).
type Record struct {
	ACSTransID      uuid.UUID        `json:"acs_trans_id"`
	At              time.Time        `json:"at"`
	Merchant        string           `json:"merchant"`
	Amount          *decimal.Decimal `json:"amount,omitempty"` // none for a non-payment authentication
	Currency        string           `json:"currency,omitempty"`
	ARes            string           `json:"ares_trans_status"`
	AResReason      string           `json:"ares_trans_status_reason,omitempty"`
	Final           string           `json:"final_trans_status,omitempty"`
	FinalReason     string           `json:"final_trans_status_reason,omitempty"`
	ChallengeCancel string           `json:"challenge_cancel,omitempty"`
	Reasons         []string         `json:"reasons"`
}

// History returns a card's newest transactions, at most limit.
func History(ctx context.Context, pool *pgxpool.Pool, cardID uuid.UUID, limit int) ([]Record, error) {
	rows, err := pool.Query(ctx, `SELECT acs_trans_id, created_at, coalesce(merchant_name, ''), amount, coalesce(currency, ''), trans_status,
			coalesce(trans_status_reason, ''), coalesce(final_status, ''), coalesce(final_reason, ''), coalesce(challenge_cancel, ''), reasons
		FROM acs_transactions WHERE card_id = $1 ORDER BY created_at DESC, acs_trans_id LIMIT $2`, cardID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Record, error) {
		var x Record
		var reasons []byte
		if err := r.Scan(&x.ACSTransID, &x.At, &x.Merchant, &x.Amount, &x.Currency, &x.ARes, &x.AResReason, &x.Final,
			&x.FinalReason, &x.ChallengeCancel, &reasons); err != nil {
			return x, err
		}
		if _, code, ok := emv.CurrencyExponent(x.Currency); ok {
			x.Currency = code
		}
		return x, json.Unmarshal(reasons, &x.Reasons)
	})
}
