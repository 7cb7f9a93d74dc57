package registration

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"
	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"

	"example.com/acs/apperr"
	"example.com/acs/cards"
	"example.com/acs/envelope"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// Questions is the fixed list of security questions (R-REG-6): a key and the question as shown.
var Questions = map[string]string{
	"birthplace":    "In welcher Stadt wurden Sie geboren? / In which city were you born?",
	"first_pet":     "Wie hieß Ihr erstes Haustier? / What was the name of your first pet?",
	"first_school":  "Wie hieß Ihre erste Schule? / What was the name of your first school?",
	"mother_maiden": "Wie lautet der Geburtsname Ihrer Mutter? / What is your mother's maiden name?",
	"first_car":     "Welche Marke hatte Ihr erstes Auto? / What make was your first car?",
}

// MTANRequest is what the cardholder enters for the mTAN method.
type MTANRequest struct {
	Mobile      string // as typed; national German numbers are accepted
	Question    string // a key of Questions
	Answer      string
	AcceptPrice bool // the SMS price agreement, when the issuer charges (R-REG-6)
	// Terms is the PriceTerms.ID of the agreement the page showed: a price or document changed between
	// showing and ordering is not what the cardholder accepted.
	Terms string
}

// PriceAgreementVersion names the text of the SMS price agreement (the PDF the portal serves); a new
// text gets a new version, and each registration keeps the version its cardholder accepted.
const PriceAgreementVersion = "SMS-PV-2026-12"

// PriceTerms are what a cardholder accepts when ordering charged SMS (R-REG-6).
type PriceTerms struct {
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	Version  string          `json:"document_version"`
}

// ID identifies the terms as one string, for the form that shows them.
func (t PriceTerms) ID() string { return t.Version + ";" + t.Amount.String() + ";" + t.Currency }

// Charged reports whether the issuer charges for SMS, so that an agreement must be accepted.
func (r *Registrar) Charged() bool { return r.d.SMSPrice.IsPositive() }

// PriceTerms are the terms in force now.
func (r *Registrar) PriceTerms() PriceTerms {
	return PriceTerms{Amount: r.d.SMSPrice, Currency: r.d.Currency, Version: PriceAgreementVersion}
}

// ErrTermsChanged refuses an order of charged SMS under terms other than those in force.
var ErrTermsChanged = apperr.Field("accept_price", "the price agreement has changed; please read it again")

