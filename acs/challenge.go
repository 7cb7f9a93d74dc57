package acs

import (
	"context"
	"crypto/hmac"
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

// ChallengeDeps are what challenges need.
type ChallengeDeps struct {
	Pool         *pgxpool.Pool
	Registration *registration.Registrar
	// Digests keys the mTAN's verifier (mtanVerifier).
	Digests  Digester
	Outbox   *sms.Outbox
	Clock    clockwork.Clock
	Log      *slog.Logger
	SMSPrice decimal.Decimal
	Currency string // of the SMS price
	// Results ends the transaction when the challenge is decided.
	Results *Results
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

func (t *txn) dest() []any {
	return []any{&t.cardID, &t.regID, &t.amount, &t.currency, &t.merchant, &t.method, &t.nonPayment,
		&t.methodFailures, &t.locked, &t.answerVerifier, &t.mobileEnc}
}

// Start opens the challenge of a transaction answered with C and, for mTAN, sends the first code.
// Starting twice is harmless: the challenge exists once. The browser flow starts it through Open.
func (c *Challenges) Start(ctx context.Context, acsTransID uuid.UUID) error {
	var push bool
	var row *endRow
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		e, err := readEnd(ctx, tx, acsTransID)
		if err != nil {
			return err
		}
		row = e
		push, err = c.startTx(ctx, tx, e, nil)
		return err
	})
	if err == nil && row != nil {
		c.d.Outbox.Send(ctx, row.sms)
	}
	if err == nil && push {
		c.push(ctx, row)
	}
	return err
}

