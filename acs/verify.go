package acs

import (
	"context"
	"crypto/subtle"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/apperr"
	"example.com/acs/authval"
	"example.com/acs/cards"
	"example.com/acs/hsm"
)

// Verification for the issuer's authorisation host (issue 15): an authorisation request carries the
// authentication value the merchant got; the host asks whether it is genuine and belongs to this card
// and purchase. The ACS finds the transaction it answered, compares what the host saw with what was
// authenticated, and recomputes the value with the HSM key the value names.

// VerifyRequest is what the authorisation host knows from the authorisation request, with EMV names.
type VerifyRequest struct {
	// AcctNumber is the card number of the authorisation (never logged or returned).
	AcctNumber string `json:"acctNumber" validate:"required,number,min=13,max=19"`
	// ACSTransID or DSTransID names the authentication; Mastercard's authorisation carries the DS's.
	// Given both, both must be the transaction's.
	ACSTransID string `json:"acsTransID" validate:"required_without=DSTransID,omitempty,uuid"`
	DSTransID  string `json:"dsTransID" validate:"required_without=ACSTransID,omitempty,uuid"`
	// PurchaseAmount is in minor units, as in the AReq; PurchaseCurrency ISO 4217 numeric. Both absent
	// for a non-payment authentication.
	PurchaseAmount   string `json:"purchaseAmount" validate:"required_with=PurchaseCurrency,omitempty,number,max=48"`
	PurchaseCurrency string `json:"purchaseCurrency" validate:"required_with=PurchaseAmount,omitempty,number,len=3"`
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

// VerifyResult is the answer. On valid: the status, ECI and scheme of the authentication, when it was
// decided, and how often the value was verified before (a replay, or a second authorisation of a
// split shipment: the host decides). On invalid, Mismatch names what did not match (never values), but
// only once the value itself proved genuine for the card number asked about: before that, an answer
// that said more would let a token holder guess card numbers, amounts or outcomes one request at a
// time.
type VerifyResult struct {
	Result                VerifyOutcome `json:"result"`
	TransStatus           string        `json:"transStatus,omitempty"`
	ECI                   string        `json:"eci,omitempty"`
	Scheme                string        `json:"scheme,omitempty"`
	AuthenticatedAt       *time.Time    `json:"authenticatedAt,omitempty"`
	PreviousVerifications *int          `json:"previousVerifications,omitempty"`
	Mismatch              []string      `json:"mismatch,omitempty"`
}

const verifySelect = `SELECT t.acs_trans_id, t.ds_trans_id, k.pan_hash, k.scheme, t.trans_status, t.final_status,
		t.eci, t.device_channel, t.message_category, t.auth_method, a.verification, t.minor_units, t.currency,
		t.merchant_name, t.acquirer_merchant_id, coalesce(t.completed_at, t.created_at)
	FROM acs_transactions t JOIN issuer_cards k ON k.id = t.card_id
	LEFT JOIN app_confirmations a ON a.acs_trans_id = t.acs_trans_id`

var (
	verifyByACSSQL = verifySelect + ` WHERE t.acs_trans_id = $1`
	// A DS transaction ID is the DS's: compared case-blind (index acs_transactions_ds_lower), and should
	// AReqs have reused one, each of the newest few is tried (the genuine one cannot be hidden by a
	// later AReq with the same id).
	verifyByDSSQL = verifySelect + ` WHERE lower(t.ds_trans_id) = lower($1) ORDER BY t.created_at DESC LIMIT 5`
)

// AVVerifier answers verification requests.
type AVVerifier struct {
	pool  *pgxpool.Pool
	cards *cards.Directory
	av    *authval.Service
	clock clockwork.Clock
}

// NewAVVerifier returns an AVVerifier.
func NewAVVerifier(pool *pgxpool.Pool, dir *cards.Directory, av *authval.Service, clock clockwork.Clock) *AVVerifier {
	return &AVVerifier{pool: pool, cards: dir, av: av, clock: clock}
}

// storedAuth is a stored transaction as the verification reads it.
type storedAuth struct {
	id                                       uuid.UUID
	ds                                       string
	panHash                                  []byte
	scheme, status, channel, category        string
	final, eci, method, how, currency, merch *string
	merchantID                               *string
	minor                                    *int64
	at                                       time.Time
}

// Verify checks req against the stored transaction. Only a database or token failure is an error.
func (v *AVVerifier) Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	sql, key := verifyByACSSQL, req.ACSTransID
	if key == "" {
		sql, key = verifyByDSSQL, req.DSTransID
	}
	if _, err := uuid.Parse(key); err != nil {
		return VerifyResult{}, apperr.Field("acsTransID", "an acsTransID or dsTransID (UUID) is needed")
	}
	hash, err := v.cards.LookupHash(req.AcctNumber)
	if err != nil && !errors.Is(err, cards.ErrNotFound) {
		return VerifyResult{}, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	rows, err := v.pool.Query(ctx, sql, key)
	if err != nil {
		return VerifyResult{}, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedAuth, error) {
		var s storedAuth
		err := r.Scan(&s.id, &s.ds, &s.panHash, &s.scheme, &s.status, &s.final, &s.eci, &s.channel, &s.category, &s.method,
			&s.how, &s.minor, &s.currency, &s.merch, &s.merchantID, &s.at)
		return s, err
	})
	if err != nil {
		return VerifyResult{}, err
	}
	if len(found) == 0 {
		return VerifyResult{Result: AVUnknown}, nil
	}
	var first VerifyResult
	for i, s := range found {
		res, err := v.check(req, hash, s)
		if err != nil {
			return VerifyResult{}, err
		}
		if res.Result == AVValid {
			return v.record(ctx, s, res)
		}
		if i == 0 {
			first = res
		}
	}
	return first, nil
}

