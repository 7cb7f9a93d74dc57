// Package registration owns enrolling a card for 3-D Secure (R-REG-*): identifying the card and
// comparing what the cardholder types with the issuer's data, binding exactly one method per card (the
// app's device key and PIN verifier, or an mTAN number with a security question), the ID-code letter
// that activates it, the SMS confirmation of an mTAN number, and re-registration, which replaces the
// old binding only when the new one is active.
//
// Domain code only: the portal and the app API translate HTTP to these calls.
package registration

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"

	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/cards"
	"example.com/acs/envelope"
	"example.com/acs/letters"
	"example.com/acs/limits"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// Method is how a card's purchases are confirmed.
type Method string

const (
	MethodMTAN Method = "mtan"
	MethodApp  Method = "app"
)

// State of a registration.
type State string

const (
	Pending    State = "pending"    // waiting for the ID code from the letter
	Confirming State = "confirming" // mTAN: waiting for the code sent to the number
	Active     State = "active"
	Abandoned  State = "abandoned" // superseded by a newer request before activation
	Replaced   State = "replaced"  // the card's next registration became active
	Ended      State = "ended"     // card blocked or lost (R-REG-10)
)

const (
	// ConfirmValidity is how long the number-confirmation code lives, as an mTAN does (R-AUTH-5).
	ConfirmValidity = 4 * time.Minute
	// MaxConfirmFailures wrong confirmation codes end the attempt; a new code can be requested.
	MaxConfirmFailures = 5
)

// Keys are the HSM functions registration uses.
type Keys interface {
	Index(domain string, data []byte) ([]byte, error)
	Verifier(domain string, secret []byte) ([]byte, error)
}

// Deps are what a Registrar needs.
type Deps struct {
	Pool    *pgxpool.Pool
	Cards   *cards.Directory
	Letters *letters.Letters
	Data    *envelope.Keyring
	Keys    Keys
	Outbox  *sms.Outbox
	Audit   *audit.Log
	Clock   clockwork.Clock
	Log     *slog.Logger
	// SMSPrice is what the issuer charges per SMS; above zero the cardholder must accept it (R-REG-6).
	SMSPrice decimal.Decimal
	Currency string
	// Limits bounds card checks per card and per client (nil: unbounded, tests of other things).
	Limits *limits.Limiter
}

// Card-check limits (issue 12): failed checks per card number known to the issuer, and per client
// address, within a window; past either, checks are refused for the rest of the window. A success
// ends the card's run. CheckFloor is the least time a check takes, so that a known and an unknown card
// number cannot be told apart by the answer's timing.
var (
	CardCheckPerCard   = limits.Rule{Name: "card_check_card", Max: 5, Window: 24 * time.Hour}
	CardCheckPerClient = limits.Rule{Name: "card_check_client", Max: 20, Window: time.Hour}
	CheckFloor         = 40 * time.Millisecond
)

// ErrTooManyChecks refuses a card check past a limit.
var ErrTooManyChecks = apperr.New(apperr.TooMany, "too many attempts; please try again later or call us")

// Querier is a pool or a transaction; reads that a caller makes inside its transaction go through it.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Columns are the encrypted columns of registrations, for key rotation (acs keys reencrypt).
var Columns = []envelope.Column{
	{Table: "registrations", Column: "mobile_enc", IDColumn: "id"},
	{Table: "registrations", Column: "device_key_enc", IDColumn: "id"},
	{Table: "registrations", Column: "offline_secret_enc", IDColumn: "id"},
}

// Registrar runs registrations.
type Registrar struct{ d Deps }

// New returns a Registrar.
func New(d Deps) *Registrar { return &Registrar{d: d} }

