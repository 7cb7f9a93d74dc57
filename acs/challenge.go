package acs

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/cards"
	"example.com/acs/emv"
	"example.com/acs/envelope"
	"example.com/acs/registration"
	"example.com/acs/sms"
	"example.com/acs/store"
)

const (
	// MTANValidity is how long an mTAN can be used (R-AUTH-5).
	MTANValidity = 4 * time.Minute
	// MaxMTANSends bounds the mTANs of one challenge: the first and three new ones (issue 12: each is an
	// SMS billed to the cardholder).
	MaxMTANSends = 4
	// MaxChallengeFailures wrong entries end the challenge as not authorised (R-AUTH-6).
	MaxChallengeFailures = 5
)

// Outcome of a challenge step.
type Outcome string

const (
	OutcomePending   Outcome = "pending"   // a wrong entry; the cardholder may try again
	OutcomeSucceeded Outcome = "succeeded" // authenticated
	OutcomeFailed    Outcome = "failed"    // too many wrong entries: not authorised
)

// Verifier computes HSM-keyed verifiers.
type Verifier interface {
	Verifier(domain string, secret []byte) ([]byte, error)
}

// ChallengeDeps are what challenges need.
type ChallengeDeps struct {
	Pool         *pgxpool.Pool
	Registration *registration.Registrar
	Keys         Verifier
	Outbox       *sms.Outbox
	Clock        clockwork.Clock
	Log          *slog.Logger
	SMSPrice     decimal.Decimal
	Currency     string // of the SMS price
	// Results ends the transaction when the challenge is decided.
	Results *Results
	// Cards tells whether a card is blocked when its app answers.
	Cards *cards.Directory
	// Pusher tells the app that a confirmation waits; nil: the app learns of it by polling only.
	Pusher Pusher
	// Sessions decrypts the app channel's stored transaction keys (acs_sdk_sessions; appcreq.go).
	Sessions *envelope.Keyring
}

// Challenges runs the cardholder's side of a challenge: the mTAN method (R-AUTH-5) here, the CReq that
// opens a challenge in creq.go; the pages that drive it are in http.go.
type Challenges struct{ d ChallengeDeps }

// NewChallenges returns Challenges.
func NewChallenges(d ChallengeDeps) *Challenges { return &Challenges{d: d} }

// txn is what a challenge needs of its transaction.
type txn struct {
	cardID, regID uuid.UUID
	amount        decimal.Decimal
	currency      string
	merchant      string
	method        registration.Method
	// nonPayment: a non-payment authentication (messageCategory 02) without purchase data.
	nonPayment bool
	// What the steps need of the registration, read with the transaction (issue 13: one statement
	// instead of one per item): the method's failure count and lock, the security answer's verifier and
	// the encrypted mobile number (mTAN).
	methodFailures int
	locked         bool
	answerVerifier []byte
	mobileEnc      []byte
}

// txnColumns are what load and lockTx read of a challenged transaction t and its registration r.
const txnColumns = `t.card_id, t.registration_id, coalesce(t.amount, 0), coalesce(t.currency, ''),
	coalesce(t.merchant_name, t.requestor_name, ''), r.method, t.amount IS NULL,
	r.auth_failures, r.locked_at IS NOT NULL, r.answer_verifier, r.mobile_enc`

func (t *txn) dest() []any {
	return []any{&t.cardID, &t.regID, &t.amount, &t.currency, &t.merchant, &t.method, &t.nonPayment,
		&t.methodFailures, &t.locked, &t.answerVerifier, &t.mobileEnc}
}

func (c *Challenges) load(ctx context.Context, q pgx.Tx, acsTransID uuid.UUID) (*txn, error) {
	var t txn
	err := q.QueryRow(ctx, `SELECT `+txnColumns+`
		FROM acs_transactions t JOIN registrations r ON r.id = t.registration_id
		WHERE t.acs_trans_id = $1 AND t.trans_status IN ('C', 'D')`, acsTransID).Scan(t.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no challenge for this transaction")
	}
	return &t, err
}

