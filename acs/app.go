package acs

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/registration"
	"example.com/acs/store"
)

// MaxPendingConfirmations bounds the confirmations waiting in one card's app: a challenge beyond it is
// refused rather than pushed (push bombing).
const MaxPendingConfirmations = 3

// MaxPushesPerWindow confirmations a card's app may be sent within PushWindow, answered or not.
const (
	MaxPushesPerWindow = 5
	PushWindow         = 10 * time.Minute
)

// Confirmation is what the app shows and signs for a purchase on an app card (R-AUTH-2, R-AUTH-3).
type Confirmation struct {
	ID       uuid.UUID       `json:"id"` // the ACS transaction id
	CardID   uuid.UUID       `json:"card_id"`
	Merchant string          `json:"merchant"`
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"` // ISO 4217 numeric
	Exponent int             `json:"exponent"`
	Date     time.Time       `json:"date"`
	Nonce    []byte          `json:"nonce"`
}

// Canonical is the exact byte string the app signs: a JSON array of a version tag, the transaction id,
// the amount with its currency's minor units, the currency, the merchant, the date (UTC, seconds) and the
// nonce. An array leaves no room for ambiguity between fields; any change of any field changes it.
func (c Confirmation) Canonical() []byte {
	b, _ := json.Marshal([]string{"acs-confirmation-v1", c.ID.String(), c.Amount.StringFixed(int32(c.Exponent)), c.Currency,
		c.Merchant, c.Date.UTC().Format(time.RFC3339), base64.RawURLEncoding.EncodeToString(c.Nonce)})
	return b
}

// CanonicalTrusting is what the app signs when the cardholder approves and also trusts the merchant
// (R-WL-1): the canonical form with "trust-merchant" after it. The trust is then part of what the
// device signed: no one on the way can add it, and the evidence shows it.
func (c Confirmation) CanonicalTrusting() []byte {
	b := c.Canonical()
	return append(b[:len(b)-1], []byte(`,"trust-merchant"]`)...)
}

// VerifyConfirmation checks an ECDSA P-256 signature (ASN.1 DER) over the confirmation's canonical form
// with the device key (PKIX DER).
func VerifyConfirmation(deviceKey []byte, c Confirmation, sig []byte) bool {
	return verifySigned(deviceKey, c.Canonical(), sig)
}

// verifySigned checks an ECDSA P-256 signature (ASN.1 DER over SHA-256) of data with a PKIX DER key.
func verifySigned(deviceKey, data, sig []byte) bool {
	pub, err := x509.ParsePKIXPublicKey(deviceKey)
	k, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok {
		return false
	}
	sum := sha256.Sum256(data)
	return ecdsa.VerifyASN1(k, sum[:], sig)
}

// offlineSuite names the offline-password algorithm, in the manner of an RFC 6287 OCRA suite: HMAC-SHA256,
// 8 digits, the question being the challenge number, the amount in minor units and the currency.
const offlineSuite = "OCRA-1:HOTP-SHA256-8:QN08-AMOUNT-CURRENCY"

// OfflinePassword derives the 8-digit offline password (R-AUTH-4) from the device's secret, the challenge
// number the page shows and the amount the cardholder reads there. The challenge number is made for one
// transaction (merchant included), so the password is bound to amount and merchant.
func OfflinePassword(secret []byte, challenge string, minorUnits int64, currency string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(offlineSuite))
	m.Write([]byte{0})
	m.Write([]byte(challenge + "|" + strconv.FormatInt(minorUnits, 10) + "|" + currency))
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f // dynamic truncation, RFC 4226 5.3
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%08d", v%100000000)
}

// Pusher tells a device that a confirmation waits (FCM, APNs). A failed push is not an error of the
// challenge: the app also learns of it by long-polling and by listing when opened.
type Pusher interface {
	Push(ctx context.Context, registrationID uuid.UUID, c Confirmation) error
}