// Registration is what may be shown of a registration: no secret, masked number only.
type Registration struct {
	ID           uuid.UUID  `json:"registration_id"`
	CardID       uuid.UUID  `json:"card_id"`
	Method       Method     `json:"method"`
	State        State      `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	ActivatedAt  *time.Time `json:"activated_at,omitempty"`
	MobileMasked string     `json:"mobile,omitempty"`
	Question     string     `json:"question,omitempty"`
	EmCertID     *uuid.UUID `json:"em_cert_id,omitempty"`
	Platform     string     `json:"platform,omitempty"`
	// Locked: the method is locked after MaxConsecutiveFailures wrong entries in a row (support lifts it).
	Locked bool `json:"locked,omitempty"`
	// SecurityLevel is the cardholder's choice (R-X-1).
	SecurityLevel SecurityLevel `json:"security_level"`
	// PriceAccepted are the SMS price terms the cardholder accepted, and when (R-REG-6); nil when the
	// SMS were free or the registration is for the app.
	PriceAccepted   *PriceTerms `json:"price_accepted,omitempty"`
	PriceAcceptedAt *time.Time  `json:"price_accepted_at,omitempty"`
}

// SecurityLevel is how the ACS treats the card's purchases (R-X-1; seeds 000, 002).
type SecurityLevel string

const (
	// Adaptive: the risk rules may let a purchase through without a challenge (exemptions).
	Adaptive SecurityLevel = "adaptive"
	// AlwaysConfirm: every purchase is challenged, no exemption.
	AlwaysConfirm SecurityLevel = "always_confirm"
)

// SetSecurityLevel sets the level of the card's active registration; the caller has had the card's
// method confirm the cardholder (the app's PIN, or a step-up). Audited; changed is false when it was
// that level already.
func (r *Registrar) SetSecurityLevel(ctx context.Context, cardID uuid.UUID, level SecurityLevel, actor string) (changed bool, err error) {
	if level != Adaptive && level != AlwaysConfirm {
		return false, apperr.Field("security_level", "must be adaptive or always_confirm")
	}
	err = store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE registrations SET security_level = $2 WHERE card_id = $1 AND state = 'active'
			AND security_level <> $2`, cardID, string(level))
		if err != nil {
			return fmt.Errorf("registration: security level: %w", err)
		}
		if changed = tag.RowsAffected() == 1; !changed {
			return nil
		}
		return r.d.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "registration.security_level", CardID: &cardID,
			Details: map[string]string{"security_level": string(level)}})
	})
	return changed, err
}

// HolderData is what the cardholder types to prove the card is theirs (R-REG-2).
type HolderData struct {
	PAN         string
	ExpiryMonth int
	ExpiryYear  int    // four digits
	Name        string // as on the card; this or DateOfBirth, or both
	DateOfBirth string // YYYY-MM-DD
}

var errMismatch = apperr.New(apperr.Invalid, "the data you entered do not match our records for this card")

// VerifyCard is VerifyCardFrom for callers inside this program (the demo seed): no client to count.
func (r *Registrar) VerifyCard(ctx context.Context, in HolderData) (*cards.Card, error) {
	return r.VerifyCardFrom(ctx, in, "")
}