// Start opens the challenge of a transaction answered with C and, for mTAN, sends the first code.
// Starting twice is harmless: the challenge exists once. The browser flow starts it through Open.
func (c *Challenges) Start(ctx context.Context, acsTransID uuid.UUID) error {
	var push bool
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		var err error
		push, err = c.startTx(ctx, tx, acsTransID)
		return err
	})
	if err == nil && push {
		c.push(ctx, acsTransID)
	}
	return err
}

// startTx opens the challenge: for mTAN the SMS goes out, for the app a confirmation is created (and
// push reports true: the caller pushes after the commit). A card with too many confirmations waiting is
// refused, which ends the transaction.
func (c *Challenges) startTx(ctx context.Context, tx pgx.Tx, acsTransID uuid.UUID) (push bool, err error) {
	t, err := c.load(ctx, tx, acsTransID)
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO acs_challenges (acs_trans_id, method, state, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (acs_trans_id) DO NOTHING`, acsTransID, t.method, string(ChallengePending), c.d.Clock.Now())
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	if t.method == registration.MethodMTAN {
		return false, c.sendMTANTx(ctx, tx, acsTransID, t)
	}
	opened, err := c.openConfirmationTx(ctx, tx, acsTransID, t)
	if err != nil || opened {
		return opened, err
	}
	c.d.Log.WarnContext(ctx, "app challenge refused: too many confirmations waiting", "acs_trans_id", acsTransID)
	_, err = c.d.Results.finishTx(ctx, tx, acsTransID, resultPushLimit)
	return false, err
}

// push tells the device of a new confirmation; a failure is logged, the app still finds it by polling.
func (c *Challenges) push(ctx context.Context, acsTransID uuid.UUID) {
	if c.d.Pusher == nil {
		return
	}
	var cardID, regID uuid.UUID
	if err := c.d.Pool.QueryRow(ctx, `SELECT card_id, registration_id FROM app_confirmations WHERE acs_trans_id = $1`, acsTransID).
		Scan(&cardID, &regID); err != nil {
		c.d.Log.WarnContext(ctx, "push: confirmation not found", "acs_trans_id", acsTransID, "err", err)
		return
	}
	conf, _, err := c.confirmation(ctx, cardID, acsTransID)
	if err == nil {
		err = c.d.Pusher.Push(ctx, regID, conf)
	}
	if err != nil {
		c.d.Log.WarnContext(ctx, "push failed; the app will find the confirmation when it polls", "acs_trans_id", acsTransID, "err", err)
	}
}

// ResendMTAN sends a new mTAN; the previous one is void from then on (R-AUTH-5).
func (c *Challenges) ResendMTAN(ctx context.Context, acsTransID uuid.UUID) error {
	var result error
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		result = nil
		t, ended, err := c.lockTx(ctx, tx, acsTransID)
		if err != nil || ended {
			result = errEnded
			return err
		}
		var state string
		var sent int
		err = tx.QueryRow(ctx, `SELECT state, otp_sent FROM acs_challenges WHERE acs_trans_id = $1 AND method = 'mtan' FOR UPDATE`,
			acsTransID).Scan(&state, &sent)
		if errors.Is(err, pgx.ErrNoRows) {
			result = apperr.New(apperr.NotFound, "no mTAN challenge for this transaction")
			return nil
		}
		if err != nil {
			return err
		}
		if ChallengeState(state) != ChallengePending {
			result = errEnded
			return nil
		}
		if sent >= MaxMTANSends {
			result = errNoMoreMTANs
			return nil
		}
		err = c.sendMTANTx(ctx, tx, acsTransID, t)
		if apperr.KindOf(err) == apperr.TooMany {
			result = err // the card's SMS budget: nothing was sent
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return result
}

var errEnded = apperr.New(apperr.Conflict, "the challenge has ended")

// lockTx locks a challenged transaction's row (always before its challenge's row, as Open and Sweep do,
// so that no two of them deadlock), reads it with its registration as load does, and reports whether it
// has ended. A challenge past ChallengeTimeout is ended here as timed out, so that a request arriving
// before the sweep cannot outlive the limit.
func (c *Challenges) lockTx(ctx context.Context, tx pgx.Tx, acsTransID uuid.UUID) (*txn, bool, error) {
	var t txn
	var creqAt *time.Time
	var final *string
	// The lock and the step's read are one statement (issue 13).
	err := tx.QueryRow(ctx, `SELECT t.creq_at, t.final_status, `+txnColumns+`
		FROM acs_transactions t JOIN registrations r ON r.id = t.registration_id
		WHERE t.acs_trans_id = $1 AND t.trans_status IN ('C', 'D') FOR UPDATE OF t`, acsTransID).Scan(append([]any{&creqAt, &final}, t.dest()...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, apperr.New(apperr.NotFound, "no challenge for this transaction")
	}
	if err != nil || final != nil {
		return nil, final != nil, err
	}
	if creqAt != nil && c.d.Clock.Now().Sub(*creqAt) >= ChallengeTimeout {
		_, err := c.d.Results.finishTx(ctx, tx, acsTransID, resultTimedOut)
		return nil, true, err
	}
	return &t, false, nil
}

// sendMTANTx makes a code whose verifier is bound to the transaction id, and queues an SMS that shows
// the amount and the merchant it is for (R-AUTH-2): the code is useless for any other transaction.
func (c *Challenges) sendMTANTx(ctx context.Context, tx pgx.Tx, acsTransID uuid.UUID, t *txn) error {
	code, err := registration.RandomDigits(6)
	if err != nil {
		return err
	}
	v, err := c.d.Keys.Verifier("mtan", []byte(acsTransID.String()+"\x00"+code))
	if err != nil {
		return apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE acs_challenges SET otp_verifier = $2, otp_expires_at = $3, otp_sent = otp_sent + 1
		WHERE acs_trans_id = $1`, acsTransID, v, c.d.Clock.Now().Add(MTANValidity)); err != nil {
		return err
	}
	mobile, err := c.d.Registration.MobileFrom(ctx, t.regID, t.mobileEnc)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("mTAN %s für %s bei %s. Nur gültig für diesen Kauf, 4 Minuten. Geben Sie die mTAN niemals weiter.",
		code, FormatAmount(t.amount, t.currency), t.merchant)
	if t.nonPayment {
		// No amount to bind to: the text says what is confirmed instead (a card stored at a merchant).
		text = fmt.Sprintf("mTAN %s: Ihre Karte bei %s bestätigen (keine Zahlung). 4 Minuten gültig. Geben Sie die mTAN niemals weiter.",
			code, t.merchant)
	}
	_, err = c.d.Outbox.Enqueue(ctx, tx, sms.Message{CardID: t.cardID, Purpose: "mtan", To: mobile, Text: text,
		Price: c.d.SMSPrice, Currency: c.d.Currency})
	return err
}

