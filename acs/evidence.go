package acs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/apperr"
	"example.com/acs/cards"
)

// Evidence is what proves an app approval to an arbitrator (§ 675w BGB: the bank carries the burden of
// proof that a payment was authorised): what the cardholder's device signed, how the cardholder was
// verified on it, when, and two checks made again from the stored data, offline, without the app.
type Evidence struct {
	ACSTransID   uuid.UUID
	Card         string // masked
	Merchant     string
	Amount       string // as the cardholder saw it, e.g. "49,90 EUR"
	Date         time.Time
	State        string // approved, declined, failed, expired, pending
	Verification string // pin, biometric, biometric_failed, offline_password
	AnsweredAt   *time.Time
	TransStatus  string // the transaction's end (Y, N, ...), "" while open
	// SignedData is the exact byte string the device signed (Confirmation.Canonical), Signature its
	// ECDSA P-256 signature (ASN.1 DER), DeviceKeySHA256 the fingerprint of the key it verifies with.
	SignedData      []byte
	Signature       []byte
	DeviceKeySHA256 []byte
	// SignatureValid: the registration's device key (its fingerprint as recorded) verifies the signature
	// over SignedData. DataMatches: SignedData is what the stored transaction says now (transaction id,
	// amount, currency, merchant, date, nonce); a changed record no longer matches.
	SignatureValid bool
	DataMatches    bool
	// Trusted: the signed answer also trusted the merchant (R-WL-1).
	Trusted bool
}

// Verified reports whether the evidence holds: a signed answer whose signature verifies and whose data
// are the transaction's.
func (e *Evidence) Verified() bool {
	return len(e.SignedData) > 0 && e.SignatureValid && e.DataMatches
}

// Evidence reads and re-verifies the app answer of a transaction.
func (c *Challenges) Evidence(ctx context.Context, id uuid.UUID) (*Evidence, error) {
	e := &Evidence{ACSTransID: id}
	var regID uuid.UUID
	var verification, final *string
	var first6, last4 string
	var length int
	conf, err := scanConfirmation(c.d.Pool.QueryRow(ctx, `SELECT `+confirmationColumns+`, a.registration_id, a.state, a.verification,
			a.answered_at, a.signed_data, a.signature, a.device_key_sha256, t.final_status, k.pan_first6, k.pan_last4, k.pan_length
		FROM app_confirmations a JOIN acs_transactions t ON t.acs_trans_id = a.acs_trans_id JOIN issuer_cards k ON k.id = a.card_id
		WHERE a.acs_trans_id = $1`, id), &regID, &e.State, &verification, &e.AnsweredAt, &e.SignedData, &e.Signature,
		&e.DeviceKeySHA256, &final, &first6, &last4, &length)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no app confirmation for this transaction")
	}
	if err != nil {
		return nil, err
	}
	e.Verification, e.TransStatus = deref(verification), deref(final)
	e.Merchant, e.Amount, e.Date = conf.Merchant, FormatAmount(conf.Amount, conf.Currency), conf.Date
	e.Card = cards.Mask(first6, last4, length)
	if len(e.SignedData) == 0 {
		return e, nil // no signed answer (pending, expired, or an offline password)
	}
	e.Trusted = bytes.Equal(e.SignedData, conf.CanonicalTrusting())
	e.DataMatches = e.Trusted || bytes.Equal(e.SignedData, conf.Canonical())
	key, err := c.d.Registration.DeviceKeyOf(ctx, regID)
	if err != nil {
		return nil, err
	}
	fp := sha256.Sum256(key)
	e.SignatureValid = bytes.Equal(fp[:], e.DeviceKeySHA256) && verifySigned(key, e.SignedData, e.Signature)
	return e, nil
}