// VerifyCardFrom finds the card and compares the typed data with the issuer's (R-REG-1, R-REG-2). Every
// read of the issuer's data is recorded (R-REG-9). An unknown card and a mismatch get the same answer,
// in at least CheckFloor, so the form cannot be used to learn which card numbers exist. Failed checks
// count per card and per client (the address the request came from); past CardCheckPerCard or
// CardCheckPerClient the check is refused (TooMany) before any data is compared.
func (r *Registrar) VerifyCardFrom(ctx context.Context, in HolderData, client string) (*cards.Card, error) {
	start := time.Now()
	card, err := r.verifyCard(ctx, in, client)
	if wait := CheckFloor - time.Since(start); wait > 0 && apperr.KindOf(err) != apperr.Unavailable {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return card, err
}

func (r *Registrar) verifyCard(ctx context.Context, in HolderData, client string) (*cards.Card, error) {
	var clientKey string
	if client != "" && r.d.Limits != nil {
		var err error
		if clientKey, err = limits.Client(r.d.Keys, CardCheckPerClient, client); err != nil {
			return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
		}
		if reached, err := r.d.Limits.Reached(ctx, CardCheckPerClient, clientKey); err != nil {
			return nil, err
		} else if reached {
			return nil, ErrTooManyChecks
		}
	}
	card, err := r.compareCard(ctx, in)
	if err == errMismatch && clientKey != "" {
		if _, cerr := r.d.Limits.Count(ctx, CardCheckPerClient, clientKey); cerr != nil {
			return nil, cerr
		}
	}
	return card, err
}

// compareCard is the comparison itself, with the per-card limit: a known card's failed checks count.
func (r *Registrar) compareCard(ctx context.Context, in HolderData) (*cards.Card, error) {
	pan := cards.NormalizePAN(in.PAN)
	if _, err := cards.CheckPAN(pan); err != nil {
		return nil, apperr.Field("pan", err.Error())
	}
	if in.ExpiryMonth < 1 || in.ExpiryMonth > 12 || in.ExpiryYear < 2000 || in.ExpiryYear > 2100 {
		return nil, apperr.Field("expiry", "must be a month and a four-digit year")
	}
	if strings.TrimSpace(in.Name) == "" && strings.TrimSpace(in.DateOfBirth) == "" {
		return nil, apperr.Field("name", "enter the name on the card or your date of birth")
	}
	card, err := r.d.Cards.FindByPAN(ctx, pan)
	if errors.Is(err, cards.ErrNotFound) {
		return nil, errMismatch
	}
	if err != nil {
		return nil, err
	}
	cardKey := card.ID.String()
	if r.d.Limits != nil {
		if reached, err := r.d.Limits.Reached(ctx, CardCheckPerCard, cardKey); err != nil {
			return nil, err
		} else if reached {
			return nil, ErrTooManyChecks
		}
	}
	if err := r.d.Audit.IssuerDataRead(ctx, r.d.Pool, card.ID, "registration_check"); err != nil {
		return nil, err
	}
	holder, err := r.d.Cards.Holder(ctx, card.ID)
	if err != nil {
		return nil, err
	}
	match := card.ExpiryMonth.Year() == in.ExpiryYear && int(card.ExpiryMonth.Month()) == in.ExpiryMonth
	if strings.TrimSpace(in.Name) != "" {
		match = match && foldName(in.Name) == foldName(holder.Name)
	}
	if strings.TrimSpace(in.DateOfBirth) != "" {
		match = match && strings.TrimSpace(in.DateOfBirth) == holder.DateOfBirth
	}
	if !match {
		if r.d.Limits != nil {
			if _, err := r.d.Limits.Count(ctx, CardCheckPerCard, cardKey); err != nil {
				return nil, err
			}
		}
		return nil, errMismatch
	}
	if r.d.Limits != nil {
		if err := r.d.Limits.Reset(ctx, CardCheckPerCard, cardKey); err != nil {
			return nil, err
		}
	}
	// Status and expiry are told only to someone who proved to know the card.
	if !card.Status.Usable() {
		return nil, apperr.New(apperr.Conflict, "this card is blocked and cannot be registered")
	}
	if card.Expired(r.d.Clock.Now()) {
		return nil, apperr.New(apperr.Conflict, "this card has expired; register your replacement card")
	}
	return card, nil
}

// foldName compares names as people type them: case, spacing and the German umlauts written out.
func foldName(s string) string {
	s = strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	s = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss").Replace(s)
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '-' }), " ")
}

// errOtherMethod answers an ID code typed for a registration of the other method.
var errOtherMethod = map[Method]error{
	MethodApp: apperr.New(apperr.Conflict,
		"the registration waiting for this card's ID code is for the app: activate it in the app; if you did not start it, please call us"),
	MethodMTAN: apperr.New(apperr.Conflict,
		"the registration waiting for this card's ID code is for mTAN: activate it in the portal; if you did not start it, please call us"),
}

// ErrRegistrationUnderWay refuses a registration request while another one of the card waits for its
// letter: a new request never silently replaces the cardholder's letter with one for someone else's
// phone (issue 12). The cardholder who did not start it calls the bank, whose support ends it.
var ErrRegistrationUnderWay = apperr.New(apperr.Conflict,
	"a registration of this card is already under way and waits for its ID-code letter; if you did not start it, please call us")