// errNoMoreMTANs refuses a new mTAN after MaxMTANSends for one purchase.
var errNoMoreMTANs = apperr.New(apperr.TooMany, "no further mTAN can be sent for this purchase")

// errWrong is the one answer for a wrong mTAN or a wrong security answer: which one was wrong is not
// told (R-AUTH-5).
var errWrong = apperr.Field("mtan", "the mTAN or the answer to your security question is not correct")

// VerifyMTAN checks the mTAN and the security answer together. A wrong code or a wrong answer counts
// one failure; the fifth ends the challenge as failed. Success and the fifth failure end the
// transaction (its RReq is queued in the same database transaction). An expired code gives Expired
// (request a new one). Of two concurrent correct entries exactly one succeeds. trust is the cardholder's
// "trust this merchant" tick: it takes effect only if this entry succeeds.
func (c *Challenges) VerifyMTAN(ctx context.Context, acsTransID uuid.UUID, code, answer string, trust bool) (Outcome, error) {
	var out Outcome
	var result error
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		out, result = "", nil
		now := c.d.Clock.Now()
		t, ended, err := c.lockTx(ctx, tx, acsTransID)
		if err != nil || ended {
			result = errEnded
			return err
		}
		var state string
		var failures int
		var expires *time.Time
		var stored []byte
		err = tx.QueryRow(ctx, `SELECT state, failures, otp_expires_at, otp_verifier FROM acs_challenges
			WHERE acs_trans_id = $1 AND method = 'mtan' FOR UPDATE`, acsTransID).Scan(&state, &failures, &expires, &stored)
		if errors.Is(err, pgx.ErrNoRows) {
			result = apperr.New(apperr.NotFound, "no mTAN challenge for this transaction")
			return nil
		}
		if err != nil {
			return err
		}
		if ChallengeState(state) != ChallengePending {
			result = errEnded
			return nil
		}
		if expires == nil || !now.Before(*expires) {
			result = apperr.New(apperr.Expired, "the mTAN has expired; request a new one")
			return nil
		}
		v, err := c.d.Keys.Verifier("mtan", []byte(acsTransID.String()+"\x00"+strings.TrimSpace(code)))
		if err != nil {
			return apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
		}
		if registration.TriesLeftOf(t.methodFailures, t.locked) == 0 {
			out, result = OutcomeFailed, registration.ErrMethodLocked
			_, err := c.d.Results.finishTx(ctx, tx, acsTransID, resultLocked)
			return err
		}
		answerOK, err := c.d.Registration.AnswerMatches(t.regID, answer, t.answerVerifier)
		if err != nil {
			return err
		}
		if hmac.Equal(v, stored) && answerOK {
			out = OutcomeSucceeded
			// The "trust this merchant" tick of the submit that succeeded, not of an earlier one (R-WL-1).
			if _, err := tx.Exec(ctx, `UPDATE acs_transactions SET trust_merchant = $2 WHERE acs_trans_id = $1`, acsTransID, trust); err != nil {
				return err
			}
			_, err := c.d.Results.finishTx(ctx, tx, acsTransID, resultSucceeded)
			return err
		}
		if out, err = c.failTx(ctx, tx, acsTransID, t.regID, failures); out == OutcomePending {
			result = errWrong
		}
		return err
	})
	if err != nil {
		return "", err
	}
	return out, result
}