// NormalizeMobile parses a typed number and returns it in E.164, refusing numbers that are not mobile.
func NormalizeMobile(s string) (string, error) {
	n, err := phonenumbers.Parse(strings.TrimSpace(s), "DE")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", apperr.Field("mobile_number", "is not a valid phone number; enter it like +49 151 23456789")
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", apperr.Field("mobile_number", "is not a mobile number; SMS need a mobile phone")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// NormalizeAnswer makes an answer comparable however it is typed later: Unicode normal form, case,
// spacing and the German umlauts written out.
func NormalizeAnswer(s string) string { return foldName(norm.NFKC.String(s)) }

// RequestMTAN starts an mTAN registration for a verified card: the number (stored encrypted, found by
// its keyed hash, shown masked), the question and the answer's keyed verifier, the price agreement, and
// the ID-code letter. A registration in progress is superseded; an active one keeps working until this
// one is active (R-REG-4).
func (r *Registrar) RequestMTAN(ctx context.Context, card *cards.Card, in MTANRequest) (uuid.UUID, error) {
	mobile, err := NormalizeMobile(in.Mobile)
	if err != nil {
		return uuid.Nil, err
	}
	if _, ok := Questions[in.Question]; !ok {
		return uuid.Nil, apperr.Field("question", "choose one of the offered questions")
	}
	answer := NormalizeAnswer(in.Answer)
	if l := utf8.RuneCountInString(answer); l < 3 || l > 64 {
		return uuid.Nil, apperr.Field("answer", "must be 3 to 64 characters")
	}
	charged := r.Charged()
	terms := r.PriceTerms()
	if charged && !in.AcceptPrice {
		return uuid.Nil, apperr.Field("accept_price", "the SMS price agreement must be accepted")
	}
	if charged && in.Terms != terms.ID() {
		return uuid.Nil, ErrTermsChanged
	}
	mobileHash, err := r.d.Keys.Index("mobile", []byte(mobile))
	if err != nil {
		return uuid.Nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	return r.requestTx(ctx, card, MethodMTAN, func(tx pgx.Tx, id uuid.UUID, now time.Time) error {
		enc, err := r.d.Data.Encrypt(envelope.AD{Table: "registrations", Column: "mobile_enc", Row: id.String()}, []byte(mobile))
		if err != nil {
			return err
		}
		// The registration id salts the verifier: one answer on two cards gives two verifiers.
		av, err := r.verifier("answer", id.String(), answer)
		if err != nil {
			return err
		}
		var accepted *time.Time
		var amount *decimal.Decimal
		var currency, version *string
		if charged {
			accepted, amount, currency, version = &now, &terms.Amount, &terms.Currency, &terms.Version
		}
		_, err = tx.Exec(ctx, `INSERT INTO registrations (id, card_id, method, state, created_at, mobile_enc, mobile_hash,
			mobile_masked, question, answer_verifier, price_accepted_at, price_accepted_amount, price_accepted_currency,
			price_document_version) VALUES ($1, $2, 'mtan', 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			id, card.ID, now, enc, mobileHash, sms.MaskNumber(mobile), in.Question, av, accepted, amount, currency, version)
		return err
	})
}

// sendConfirmationTx gives an mTAN registration a fresh confirmation code and queues its SMS; an
// earlier code is void from then on.
func (r *Registrar) sendConfirmationTx(ctx context.Context, tx pgx.Tx, cardID, regID uuid.UUID) error {
	mobile, err := r.Mobile(ctx, tx, regID)
	if err != nil {
		return err
	}
	code, v, err := r.newCode("mtan_confirm", regID)
	if err != nil {
		return err
	}
	now := r.d.Clock.Now()
	if _, err := tx.Exec(ctx, `UPDATE registrations SET state = 'confirming', confirm_verifier = $2, confirm_expires_at = $3,
		confirm_sent = confirm_sent + 1 WHERE id = $1`, regID, v, now.Add(ConfirmValidity)); err != nil {
		return err
	}
	_, err = r.d.Outbox.Enqueue(ctx, tx, sms.Message{CardID: cardID, Purpose: "number_confirmation", To: mobile,
		Text: fmt.Sprintf("Ihr Code zur Bestätigung Ihrer Mobilnummer für sicheres Online-Bezahlen: %s (4 Minuten gültig). "+
			"Your code to confirm your number: %s", code, code),
		Price: r.d.SMSPrice, Currency: r.d.Currency})
	return err
}

// MaxConfirmSends bounds the confirmation codes one registration sends (the first and its resends):
// every SMS is billed to the cardholder, and an unbounded resend would be an SMS cannon (issue 12).
const MaxConfirmSends = 4

// ErrConfirmSends refuses a further confirmation code.
var ErrConfirmSends = apperr.New(apperr.Locked, "too many codes were sent for this number; please call us")

// ResendConfirmation sends a new confirmation code for registration regID; the previous one is void.
// The wrong tries so far still count: a resend does not give five more.
func (r *Registrar) ResendConfirmation(ctx context.Context, cardID, regID uuid.UUID) error {
	return store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		var sent int
		err := tx.QueryRow(ctx, `SELECT confirm_sent FROM registrations WHERE card_id = $1 AND id = $2 AND state = 'confirming'
			FOR UPDATE`, cardID, regID).Scan(&sent)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.NotFound, "no mobile number of this card is waiting for confirmation")
		}
		if err != nil {
			return err
		}
		if sent >= MaxConfirmSends {
			return ErrConfirmSends
		}
		return r.sendConfirmationTx(ctx, tx, cardID, regID)
	})
}

// ConfirmNumber checks the code sent to the new number and activates the mTAN registration (R-REG-6).
// One guarded UPDATE decides; a wrong code is counted, and after five the code is void.
//
// regID is the registration whose activation asked for the confirmation (the portal's flow carries it):
// a confirmation step started for one registration cannot confirm another's number.
func (r *Registrar) ConfirmNumber(ctx context.Context, cardID, regID uuid.UUID, code string) (*Registration, error) {
	var result error
	err := store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		now := r.d.Clock.Now()
		var failures int
		var expires time.Time
		err := tx.QueryRow(ctx, `SELECT confirm_failures, confirm_expires_at FROM registrations
			WHERE card_id = $1 AND id = $2 AND state = 'confirming' FOR UPDATE`, cardID, regID).Scan(&failures, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			result = apperr.New(apperr.NotFound, "no mobile number of this card is waiting for confirmation")
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case failures >= MaxConfirmFailures:
			result = apperr.New(apperr.Locked, "too many wrong codes; request a new code")
			return nil
		case !now.Before(expires):
			result = apperr.New(apperr.Expired, "the code has expired; request a new code")
			return nil
		}
		v, err := r.verifier("mtan_confirm", regID.String(), strings.TrimSpace(code))
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE registrations SET confirm_verifier = NULL WHERE id = $1 AND confirm_verifier = $2`, regID, v)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if _, err := tx.Exec(ctx, `UPDATE registrations SET confirm_failures = confirm_failures + 1 WHERE id = $1`, regID); err != nil {
				return err
			}
			result = apperr.Field("code", "the code is not correct")
			return nil
		}
		return r.activateTx(ctx, tx, cardID, regID)
	})
	if err != nil {
		return nil, err
	}
	if result != nil {
		return nil, result
	}
	return r.Active(ctx, cardID)
}

// CheckAnswer reports whether answer is the security answer of a registration (R-AUTH-5), read through
// q (the caller's transaction, or a pool). It only compares: counting failures is the caller's, who
// knows what the answer is for.
func (r *Registrar) CheckAnswer(ctx context.Context, q Querier, regID uuid.UUID, answer string) (bool, error) {
	var stored []byte
	if err := q.QueryRow(ctx, `SELECT answer_verifier FROM registrations WHERE id = $1 AND method = 'mtan'`, regID).Scan(&stored); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return false, apperr.New(apperr.NotFound, "no mTAN registration")
		}
		return false, err
	}
	return r.AnswerMatches(regID, answer, stored)
}