// requestTx inserts the new registration through insert, asks for the ID-code letter (bound to it), and
// audits it, in one transaction. A registration in progress whose letter is still valid refuses the
// request; one whose letter is spent, expired or superseded is abandoned.
func (r *Registrar) requestTx(ctx context.Context, card *cards.Card, method Method, insert func(tx pgx.Tx, id uuid.UUID, now time.Time) error) (uuid.UUID, error) {
	id := uuid.New()
	err := store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		now := r.d.Clock.Now()
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM registrations g JOIN letters l ON l.registration_id = g.id
			WHERE g.card_id = $1 AND g.state IN ('pending', 'confirming')
			  AND (l.state = 'requested' OR (l.state = 'printed' AND l.valid_until > $2)))`, card.ID, now).Scan(&live); err != nil {
			return err
		}
		if live {
			return ErrRegistrationUnderWay
		}
		if _, err := tx.Exec(ctx, `UPDATE registrations SET state = 'abandoned', closed_at = $2, close_reason = 'new request'
			WHERE card_id = $1 AND state IN ('pending', 'confirming')`, card.ID, now); err != nil {
			return err
		}
		if err := insert(tx, id, now); err != nil {
			return err
		}
		if _, err := r.d.Letters.RequestTx(ctx, tx, card.ID, "registration ("+string(method)+")", "cardholder"); err != nil {
			return err
		}
		// The request reads the card's status and binds the letter to the holder's address (R-REG-9).
		if err := r.d.Audit.IssuerDataRead(ctx, tx, card.ID, "registration_request"); err != nil {
			return err
		}
		return r.d.Audit.Record(ctx, tx, audit.Entry{Actor: "cardholder", Action: "registration.request", CardID: &card.ID,
			CardMasked: card.Masked(), Details: map[string]string{"method": string(method), "registration_id": id.String()}})
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return uuid.Nil, apperr.New(apperr.Conflict, "another registration of this card was started at the same moment")
	}
	if err != nil {
		return uuid.Nil, err
	}
	r.d.Log.InfoContext(ctx, "registration requested", "registration_id", id, "card", card.Masked(), "method", method)
	return id, nil
}

// RandomDigits returns n decimal digits from the CSPRNG, each equally likely: the one-time codes sent by
// SMS (number confirmation here, mTANs in package acs).
func RandomDigits(n int) (string, error) {
	var b strings.Builder
	for i := 0; i < n; i++ {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String(), nil
}

func (r *Registrar) verifier(domain string, parts ...string) ([]byte, error) {
	v, err := r.d.Keys.Verifier(domain, []byte(strings.Join(parts, "\x00")))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	return v, nil
}

// newCode makes a 6-digit code to send by SMS and its verifier in domain, bound to id (the registration
// or step-up it confirms): only the verifier is stored.
func (r *Registrar) newCode(domain string, id uuid.UUID) (code string, verifier []byte, err error) {
	if code, err = RandomDigits(6); err != nil {
		return "", nil, err
	}
	verifier, err = r.verifier(domain, id.String(), code)
	return code, verifier, err
}

// Activate redeems the ID code from the letter for the card's registration in progress of the given
// method: the portal activates mTAN registrations, the app its own (the caller has checked the
// device's signature). The code must be of the letter issued for that registration. An app
// registration becomes active at once; an mTAN registration sends a confirmation code to its number
// first (R-REG-6). Spending the code and the state change commit together; a wrong code is counted.
func (r *Registrar) Activate(ctx context.Context, cardID uuid.UUID, method Method, idCode string) (*Registration, error) {
	var result error
	err := store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		var regID uuid.UUID
		var pending Method
		err := tx.QueryRow(ctx, `SELECT id, method FROM registrations WHERE card_id = $1 AND state = 'pending' FOR UPDATE`,
			cardID).Scan(&regID, &pending)
		if errors.Is(err, pgx.ErrNoRows) {
			result = apperr.New(apperr.NotFound, "no registration of this card is waiting for an ID code")
			return nil
		}
		if err != nil {
			return err
		}
		if pending != method {
			// The letter says which method it activates; a code for an app registration typed into the
			// portal (or the reverse) is not the cardholder's intent.
			result = errOtherMethod[pending]
			return nil
		}
		if _, err := r.d.Letters.RedeemTx(ctx, tx, cardID, regID, idCode); err != nil {
			if apperr.KindOf(err) != apperr.Internal {
				result = err // commit: the wrong attempt counts
				return nil
			}
			return err
		}
		if method == MethodApp {
			return r.activateTx(ctx, tx, cardID, regID)
		}
		return r.sendConfirmationTx(ctx, tx, cardID, regID)
	})
	if err != nil {
		return nil, err
	}
	if result != nil {
		return nil, result
	}
	return r.Current(ctx, cardID)
}

// activateTx makes regID the card's active registration, replacing the one before (R-REG-4).
func (r *Registrar) activateTx(ctx context.Context, tx pgx.Tx, cardID, regID uuid.UUID) error {
	now := r.d.Clock.Now()
	if _, err := tx.Exec(ctx, `UPDATE registrations SET state = 'replaced', closed_at = $2, close_reason = 'new registration active'
		WHERE card_id = $1 AND state = 'active'`, cardID, now); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE registrations SET state = 'active', activated_at = $2, confirm_verifier = NULL
		WHERE id = $1 AND state IN ('pending', 'confirming')`, regID, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("registration: %s changed state during activation", regID)
	}
	card, err := r.d.Cards.GetVia(ctx, tx, cardID)
	if err != nil {
		return err
	}
	if err := r.d.Audit.IssuerDataRead(ctx, tx, cardID, "activation"); err != nil {
		return err
	}
	return r.d.Audit.Record(ctx, tx, audit.Entry{Actor: "cardholder", Action: "registration.activate", CardID: &cardID,
		CardMasked: card.Masked(), Details: map[string]string{"registration_id": regID.String()}})
}

