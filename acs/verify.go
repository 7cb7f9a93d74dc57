package acs

import (
	"context"
	"crypto/subtle"
	"errors"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/apperr"
	"example.com/acs/authval"
	"example.com/acs/cards"
)

// Verification for the issuer's authorisation host (issue 15): an authorisation request carries the
// authentication value the merchant got; the host asks whether it is genuine and belongs to this card
// and purchase. The ACS finds the transaction it answered, compares what the host saw with what was
// authenticated, and recomputes the value with the HSM key the value names.

// VerifyRequest is what the authorisation host knows from the authorisation request, with EMV names.
type VerifyRequest struct {
	// AcctNumber is the card number of the authorisation (never logged or returned).
	AcctNumber string `json:"acctNumber" validate:"required,numeric,min=13,max=19"`
	// ACSTransID or DSTransID names the authentication; Mastercard's authorisation carries the DS's.
	ACSTransID string `json:"acsTransID" validate:"required_without=DSTransID,omitempty,uuid"`
	DSTransID  string `json:"dsTransID" validate:"required_without=ACSTransID,omitempty,uuid"`
	// PurchaseAmount is in minor units, as in the AReq; PurchaseCurrency ISO 4217 numeric. Both absent
	// for a non-payment authentication.
	PurchaseAmount   string `json:"purchaseAmount" validate:"required_with=PurchaseCurrency,omitempty,numeric,max=48"`
	PurchaseCurrency string `json:"purchaseCurrency" validate:"required_with=PurchaseAmount,omitempty,numeric,len=3"`
	// AcquirerMerchantID, when given, must be the merchant of the authentication.
	AcquirerMerchantID  string `json:"acquirerMerchantID" validate:"omitempty,max=35"`
	AuthenticationValue string `json:"authenticationValue" validate:"required,len=28"`
}

// VerifyOutcome is the verification's answer.
type VerifyOutcome string

const (
	// AVValid: the value is this transaction's and matches the card and purchase.
	AVValid VerifyOutcome = "valid"
	// AVInvalid: the transaction exists, but the value, card or purchase does not match it.
	AVInvalid VerifyOutcome = "invalid"
	// AVUnknown: the ACS answered no transaction with this identifier.
	AVUnknown VerifyOutcome = "unknown_transaction"
)

// VerifyResult is the answer: on valid, the status and ECI of the authentication; on invalid, which
// elements did not match (never their values).
type VerifyResult struct {
	Result      VerifyOutcome `json:"result"`
	TransStatus string        `json:"transStatus,omitempty"`
	ECI         string        `json:"eci,omitempty"`
	Scheme      string        `json:"scheme,omitempty"`
	Mismatch    []string      `json:"mismatch,omitempty"`
}

const verifySelect = `SELECT t.acs_trans_id, t.ds_trans_id, k.pan_hash, k.scheme, t.trans_status, t.final_status,
		t.eci, t.device_channel, t.message_category, t.auth_method, a.verification, t.minor_units, t.currency,
		t.merchant_name, t.acquirer_merchant_id
	FROM acs_transactions t JOIN issuer_cards k ON k.id = t.card_id
	LEFT JOIN app_confirmations a ON a.acs_trans_id = t.acs_trans_id`

var (
	verifyByACSSQL = verifySelect + ` WHERE t.acs_trans_id = $1`
	// A DS transaction ID is the DS's; should one be reused, the latest transaction with it counts
	// (index acs_transactions_ds, migration 00030).
	verifyByDSSQL = verifySelect + ` WHERE t.ds_trans_id = $1 ORDER BY t.created_at DESC LIMIT 1`
)

// AVVerifier answers verification requests.
type AVVerifier struct {
	pool  *pgxpool.Pool
	cards *cards.Directory
	av    *authval.Service
}

// NewAVVerifier returns an AVVerifier.
func NewAVVerifier(pool *pgxpool.Pool, dir *cards.Directory, av *authval.Service) *AVVerifier {
	return &AVVerifier{pool: pool, cards: dir, av: av}
}

// Verify checks req against the stored transaction. Only a database or token failure is an error.
func (v *AVVerifier) Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	var byACS, byDS *uuid.UUID
	if id, err := uuid.Parse(req.ACSTransID); err == nil {
		byACS = &id
	} else if id, err := uuid.Parse(req.DSTransID); err == nil {
		byDS = &id
	} else {
		return VerifyResult{}, apperr.Field("acsTransID", "an acsTransID or dsTransID (UUID) is needed")
	}
	hash, err := v.cards.LookupHash(req.AcctNumber)
	if err != nil && !errors.Is(err, cards.ErrNotFound) {
		return VerifyResult{}, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	var (
		id, ds                                   uuid.UUID
		panHash                                  []byte
		scheme, status, channel, category        string
		final, eci, method, how, currency, merch *string
		minor                                    *int64
		merchantID                               string
	)
	sql, key := verifyByACSSQL, byACS
	if byACS == nil {
		sql, key = verifyByDSSQL, byDS
	}
	err = v.pool.QueryRow(ctx, sql, *key).Scan(&id, &ds, &panHash, &scheme, &status, &final, &eci, &channel, &category, &method, &how, &minor, &currency,
		&merch, &merchantID)
	if errors.Is(err, pgx.ErrNoRows) {
		return VerifyResult{Result: AVUnknown}, nil
	}
	if err != nil {
		return VerifyResult{}, err
	}
	out := VerifyResult{Result: AVInvalid, Scheme: scheme}
	t := authval.Transaction{Scheme: cards.Scheme(scheme), PAN: req.AcctNumber, ACSTransID: id, DSTransID: ds,
		Channel: channel, Category: category, MerchantName: deref(merch)}
	switch {
	case status == "Y" && channel == Channel3RI:
		t.Status, t.Method = "Y", authval.MerchantInitiated
	case status == "Y":
		t.Status, t.Method = "Y", authval.Frictionless
	case status == "A":
		t.Status, t.Method = "A", authval.Attempted
	case final != nil && *final == "Y":
		t.Status, t.Method = "Y", avMethod(Via(deref(method)), Verification(deref(how)))
	default:
		// The authentication did not succeed (or has not ended): no value can belong to it.
		out.Mismatch = append(out.Mismatch, "transStatus")
		return out, nil
	}
	if hash == nil || subtle.ConstantTimeCompare(hash, panHash) != 1 {
		out.Mismatch = append(out.Mismatch, "acctNumber")
	}
	if minor != nil && currency != nil {
		t.HasAmount, t.MinorUnits, t.Currency = true, *minor, *currency
	}
	if req.PurchaseAmount != "" || t.HasAmount {
		if n, err := strconv.ParseInt(req.PurchaseAmount, 10, 64); err != nil || !t.HasAmount || n != t.MinorUnits {
			out.Mismatch = append(out.Mismatch, "purchaseAmount")
		}
		if req.PurchaseCurrency != t.Currency {
			out.Mismatch = append(out.Mismatch, "purchaseCurrency")
		}
	}
	if req.AcquirerMerchantID != "" && req.AcquirerMerchantID != merchantID {
		out.Mismatch = append(out.Mismatch, "acquirerMerchantID")
	}
	if len(out.Mismatch) > 0 {
		return out, nil
	}
	ok, err := v.av.Verify(t, req.AuthenticationValue)
	if err != nil {
		return VerifyResult{}, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	if !ok {
		out.Mismatch = []string{"authenticationValue"}
		return out, nil
	}
	return VerifyResult{Result: AVValid, TransStatus: t.Status, ECI: deref(eci), Scheme: scheme}, nil
}