// AnswerMatches is CheckAnswer against an answer_verifier the caller read with other data in one
// statement (nil: no answer is set, nothing matches).
func (r *Registrar) AnswerMatches(regID uuid.UUID, answer string, stored []byte) (bool, error) {
	if stored == nil {
		return false, nil
	}
	v, err := r.verifier("answer", regID.String(), NormalizeAnswer(answer))
	if err != nil {
		return false, err
	}
	return hmac.Equal(v, stored), nil
}

// Mobile returns the mobile number of an mTAN registration, for the SMS that carries an mTAN, read
// through q: a caller inside a transaction passes it, so as not to take a second connection.
func (r *Registrar) Mobile(ctx context.Context, q Querier, regID uuid.UUID) (string, error) {
	var enc []byte
	if err := q.QueryRow(ctx, `SELECT mobile_enc FROM registrations WHERE id = $1 AND method = 'mtan'`, regID).Scan(&enc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", apperr.New(apperr.NotFound, "no mTAN registration")
		}
		return "", err
	}
	return r.MobileFrom(ctx, regID, enc)
}

// MobileFrom decrypts a registration's mobile_enc that the caller read with other data in one statement.
func (r *Registrar) MobileFrom(ctx context.Context, regID uuid.UUID, enc []byte) (string, error) {
	if enc == nil {
		return "", apperr.New(apperr.NotFound, "no mTAN registration")
	}
	m, err := r.d.Data.Decrypt(ctx, envelope.AD{Table: "registrations", Column: "mobile_enc", Row: regID.String()}, enc)
	return string(m), err
}

// ConfirmExpires is when the number-confirmation code of registration regID stops being valid, for the
// page that asks for it; zero when none is waiting.
func (r *Registrar) ConfirmExpires(ctx context.Context, regID uuid.UUID) (time.Time, error) {
	var t *time.Time
	if err := r.d.Pool.QueryRow(ctx, `SELECT confirm_expires_at FROM registrations WHERE id = $1 AND state = 'confirming'`,
		regID).Scan(&t); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, err
	}
	if t == nil {
		return time.Time{}, nil
	}
	return *t, nil
}