// Current returns the card's registration in progress or, if none, its active one.
func (r *Registrar) Current(ctx context.Context, cardID uuid.UUID) (*Registration, error) {
	return r.find(ctx, cardID, `state IN ('pending', 'confirming', 'active') ORDER BY state = 'active', created_at DESC`)
}

// Active returns the card's active registration, the one a purchase is confirmed with.
func (r *Registrar) Active(ctx context.Context, cardID uuid.UUID) (*Registration, error) {
	return r.find(ctx, cardID, `state = 'active'`)
}

// find reads the first registration of a card matching cond (a constant of this file, never input).
func (r *Registrar) find(ctx context.Context, cardID uuid.UUID, cond string) (*Registration, error) {
	var x Registration
	var amount decimal.NullDecimal
	var currency, version *string
	err := r.d.Pool.QueryRow(ctx, `SELECT id, card_id, method, state, created_at, activated_at, coalesce(mobile_masked, ''),
		coalesce(question, ''), em_cert_id, coalesce(device_platform, ''), locked_at IS NOT NULL, security_level,
		price_accepted_at, price_accepted_amount, price_accepted_currency, price_document_version FROM registrations
		WHERE card_id = $1 AND `+cond+` LIMIT 1`, cardID).Scan(&x.ID, &x.CardID, &x.Method, &x.State, &x.CreatedAt,
		&x.ActivatedAt, &x.MobileMasked, &x.Question, &x.EmCertID, &x.Platform, &x.Locked, &x.SecurityLevel,
		&x.PriceAcceptedAt, &amount, &currency, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "this card is not registered")
	}
	if err != nil {
		return nil, fmt.Errorf("registration: read: %w", err)
	}
	if amount.Valid && currency != nil && version != nil {
		x.PriceAccepted = &PriceTerms{Amount: amount.Decimal, Currency: *currency, Version: *version}
	}
	return &x, nil
}

// End ends every registration of a card (blocked, lost: R-REG-10) within the caller's transaction.
func (r *Registrar) End(ctx context.Context, tx pgx.Tx, cardID uuid.UUID, reason string) (int, error) {
	tag, err := tx.Exec(ctx, `UPDATE registrations SET state = 'ended', closed_at = $2, close_reason = $3
		WHERE card_id = $1 AND state IN ('pending', 'confirming', 'active')`, cardID, r.d.Clock.Now(), reason)
	if err != nil {
		return 0, fmt.Errorf("registration: end: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// EndForUnusableCards ends the registrations of every card whose status no longer allows them (a full
// card file that marks cards blocked or closed, R-REG-10) and returns the cards concerned.
func (r *Registrar) EndForUnusableCards(ctx context.Context, reason string) ([]uuid.UUID, error) {
	rows, err := r.d.Pool.Query(ctx, `UPDATE registrations g SET state = 'ended', closed_at = $1, close_reason = $2
		FROM issuer_cards c WHERE c.id = g.card_id AND c.status <> 'active' AND g.state IN ('pending', 'confirming', 'active')
		RETURNING g.card_id`, r.d.Clock.Now(), reason)
	if err != nil {
		return nil, fmt.Errorf("registration: end for unusable cards: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// IssuerDataReads counts the reads of the card's issuer data in the last 13 months and says since when
// (R-REG-9), for the cardholder's question "who looked at my data".
func (r *Registrar) IssuerDataReads(ctx context.Context, cardID uuid.UUID) (int, time.Time, error) {
	return r.d.Audit.IssuerDataReadsSince(ctx, cardID)
}