// resultLocked ends a challenge whose method is locked (PSD2 RTS Art. 4: five wrong entries in a row,
// across challenges): N, tries used up (19).
var resultLocked = Result{Status: "N", Reason: statusReasonMaxChallenges, ChallengeState: ChallengeFailed, Why: ReasonMethodLocked}

// failTx counts one more wrong entry of a challenge that had failures so far (mTAN, answer or offline
// password alike), and one more of the registration's method (registration.FailTx): OutcomePending
// while both have tries left, else the challenge ends as failed (R-AUTH-6; the method is locked when
// its own count is used up).
func (c *Challenges) failTx(ctx context.Context, tx pgx.Tx, acsTransID, regID uuid.UUID, failures int) (Outcome, error) {
	failures++
	if _, err := tx.Exec(ctx, `UPDATE acs_challenges SET failures = $2 WHERE acs_trans_id = $1`, acsTransID, failures); err != nil {
		return "", err
	}
	left, err := c.d.Registration.FailTx(ctx, tx, regID)
	if err != nil {
		return "", err
	}
	switch {
	case left == 0:
		_, err = c.d.Results.finishTx(ctx, tx, acsTransID, resultLocked)
		return OutcomeFailed, err
	case failures < MaxChallengeFailures:
		return OutcomePending, nil
	}
	_, err = c.d.Results.finishTx(ctx, tx, acsTransID, resultFailed)
	return OutcomeFailed, err
}

// Cancel ends a pending challenge at the cardholder's request: not authorised, challengeCancel 01.
func (c *Challenges) Cancel(ctx context.Context, acsTransID uuid.UUID) (*Final, error) {
	return c.d.Results.Finish(ctx, acsTransID, resultCancelled)
}

// FormatAmount writes an amount as a German reader expects it: "1.234,50 EUR".
func FormatAmount(amount decimal.Decimal, numericCurrency string) string {
	exp, alpha, ok := emv.CurrencyExponent(numericCurrency)
	if !ok {
		alpha = numericCurrency
	}
	s := amount.StringFixed(int32(exp))
	intPart, frac, _ := strings.Cut(s, ".")
	var grouped []string
	for len(intPart) > 3 {
		grouped = append([]string{intPart[len(intPart)-3:]}, grouped...)
		intPart = intPart[:len(intPart)-3]
	}
	grouped = append([]string{intPart}, grouped...)
	out := strings.Join(grouped, ".")
	if frac != "" {
		out += "," + frac
	}
	return out + " " + alpha
}