// openConfirmationTx creates the confirmation of an app challenge and wakes waiting apps (NOTIFY). It
// returns false when the card already has MaxPendingConfirmations waiting.
func (c *Challenges) openConfirmationTx(ctx context.Context, tx pgx.Tx, acsTransID uuid.UUID, t *txn) (bool, error) {
	// Waiting ones, and all of the last window whatever became of them: cancelling and repeating must
	// not lift the bound on pushes (push bombing, ASVS 6.6.3).
	var pending, recent int
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = '`+string(ConfirmationPending)+`'), count(*)
		FROM app_confirmations WHERE card_id = $1 AND (state = '`+string(ConfirmationPending)+`' OR created_at > $2)`, t.cardID, c.d.Clock.Now().Add(-PushWindow)).
		Scan(&pending, &recent); err != nil {
		return false, err
	}
	if pending >= MaxPendingConfirmations || recent >= MaxPushesPerWindow {
		return false, nil
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return false, err
	}
	challenge, err := registration.RandomDigits(8)
	if err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO app_confirmations (acs_trans_id, card_id, registration_id, nonce, offline_challenge, state,
		created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, acsTransID, t.cardID, t.regID, nonce, challenge, string(ConfirmationPending),
		c.d.Clock.Now()); err != nil {
		return false, err
	}
	_, err = tx.Exec(ctx, `SELECT pg_notify('app_confirmations', $1)`, t.cardID.String())
	return true, err
}

// A non-payment authentication has no amount: the app is shown 0 in the currency of the bank (and the
// merchant or requestor), so that the signed form stays the same for every confirmation.
const confirmationColumns = `a.acs_trans_id, a.card_id, coalesce(t.merchant_name, t.requestor_name, ''), coalesce(t.amount, 0),
	coalesce(t.currency, '978'), coalesce(t.exponent, 2), coalesce(t.purchase_date, t.created_at), a.nonce`

func scanConfirmation(row pgx.Row, extra ...any) (Confirmation, error) {
	var x Confirmation
	err := row.Scan(append([]any{&x.ID, &x.CardID, &x.Merchant, &x.Amount, &x.Currency, &x.Exponent, &x.Date, &x.Nonce}, extra...)...)
	return x, err
}

// Pending lists the confirmations waiting for the card's app, oldest first.
func (c *Challenges) Pending(ctx context.Context, cardID uuid.UUID) ([]Confirmation, error) {
	rows, err := c.d.Pool.Query(ctx, `SELECT `+confirmationColumns+` FROM app_confirmations a
		JOIN acs_transactions t ON t.acs_trans_id = a.acs_trans_id
		WHERE a.card_id = $1 AND a.state = '`+string(ConfirmationPending)+`' AND t.final_status IS NULL ORDER BY a.created_at`, cardID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Confirmation, error) { return scanConfirmation(r) })
}

// Verification is how the app verified the cardholder before answering.
type Verification string

const (
	VerifiedPIN       Verification = "pin"
	VerifiedBiometric Verification = "biometric"
	// BiometricFailed: the biometric check failed or was cancelled; the purchase is not authorised
	// ("Identifikation fehlgeschlagen", R-AUTH-6).
	BiometricFailed Verification = "biometric_failed"
	// VerifiedOfflinePassword: no answer in the app; the app's offline password was typed into the
	// challenge page.
	VerifiedOfflinePassword Verification = "offline_password"
)

// Answer is the app's answer to a confirmation.
type Answer struct {
	Approve      bool
	Verification Verification
	PIN          string
	// Signature is the device key's ECDSA signature (ASN.1 DER) over the confirmation's Canonical form,
	// or over CanonicalTrusting with TrustMerchant.
	Signature []byte
	// TrustMerchant: with an approval, the merchant becomes trusted (R-WL-1), as with the mTAN page's box.
	TrustMerchant bool
}

// Reasons of an app challenge's end.
const (
	ReasonDeclined             = "declined_in_app"
	ReasonIdentificationFailed = "identification_failed"
	ReasonPushLimit            = "too_many_pending_confirmations"
	ReasonAppLocked            = "app_locked_wrong_pin"
)

var (
	resultDeclined       = Result{Status: "N", Reason: statusReasonAuthFailed, ChallengeState: ChallengeFailed, Why: ReasonDeclined}
	resultIdentification = Result{Status: "N", Reason: statusReasonAuthFailed, ChallengeState: ChallengeFailed, Why: ReasonIdentificationFailed}
	resultPushLimit      = Result{Status: "N", Reason: statusReasonAuthFailed, ChallengeState: ChallengeFailed, Why: ReasonPushLimit}
	resultAppLocked      = Result{Status: "N", Reason: statusReasonAuthFailed, ChallengeState: ChallengeFailed, Why: ReasonAppLocked}
)

var errNotPending = apperr.New(apperr.Conflict, "this confirmation has been answered or has ended")

// AnswerApp takes the app's answer to confirmation id of card cardID. The signature must be made by the
// device key of the card's active app registration (read here, not taken from the caller) over exactly
// the stored confirmation; a PIN is checked against its HSM verifier (five wrong lock the app and end
// the challenge). Approval ends the challenge with Y; a decline or a failed biometric check with N. An
// answer is taken once.
func (c *Challenges) AnswerApp(ctx context.Context, cardID, id uuid.UUID, ans Answer) (*Final, error) {
	conf, regID, err := c.confirmation(ctx, cardID, id)
	if err != nil {
		return nil, err
	}
	if card, err := c.d.Cards.Get(ctx, cardID); err != nil {
		return nil, err
	} else if !card.Status.Usable() {
		return nil, apperr.New(apperr.Forbidden, "the card is blocked")
	}
	reg, err := c.d.Registration.Active(ctx, cardID)
	if err != nil || reg.ID != regID {
		return nil, apperr.New(apperr.Forbidden, "this confirmation belongs to another registration of the card")
	}
	deviceKey, err := c.d.Registration.DeviceKey(ctx, cardID, registration.Active)
	if err != nil {
		return nil, err
	}
	signed := conf.Canonical()
	if ans.TrustMerchant {
		if !ans.Approve {
			return nil, apperr.Field("trust_merchant", "only with an approval")
		}
		signed = conf.CanonicalTrusting()
	}
	if !verifySigned(deviceKey, signed, ans.Signature) {
		return nil, apperr.Field("signature", "does not match this confirmation (transaction, amount, currency, merchant, date, trust)")
	}
	fp := sha256.Sum256(deviceKey)
	ev := &signedAnswer{data: signed, signature: ans.Signature, keySHA256: fp[:], trust: ans.TrustMerchant}
	result := resultSucceeded
	switch {
	case !ans.Approve:
		result = resultDeclined
	case ans.Verification == BiometricFailed:
		result = resultIdentification
	case ans.Verification == VerifiedPIN:
		if err := c.d.Registration.CheckPIN(ctx, cardID, ans.PIN); err != nil {
			if apperr.KindOf(err) == apperr.Locked {
				// The app is locked for good (R-AUTH-6): this purchase is not authorised either.
				_, _ = c.finishApp(ctx, id, resultAppLocked, VerifiedPIN, ev)
			}
			return nil, err
		}
	case ans.Verification == VerifiedBiometric:
	default:
		return nil, apperr.Field("user_verification", "must be pin, biometric or biometric_failed")
	}
	return c.finishApp(ctx, id, result, ans.Verification, ev)
}

// confirmation reads a pending confirmation of the card.
func (c *Challenges) confirmation(ctx context.Context, cardID, id uuid.UUID) (Confirmation, uuid.UUID, error) {
	var regID uuid.UUID
	var state string
	conf, err := scanConfirmation(c.d.Pool.QueryRow(ctx, `SELECT `+confirmationColumns+`, a.registration_id, a.state
		FROM app_confirmations a JOIN acs_transactions t ON t.acs_trans_id = a.acs_trans_id
		WHERE a.acs_trans_id = $1 AND a.card_id = $2`, id, cardID), &regID, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return conf, regID, apperr.New(apperr.NotFound, "no such confirmation for this card")
	}
	if err != nil {
		return conf, regID, err
	}
	if ConfirmationState(state) != ConfirmationPending {
		return conf, regID, errNotPending
	}
	return conf, regID, nil
}

// signedAnswer is what the app signed and how: kept with the confirmation as evidence (evidence.go).
type signedAnswer struct {
	data, signature, keySHA256 []byte
	trust                      bool // the cardholder also trusted the merchant
}

// finishApp consumes the confirmation (guarded: from pending only) and ends the challenge in the same
// database transaction; ev, the signed answer, is kept with it (nil: none, an offline password).
func (c *Challenges) finishApp(ctx context.Context, id uuid.UUID, r Result, how Verification, ev *signedAnswer) (*Final, error) {
	var f *Final
	var result error
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		result = nil
		e, ended, err := c.lockTx(ctx, tx, id)
		if err != nil || ended {
			result = errNotPending
			return err
		}
		ended, err = endConfirmation(ctx, tx, id, confirmationEnd(r), how, ev, c.d.Clock.Now())
		if err != nil {
			return err
		}
		if !ended {
			result = errNotPending
			return nil
		}
		answered := string(confirmationEnd(r))
		e.confirmationState = &answered
		if ev.trust && r.Status == "Y" {
			e.trust = true // end adds the merchant to the card's trusted list with the successful end (R-WL-1)
		}
		r.Verification = how
		f, err = c.d.Results.end(ctx, tx, e, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, result
}

// VerifyOffline checks an offline password typed into the challenge page (R-AUTH-4). A wrong one counts a
// failure of the challenge (with the others, at most MaxChallengeFailures); the right one approves, once.
func (c *Challenges) VerifyOffline(ctx context.Context, id uuid.UUID, password string) (Outcome, error) {
	var out Outcome
	var result error
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		out, result = "", nil
		e, ended, err := c.lockTx(ctx, tx, id)
		if err != nil || ended {
			result = errEnded
			return err
		}
		var regID uuid.UUID
		var challenge, currency, state string
		var minor int64
		var failures int
		err = tx.QueryRow(ctx, `SELECT a.registration_id, a.offline_challenge, a.state, coalesce(t.minor_units, 0), coalesce(t.currency, '978'), ch.failures
			FROM app_confirmations a JOIN acs_transactions t ON t.acs_trans_id = a.acs_trans_id
			JOIN acs_challenges ch ON ch.acs_trans_id = a.acs_trans_id WHERE a.acs_trans_id = $1 FOR UPDATE OF ch`, id).
			Scan(&regID, &challenge, &state, &minor, &currency, &failures)
		if errors.Is(err, pgx.ErrNoRows) {
			result = apperr.New(apperr.NotFound, "no app challenge for this transaction")
			return nil
		}
		if err != nil {
			return err
		}
		if ConfirmationState(state) != ConfirmationPending {
			result = errEnded
			return nil
		}
		if left, err := c.d.Registration.TriesLeft(ctx, tx, regID); err != nil {
			return err
		} else if left == 0 {
			out = OutcomeFailed
			_, err := c.d.Results.end(ctx, tx, e, resultLocked)
			return err
		}
		secret, err := c.d.Registration.OfflineSecret(ctx, tx, regID)
		if err != nil {
			return err
		}
		if hmac.Equal([]byte(OfflinePassword(secret, challenge, minor, currency)), []byte(strings.TrimSpace(password))) {
			if _, err := endConfirmation(ctx, tx, id, ConfirmationApproved, VerifiedOfflinePassword, nil, c.d.Clock.Now()); err != nil {
				return err
			}
			approved := string(ConfirmationApproved)
			e.confirmationState = &approved
			out = OutcomeSucceeded
			r := resultSucceeded
			r.Via = ViaOffline // typed into the page: an app one-time code, not a confirmation in the app
			_, err := c.d.Results.end(ctx, tx, e, r)
			return err
		}
		e.challengeFailures = failures
		if out, _, err = c.failTx(ctx, tx, e); out == OutcomePending {
			result = apperr.Field("offline_password", "the password is not correct")
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return out, result
}

// OfflineChallenge returns the challenge number the page shows for the offline password.
func (c *Challenges) OfflineChallenge(ctx context.Context, id uuid.UUID) (string, error) {
	var s string
	err := c.d.Pool.QueryRow(ctx, `SELECT offline_challenge FROM app_confirmations WHERE acs_trans_id = $1`, id).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", apperr.New(apperr.NotFound, "no app challenge for this transaction")
	}
	return s, err
}
