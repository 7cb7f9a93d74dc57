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
	"example.com/acs/cards"
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

// openConfirmationSQL creates the confirmation of an app challenge and wakes waiting apps (NOTIFY) in
// one statement, unless the card has MaxPendingConfirmations waiting or had MaxPushesPerWindow in the
// last window whatever became of them: cancelling and repeating must not lift the bound on pushes (push
// bombing, ASVS 6.6.3). A row comes back when it was created. $1 the transaction, $2 the card, $3 the
// registration, $4 the nonce, $5 the offline challenge, $6 now, $7 the window's start.
var openConfirmationSQL = `WITH n AS (SELECT count(*) FILTER (WHERE state = '` + string(ConfirmationPending) + `') AS pending,
		count(*) AS recent FROM app_confirmations WHERE card_id = $2 AND (state = '` + string(ConfirmationPending) + `' OR created_at > $7)),
	ins AS (INSERT INTO app_confirmations (acs_trans_id, card_id, registration_id, nonce, offline_challenge, state, created_at)
		SELECT $1, $2, $3, $4, $5, '` + string(ConfirmationPending) + `', $6 FROM n
		WHERE n.pending < ` + strconv.Itoa(MaxPendingConfirmations) + ` AND n.recent < ` + strconv.Itoa(MaxPushesPerWindow) + `
		RETURNING card_id)
	SELECT pg_notify('app_confirmations', card_id::text) FROM ins`

// openConfirmation queues, after the batch's other statements, the confirmation of e's app challenge
// (openConfirmationSQL) and returns it as the app will be shown it; that statement's result has no row
// when the card's bound refused it.
func (c *Challenges) openConfirmation(b *pgx.Batch, e *endRow) (*Confirmation, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	challenge, err := registration.RandomDigits(8)
	if err != nil {
		return nil, err
	}
	now := c.d.Clock.Now()
	b.Queue(openConfirmationSQL, e.id, e.cardID, e.regID, nonce, challenge, now, now.Add(-PushWindow))
	conf := confirmationOf(e, nonce)
	return &conf, nil
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
	return c.PendingAfter(ctx, cardID, nil)
}

// pendingSQL lists a card's waiting confirmations ($1).
const pendingSQL = `SELECT ` + confirmationColumns + ` FROM app_confirmations a
	JOIN acs_transactions t ON t.acs_trans_id = a.acs_trans_id
	WHERE a.card_id = $1 AND a.state = '` + string(ConfirmationPending) + `' AND t.final_status IS NULL ORDER BY a.created_at`

