package acs

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Reasons of the risk decision.
const (
	ReasonLowValue             = "low_value_exemption"
	ReasonRequestorPrefers     = "requestor_prefers_challenge"
	ReasonAboveLowValue        = "amount_above_low_value"
	ReasonLowValueCountReached = "low_value_count_reached"
	ReasonLowValueSumReached   = "low_value_cumulative_reached"
	ReasonCrossCurrency        = "currency_not_eur"
	ReasonExemptionsOff        = "exemptions_off"
)

const (
	challengeIndPrefers = "03"
	currencyEUR         = "978"
)

// LowValue configures the low-value exemption (PSD2 RTS Art. 16): a purchase up to MaxAmount EUR goes
// without a challenge while, since the card's last strong authentication, no more than MaxCount such
// purchases and no more than MaxCumulative EUR in total have been let through. The RTS lets the issuer
// choose the count or the sum; this ACS holds both, which is never less strict.
type LowValue struct {
	Enabled       bool
	MaxAmount     decimal.Decimal
	MaxCumulative decimal.Decimal
	MaxCount      int
}

// DefaultLowValue is the RTS's own limits.
var DefaultLowValue = LowValue{Enabled: true, MaxAmount: decimal.NewFromInt(30), MaxCumulative: decimal.NewFromInt(100), MaxCount: 5}

// frictionless decides, inside the AReq's database transaction, whether a registered card's purchase
// goes without a challenge. It returns the reasons either way; a yes has counted the purchase.
func (lv LowValue) frictionless(ctx context.Context, tx pgx.Tx, cardID uuid.UUID, a *AReq, now time.Time) (bool, []string, error) {
	switch {
	case a.ChallengeInd == challengeIndMandated:
		return false, []string{ReasonChallengeMandated}, nil
	case a.ChallengeInd == challengeIndPrefers:
		return false, []string{ReasonRequestorPrefers}, nil
	case !lv.Enabled:
		return false, []string{ReasonExemptionsOff}, nil
	case a.Currency != currencyEUR:
		return false, []string{ReasonCrossCurrency}, nil
	case a.Amount.GreaterThan(lv.MaxAmount):
		return false, []string{ReasonAboveLowValue}, nil
	}
	// One guarded upsert: the row lock serialises parallel AReqs for the card, and the WHERE refuses the
	// purchase that would pass a limit.
	var count int
	err := tx.QueryRow(ctx, `INSERT INTO acs_sca_counters AS c (card_id, count, cumulative, since) VALUES ($1, 1, $2, $5)
		ON CONFLICT (card_id) DO UPDATE SET count = c.count + 1, cumulative = c.cumulative + $2
		WHERE c.count + 1 <= $3 AND c.cumulative + $2 <= $4
		RETURNING count`, cardID, a.Amount, lv.MaxCount, lv.MaxCumulative, now).Scan(&count)
	if err == pgx.ErrNoRows {
		var c int
		var sum decimal.Decimal
		if err := tx.QueryRow(ctx, `SELECT count, cumulative FROM acs_sca_counters WHERE card_id = $1`, cardID).Scan(&c, &sum); err != nil {
			return false, nil, err
		}
		if c+1 > lv.MaxCount {
			return false, []string{ReasonLowValueCountReached}, nil
		}
		return false, []string{ReasonLowValueSumReached}, nil
	}
	if err != nil {
		return false, nil, err
	}
	return true, []string{ReasonLowValue}, nil
}

// resetSCACounters starts the card's low-value counting afresh after a strong authentication.
func resetSCACounters(ctx context.Context, tx pgx.Tx, cardID uuid.UUID) error {
	_, err := tx.Exec(ctx, `DELETE FROM acs_sca_counters WHERE card_id = $1`, cardID)
	return err
}