// check compares req with one stored transaction: the value first, the rest only for a genuine value.
func (v *AVVerifier) check(req VerifyRequest, hash []byte, s storedAuth) (VerifyResult, error) {
	invalid := VerifyResult{Result: AVInvalid}
	ds, err := uuid.Parse(s.ds)
	if err != nil {
		return invalid, nil // not a UUID: no value was computed for it
	}
	t := authval.Transaction{Scheme: cards.Scheme(s.scheme), PAN: req.AcctNumber, ACSTransID: s.id, DSTransID: ds,
		Channel: s.channel, Category: s.category, MerchantName: deref(s.merch)}
	switch {
	case s.status == "Y" || s.status == "A":
		t.Status, t.Method = s.status, decidedMethod(s.status, s.channel)
	case s.final != nil && *s.final == "Y":
		t.Status, t.Method = "Y", avMethod(Via(deref(s.method)), Verification(deref(s.how)))
	default:
		return invalid, nil // the authentication did not succeed (or has not ended): no value is its
	}
	if s.minor != nil && s.currency != nil {
		t.HasAmount, t.MinorUnits, t.Currency = true, *s.minor, *s.currency
	}
	ok, err := v.av.Verify(t, req.AuthenticationValue)
	if errors.Is(err, hsm.ErrUnavailable) {
		return invalid, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	if err != nil {
		return invalid, err
	}
	if !ok {
		return invalid, nil
	}
	// The value is genuine for this card number: now say what else does not match.
	if hash == nil || subtle.ConstantTimeCompare(hash, s.panHash) != 1 {
		invalid.Mismatch = append(invalid.Mismatch, "acctNumber") // a Visa PAN longer than 16 digits
	}
	if req.PurchaseAmount != "" || t.HasAmount {
		if n, err := strconv.ParseInt(req.PurchaseAmount, 10, 64); err != nil || !t.HasAmount || n != t.MinorUnits {
			invalid.Mismatch = append(invalid.Mismatch, "purchaseAmount")
		}
		if req.PurchaseCurrency != t.Currency {
			invalid.Mismatch = append(invalid.Mismatch, "purchaseCurrency")
		}
	}
	if req.AcquirerMerchantID != "" && req.AcquirerMerchantID != deref(s.merchantID) {
		invalid.Mismatch = append(invalid.Mismatch, "acquirerMerchantID")
	}
	if req.ACSTransID != "" && req.DSTransID != "" && !strings.EqualFold(req.DSTransID, s.ds) {
		invalid.Mismatch = append(invalid.Mismatch, "dsTransID")
	}
	if len(invalid.Mismatch) > 0 {
		return invalid, nil
	}
	at := s.at
	return VerifyResult{Result: AVValid, TransStatus: t.Status, ECI: deref(s.eci), Scheme: s.scheme, AuthenticatedAt: &at}, nil
}

// record counts a valid verification and reports how many came before.
func (v *AVVerifier) record(ctx context.Context, s storedAuth, res VerifyResult) (VerifyResult, error) {
	var before int
	if err := v.pool.QueryRow(ctx, `UPDATE acs_transactions SET av_verifications = av_verifications + 1, av_last_verified_at = $2
		WHERE acs_trans_id = $1 RETURNING av_verifications - 1`, s.id, v.clock.Now()).Scan(&before); err != nil {
		return VerifyResult{}, err
	}
	res.PreviousVerifications = &before
	return res, nil
}