// PendingAfter is Pending with first (nil: none) run ahead of the read in the same round trip and the
// same implicit transaction: the list is not read when first fails (a signed request's nonce, issue 13).
func (c *Challenges) PendingAfter(ctx context.Context, cardID uuid.UUID, first *store.Queued) ([]Confirmation, error) {
	collect := func(rows pgx.Rows) ([]Confirmation, error) {
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Confirmation, error) { return scanConfirmation(r) })
	}
	if first == nil {
		rows, err := c.d.Pool.Query(ctx, pendingSQL, cardID)
		if err != nil {
			return nil, err
		}
		return collect(rows)
	}
	b := &pgx.Batch{}
	first.QueueTo(b)
	b.Queue(pendingSQL, cardID)
	br := c.d.Pool.SendBatch(ctx, b)
	defer br.Close()
	if err := store.SkipResults(br, b.Len()-1); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	list, err := collect(rows)
	if err != nil {
		return nil, err
	}
	return list, br.Close()
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
	// Nonce records the signed request's nonce (nil: none): with the answer's end where the answer ends
	// the challenge, else on its own once the answer is refused, before a wrong PIN is counted (an answer
	// refused for its form alone, which changes nothing, leaves it unused). Its error is returned as is.
	Nonce *store.Queued
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
//
// The transaction is read and locked with its card, registration and confirmation by one statement, and
// the answer's end is written with the transaction's as one batch (issue 13: the answer was fourteen
// statements before its end). Its RReq is queued claimed and sent from here right after the commit, so
// that the DS has the result when the browser's page comes for the final CRes.
func (c *Challenges) AnswerApp(ctx context.Context, cardID, id uuid.UUID, ans Answer) (*Final, error) {
	if ans.TrustMerchant && !ans.Approve {
		return nil, apperr.Field("trust_merchant", "only with an approval")
	}
	if ans.Approve && ans.Verification != VerifiedPIN && ans.Verification != VerifiedBiometric && ans.Verification != BiometricFailed {
		return nil, apperr.Field("user_verification", "must be pin, biometric or biometric_failed")
	}
	var f *Final
	var result error
	var ev *signedAnswer
	wrongPIN, nonceWritten := false, false
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		f, result, ev, wrongPIN, nonceWritten = nil, nil, nil, false, false
		var a appAnswerRow
		e, err := readEndWith(ctx, tx, id, appAnswerColumns, a.dest()...)
		if apperr.KindOf(err) == apperr.NotFound || (err == nil && (a.cardID == nil || *a.cardID != cardID)) {
			result = errNoConfirmation
			return nil
		}
		if err != nil {
			return err
		}
		if ended, err := c.settle(ctx, tx, e); err != nil || ended || ConfirmationState(deref(e.confirmationState)) != ConfirmationPending {
			result = errNotPending
			return err
		}
		if !cards.Status(a.cardStatus).Usable() {
			result = apperr.New(apperr.Forbidden, "the card is blocked")
			return nil
		}
		if registration.State(a.regState) != registration.Active || a.confRegID == nil || *a.confRegID != e.regID {
			result = apperr.New(apperr.Forbidden, "this confirmation belongs to another registration of the card")
			return nil
		}
		deviceKey, err := c.d.Registration.OpenDeviceKey(ctx, e.regID, a.deviceKeyEnc)
		if err != nil {
			return err
		}
		conf := confirmationOf(e, a.nonce)
		signed := conf.Canonical()
		if ans.TrustMerchant {
			signed = conf.CanonicalTrusting()
		}
		if !verifySigned(deviceKey, signed, ans.Signature) {
			result = apperr.Field("signature", "does not match this confirmation (transaction, amount, currency, merchant, date, trust)")
			return nil
		}
		fp := sha256.Sum256(deviceKey)
		ev = &signedAnswer{data: signed, signature: ans.Signature, keySHA256: fp[:], trust: ans.TrustMerchant}
		r := resultSucceeded
		switch {
		case !ans.Approve:
			r = resultDeclined
		case ans.Verification == BiometricFailed:
			r = resultIdentification
		case ans.Verification == VerifiedPIN:
			if e.locked || e.methodFailures >= registration.MaxPINFailures {
				// The app is locked for good (R-AUTH-6): this purchase is not authorised either.
				result, r = registration.ErrPINLocked, resultAppLocked
				break
			}
			ok, err := c.d.Registration.PINMatches(a.emCertID, ans.PIN, a.pinVerifier)
			if err != nil {
				return err
			}
			if !ok {
				wrongPIN = true // counted by CheckPIN after this transaction, which writes nothing
				return nil
			}
		}
		e.answer = &confirmationAnswer{to: confirmationEnd(r), how: ans.Verification, ev: ev}
		e.trust = ev.trust && r.Status == "Y" // end adds the merchant to the card's trusted list (R-WL-1)
		e.deliverHere, e.first, nonceWritten = true, ans.Nonce, true
		r.Verification = ans.Verification
		f, err = c.d.Results.end(ctx, tx, e, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ans.Nonce != nil && !nonceWritten {
		// A refused answer uses up its nonce too: a replay of a wrong PIN must not count again.
		if err := ans.Nonce.Exec(ctx, c.d.Pool); err != nil {
			return nil, err
		}
	}
	if wrongPIN {
		// The wrong PIN is counted where every wrong PIN is (the fifth locks the app and ends this purchase).
		err := c.d.Registration.CheckPIN(ctx, cardID, ans.PIN)
		if apperr.KindOf(err) == apperr.Locked {
			if _, err := c.finishApp(ctx, id, resultAppLocked, VerifiedPIN, ev); err != nil && err != errNotPending {
				c.d.Log.ErrorContext(ctx, "app challenge not ended after the PIN locked the app", "acs_trans_id", id, "err", err)
			}
		}
		if err == nil {
			err = apperr.New(apperr.Conflict, "the PIN changed during the answer; answer again")
		}
		return nil, err
	}
	if f != nil {
		c.deliver(ctx, f)
	}
	return f, result
}

// deliver sends the RReq of f's transaction right after the commit that ended it (the one f holds
// claimed, else the queued one, Results.Deliver), bounded by the send's budget; a failure leaves it to
// the delivery pass.
func (c *Challenges) deliver(ctx context.Context, f *Final) {
	dctx, cancel := context.WithTimeout(ctx, c.d.Results.SendBudget())
	defer cancel()
	if err := c.d.Results.Deliver(dctx, f); err != nil {
		c.d.Log.WarnContext(ctx, "rreq delivery deferred", "acs_trans_id", f.ACSTransID, "err", err)
	}
}

var errNoConfirmation = apperr.New(apperr.NotFound, "no such confirmation for this card")

// appAnswerColumns are what an app's answer reads besides endColumns (readEndWith): the card's status,
// the registration's state, device key, PIN verifier and device certificate, and the confirmation's
// card, registration and nonce.
const appAnswerColumns = `, k.status, coalesce(r.state, ''), r.device_key_enc, r.pin_verifier,
	coalesce(r.em_cert_id, '00000000-0000-0000-0000-000000000000'::uuid), a.card_id, a.registration_id, a.nonce`

type appAnswerRow struct {
	cardStatus, regState string
	deviceKeyEnc         []byte
	pinVerifier          []byte
	emCertID             uuid.UUID
	cardID, confRegID    *uuid.UUID
	nonce                []byte
}

func (a *appAnswerRow) dest() []any {
	return []any{&a.cardStatus, &a.regState, &a.deviceKeyEnc, &a.pinVerifier, &a.emCertID, &a.cardID, &a.confRegID, &a.nonce}
}

// confirmationOf is e's app confirmation with nonce as Pending lists it (confirmationColumns), made
// from the row readEnd read: what the app signed is checked against it, and the push carries it.
func confirmationOf(e *endRow, nonce []byte) Confirmation {
	currency, exponent := e.currency, 2
	if currency == "" {
		currency = "978"
	}
	if e.exponent != nil {
		exponent, _ = strconv.Atoi(*e.exponent)
	}
	return Confirmation{ID: e.id, CardID: e.cardID, Merchant: e.merchant, Amount: e.amount, Currency: currency,
		Exponent: exponent, Date: e.purchaseDate, Nonce: nonce}
}

// signedAnswer is what the app signed and how: kept with the confirmation as evidence (evidence.go).
type signedAnswer struct {
	data, signature, keySHA256 []byte
	trust                      bool // the cardholder also trusted the merchant
}

// finishApp ends the challenge with r and the confirmation with how the app answered, unless it has
// ended (errNotPending); ev, the signed answer, is kept with it (nil: none).
func (c *Challenges) finishApp(ctx context.Context, id uuid.UUID, r Result, how Verification, ev *signedAnswer) (*Final, error) {
	var f *Final
	var result error
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		result = nil
		e, ended, err := c.lockTx(ctx, tx, id)
		if err != nil || ended || ConfirmationState(deref(e.confirmationState)) != ConfirmationPending {
			result = errNotPending
			return err
		}
		e.answer = &confirmationAnswer{to: confirmationEnd(r), how: how, ev: ev}
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
			e.answer = &confirmationAnswer{to: ConfirmationApproved, how: VerifiedOfflinePassword}
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