// startTx opens the challenge: for mTAN the SMS goes out, for the app a confirmation is created (and
// push reports true: the caller pushes e.confirmation after the commit). A card with too many
// confirmations waiting is refused, which ends the transaction. b, when not nil, holds writes of the
// caller's step that go first, in the same round trip where the method allows.
func (c *Challenges) startTx(ctx context.Context, tx pgx.Tx, e *endRow, b *pgx.Batch) (push bool, err error) {
	if e.final != nil || e.challengeState != nil {
		if b != nil {
			err = tx.SendBatch(ctx, b).Close()
		}
		return false, err
	}
	if e.method == registration.MethodMTAN {
		// The challenge is created with its first mTAN: one row written once, with the SMS and the
		// caller's writes in one round trip.
		return false, c.sendMTANTx(ctx, tx, e, true, b)
	}
	// The app's challenge row and its confirmation, with the CReq's writes the caller queued in b: one
	// round trip (issue 13).
	if b == nil {
		b = &pgx.Batch{}
	}
	b.Queue(`INSERT INTO acs_challenges (acs_trans_id, method, state, created_at) VALUES ($1, $2, $3, $4)`,
		e.id, e.method, string(ChallengePending), c.d.Clock.Now())
	conf, err := c.openConfirmation(b, e)
	if err != nil {
		return false, err
	}
	br := tx.SendBatch(ctx, b)
	if err := store.SkipResults(br, b.Len()-1); err != nil {
		return false, err
	}
	rows, err := br.Query()
	opened := false
	if err == nil {
		opened = rows.Next()
		rows.Close()
		err = rows.Err()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	pending := string(ChallengePending)
	e.challengeState = &pending
	if opened {
		e.confirmation = conf
		return true, nil
	}
	c.d.Log.WarnContext(ctx, "app challenge refused: too many confirmations waiting", "acs_trans_id", e.id)
	_, err = c.d.Results.end(ctx, tx, e, resultPushLimit)
	return false, err
}

// push tells the device of the confirmation e's step opened; a failure is logged, the app still finds
// it by polling.
func (c *Challenges) push(ctx context.Context, e *endRow) {
	if c.d.Pusher == nil || e == nil || e.confirmation == nil {
		return
	}
	if err := c.d.Pusher.Push(ctx, e.regID, *e.confirmation); err != nil {
		c.d.Log.WarnContext(ctx, "push failed; the app will find the confirmation when it polls", "acs_trans_id", e.id, "err", err)
	}
}

// ResendMTAN sends a new mTAN; the previous one is void from then on (R-AUTH-5).
func (c *Challenges) ResendMTAN(ctx context.Context, acsTransID uuid.UUID) error {
	var result error
	var row *endRow
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		result, row = nil, nil
		e, ended, err := c.lockTx(ctx, tx, acsTransID)
		row = e
		if err != nil || ended {
			result = errEnded
			return err
		}
		if e.challengeState == nil || e.method != registration.MethodMTAN {
			result = apperr.New(apperr.NotFound, "no mTAN challenge for this transaction")
			return nil
		}
		if ChallengeState(*e.challengeState) != ChallengePending {
			result = errEnded
			return nil
		}
		if e.otpSent >= MaxMTANSends {
			result = errNoMoreMTANs
			return nil
		}
		err = c.sendMTANTx(ctx, tx, e, false, nil)
		if apperr.KindOf(err) == apperr.TooMany {
			result = err // the card's SMS budget: nothing was sent
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if row != nil {
		c.d.Outbox.Send(ctx, row.sms)
	}
	return result
}

var errEnded = apperr.New(apperr.Conflict, "the challenge has ended")

// lockTx locks a challenged transaction's row and reads it with its card, registration and challenge
// (readEnd: one statement, issue 13), and reports whether it has ended. A challenge past ChallengeTimeout
// is ended here as timed out, so that a request arriving before the sweep cannot outlive the limit.
func (c *Challenges) lockTx(ctx context.Context, tx pgx.Tx, acsTransID uuid.UUID) (*endRow, bool, error) {
	e, err := readEnd(ctx, tx, acsTransID)
	if err != nil {
		return nil, false, err
	}
	ended, err := c.settle(ctx, tx, e)
	return e, ended, err
}

// settle reports whether e, read and locked by readEnd, has ended; one past ChallengeTimeout is ended
// here as timed out.
func (c *Challenges) settle(ctx context.Context, tx pgx.Tx, e *endRow) (bool, error) {
	if e.final != nil {
		return true, nil
	}
	if e.creqAt != nil && c.d.Clock.Now().Sub(*e.creqAt) >= ChallengeTimeout {
		_, err := c.d.Results.end(ctx, tx, e, resultTimedOut)
		return true, err
	}
	return false, nil
}

// sendMTANTx makes a code whose verifier is bound to the transaction id, and queues an SMS that shows
// the amount and the merchant it is for (R-AUTH-2): the code is useless for any other transaction. first:
// the challenge is created with it (the transaction's first CReq), else its code is replaced. b (nil:
// none) holds the step's writes that go first; all go to PostgreSQL in one batch (two where the card's
// SMS budget is counted).
func (c *Challenges) sendMTANTx(ctx context.Context, tx pgx.Tx, e *endRow, first bool, b *pgx.Batch) error {
	code, err := registration.RandomDigits(6)
	if err != nil {
		return err
	}
	v, err := c.mtanVerifier(e.id, code)
	if err != nil {
		return err
	}
	now := c.d.Clock.Now()
	expires := now.Add(MTANValidity)
	mobile, err := c.d.Registration.MobileFrom(ctx, e.regID, e.mobileEnc)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("mTAN %s für %s bei %s. Nur gültig für diesen Kauf, 4 Minuten. Geben Sie die mTAN niemals weiter.",
		code, FormatAmount(e.amount, e.currency), e.merchant)
	if e.nonPayment {
		// No amount to bind to: the text says what is confirmed instead (a card stored at a merchant).
		text = fmt.Sprintf("mTAN %s: Ihre Karte bei %s bestätigen (keine Zahlung). 4 Minuten gültig. Geben Sie die mTAN niemals weiter.",
			code, e.merchant)
	}
	// The SMS first: a card whose SMS budget is used up gets no challenge row and no code. It is queued
	// claimed: the caller sends it once the transaction has committed (e.sms).
	if b == nil {
		b = &pgx.Batch{}
	}
	if e.sms, err = c.d.Outbox.EnqueueClaimed(ctx, tx, b, sms.Message{CardID: e.cardID, Purpose: "mtan", To: mobile, Text: text,
		Price: c.d.SMSPrice, Currency: c.d.Currency}); err != nil {
		return err
	}
	if first {
		b.Queue(`INSERT INTO acs_challenges (acs_trans_id, method, state, created_at, otp_verifier, otp_expires_at, otp_sent)
			VALUES ($1, $2, $3, $4, $5, $6, 1)`, e.id, e.method, string(ChallengePending), now, v, expires)
	} else {
		b.Queue(`UPDATE acs_challenges SET otp_verifier = $2, otp_expires_at = $3, otp_sent = otp_sent + 1
			WHERE acs_trans_id = $1`, e.id, v, expires)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if first {
		pending := string(ChallengePending)
		e.challengeState = &pending
	}
	e.otpVerifier, e.otpExpires = v, &expires
	e.otpSent++
	return nil
}

// An mTAN's stored verifier is the in-process keyed digest (Digests, domain "mtan") of the transaction id
// and the code, behind a one-byte mark. Not the HSM's verifier key, as the security answer, the PIN and
// the ID code have: an mTAN lives 4 minutes, allows 5 tries and is bound to one transaction, and the
// digest's key, a Tink keyset wrapped by the HSM's key-encryption key, is no more in the database than
// the HSM's (the browser digests' reasoning, envelope.Digester). Two HSM calls less per mTAN purchase
// (issue 13: the HSM's verifier calls were 11 % of the service's CPU in an mTAN-flow profile, two of
// each purchase's three for the mTAN).
const mtanVerifierMark = 0x01

// mtanVerifier is the verifier stored of code, the mTAN of transaction id.
func (c *Challenges) mtanVerifier(id uuid.UUID, code string) ([]byte, error) {
	d, err := c.d.Digests.Digest("mtan", []byte(id.String()+"\x00"+code))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the digest key is unavailable", err)
	}
	return append([]byte{mtanVerifierMark}, d...), nil
}

// isMTANVerifier reports whether v is a verifier mtanVerifier made (an earlier version stored the HSM's
// 32 bytes).
func isMTANVerifier(v []byte) bool { return len(v) == 33 && v[0] == mtanVerifierMark }

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
	out, _, err := c.verifyMTAN(ctx, acsTransID, code, answer, trust, false)
	return out, err
}

// SubmitMTAN is VerifyMTAN for the challenge page: it returns the page's view after the entry (the
// error as VerifyMTAN's; the view is nil only where the transaction could not be read), and a decided
// transaction's Final holds its RReq claimed for Results.Deliver.
func (c *Challenges) SubmitMTAN(ctx context.Context, acsTransID uuid.UUID, code, answer string, trust bool) (*View, error) {
	_, v, err := c.verifyMTAN(ctx, acsTransID, code, answer, trust, true)
	return v, err
}

func (c *Challenges) verifyMTAN(ctx context.Context, acsTransID uuid.UUID, code, answer string, trust, here bool) (Outcome, *View, error) {
	var out Outcome
	var result error
	var row *endRow
	var final *Final
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		out, result, row, final = "", nil, nil, nil
		now := c.d.Clock.Now()
		e, ended, err := c.lockTx(ctx, tx, acsTransID)
		row = e
		if err != nil || ended {
			result = errEnded
			return err
		}
		e.deliverHere = here
		if e.challengeState == nil || e.method != registration.MethodMTAN {
			result = apperr.New(apperr.NotFound, "no mTAN challenge for this transaction")
			return nil
		}
		if ChallengeState(*e.challengeState) != ChallengePending {
			result = errEnded
			return nil
		}
		if expires := e.otpExpires; expires == nil || !now.Before(*expires) {
			result = apperr.New(apperr.Expired, "the mTAN has expired; request a new one")
			return nil
		}
		if !isMTANVerifier(e.otpVerifier) {
			// A code sent before this version (an HSM verifier): the cardholder asks for a new one, and no
			// failure is counted.
			result = apperr.New(apperr.Expired, "the mTAN has expired; request a new one")
			return nil
		}
		v, err := c.mtanVerifier(acsTransID, strings.TrimSpace(code))
		if err != nil {
			return err
		}
		if registration.TriesLeftOf(e.methodFailures, e.locked) == 0 {
			out, result = OutcomeFailed, registration.ErrMethodLocked
			final, err = c.d.Results.end(ctx, tx, e, resultLocked)
			return err
		}
		answerOK, err := c.d.Registration.AnswerMatches(e.regID, answer, e.answerVerifier)
		if err != nil {
			return err
		}
		if hmac.Equal(v, e.otpVerifier) && answerOK {
			out = OutcomeSucceeded
			// The "trust this merchant" tick of the submit that succeeded, not of an earlier one (R-WL-1):
			// end writes it with the transaction's end.
			e.trust = trust
			final, err = c.d.Results.end(ctx, tx, e, resultSucceeded)
			return err
		}
		if out, final, err = c.failTx(ctx, tx, e); out == OutcomePending {
			result = errWrong
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return out, c.viewOf(row, final), result
}

// resultLocked ends a challenge whose method is locked (PSD2 RTS Art. 4: five wrong entries in a row,
// across challenges): N, tries used up (19).
var resultLocked = Result{Status: "N", Reason: statusReasonMaxChallenges, ChallengeState: ChallengeFailed, Why: ReasonMethodLocked}

// failTx counts one more wrong entry of a challenge that had failures so far (mTAN, answer or offline
// password alike), and one more of the registration's method (registration.FailTx): OutcomePending
// while both have tries left, else the challenge ends as failed (R-AUTH-6; the method is locked when
// its own count is used up).
func (c *Challenges) failTx(ctx context.Context, tx pgx.Tx, e *endRow) (Outcome, *Final, error) {
	failures := e.challengeFailures + 1
	if _, err := tx.Exec(ctx, `UPDATE acs_challenges SET failures = $2 WHERE acs_trans_id = $1`, e.id, failures); err != nil {
		return "", nil, err
	}
	e.challengeFailures = failures
	left, err := c.d.Registration.FailTx(ctx, tx, e.regID)
	if err != nil {
		return "", nil, err
	}
	e.methodFailures = registration.MaxConsecutiveFailures - left
	if left == 0 {
		e.locked = true
	}
	switch {
	case left == 0:
		f, err := c.d.Results.end(ctx, tx, e, resultLocked)
		return OutcomeFailed, f, err
	case failures < MaxChallengeFailures:
		return OutcomePending, nil, nil
	}
	f, err := c.d.Results.end(ctx, tx, e, resultFailed)
	return OutcomeFailed, f, err
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
