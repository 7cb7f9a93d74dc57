// Package letters owns ID-code letters (R-REG-3, R-SUP-1): a letter is requested for a card (by the
// registration or by support staff), printed in the day's batch, and redeemed once by the cardholder.
//
// The code is generated from a CSPRNG only when the letter is printed, and only its keyed verifier
// (HMAC in the HSM) is stored: the code exists in clear on paper and nowhere else. It is valid for 15
// days from printing; a newer letter supersedes an older unused one; a used code is spent; five wrong
// codes lock the letter until a new one is requested. Redemption is one guarded UPDATE whose affected
// row count decides, so two concurrent redemptions of one code cannot both win.
package letters

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/cards"
	"example.com/acs/store"
)

const (
	// Validity is how long a printed code can be redeemed (R-REG-3).
	Validity = 15 * 24 * time.Hour
	// MaxAttempts wrong codes lock a letter.
	MaxAttempts = 5
)

// State of a letter.
type State string

const (
	Requested  State = "requested"
	Printed    State = "printed"
	Used       State = "used"
	Superseded State = "superseded"
	Expired    State = "expired"
)

// Verifier computes keyed verifiers of secrets (the HSM's verifier key).
type Verifier interface {
	Verifier(domain string, secret []byte) ([]byte, error)
}

// Cards is what the letters need of the card directory: the masked number and the postal address.
type Cards interface {
	Get(ctx context.Context, id uuid.UUID) (*cards.Card, error)
	Holder(ctx context.Context, id uuid.UUID) (*cards.Holder, error)
}

// AccessRecorder records a read of the issuer's data of a card within the caller's transaction
// (audit.Log.IssuerDataRead).
type AccessRecorder interface {
	IssuerDataRead(ctx context.Context, q audit.Execer, cardID uuid.UUID, purpose string) error
}

// Deps are what Letters needs.
type Deps struct {
	Pool     *pgxpool.Pool
	Verifier Verifier
	Cards    Cards
	Clock    clockwork.Clock
	Log      *slog.Logger
	// Issuer is the bank's name as printed on the letter.
	Issuer string
	// Access records each read of the holder's address for a letter (R-REG-9); nil: not recorded.
	Access AccessRecorder
	// NewCode makes each letter's code; nil means NewCode (the CSPRNG). Tests set it to learn the code
	// that otherwise only the paper shows.
	NewCode func() (string, error)
}

// Letters issues, prints and redeems ID-code letters.
type Letters struct {
	d       Deps
	newCode func() (string, error)
}

// New returns Letters.
func New(d Deps) *Letters {
	l := &Letters{d: d, newCode: d.NewCode}
	if l.newCode == nil {
		l.newCode = NewCode
	}
	return l
}

// Letter is what may be shown of a letter (to support staff and the cardholder): never the code.
type Letter struct {
	ID             uuid.UUID  `json:"letter_id"`
	CardID         uuid.UUID  `json:"card_id"`
	State          State      `json:"state"`
	Reason         string     `json:"reason"`
	RequestedBy    string     `json:"requested_by"`
	RequestedAt    time.Time  `json:"requested_at"`
	PrintedAt      *time.Time `json:"printed_at,omitempty"`
	ValidUntil     *time.Time `json:"valid_until,omitempty"`
	FailedAttempts int        `json:"failed_attempts"`
}

const codeDomain = "idcode"

// codeAlphabet has no 0/O or 1/I, so a typed code is never ambiguous: 32 symbols, 5 bits each.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// codeLength symbols give 50 bits: with 5 tries a guess succeeds with probability 5/2^50.
const codeLength = 10

// NewCode returns a fresh ID code from the CSPRNG, grouped for reading as XXXXX-XXXXX.
func NewCode() (string, error) {
	b := make([]byte, codeLength)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("letters: random: %w", err)
	}
	out := make([]byte, 0, codeLength+1)
	for i, x := range b {
		if i == codeLength/2 {
			out = append(out, '-')
		}
		// 256 is a multiple of 32: taking the low five bits keeps every symbol equally likely.
		out = append(out, codeAlphabet[x&31])
	}
	return string(out), nil
}

// NormalizeCode turns what a person typed into the canonical code (upper case, no spaces or dashes),
// or "" when it cannot be a code.
func NormalizeCode(s string) string {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(s))
	if len(s) != codeLength {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(codeAlphabet, rune(s[i])) {
			return ""
		}
	}
	return s
}

func (l *Letters) verifier(code string) ([]byte, error) {
	v, err := l.d.Verifier.Verifier(codeDomain, []byte(code))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	return v, nil
}

// MaxPerDay bounds the letters one card is sent within 24 hours.
const MaxPerDay = 3

// ErrTooManyLetters refuses a letter past MaxPerDay.
var ErrTooManyLetters = apperr.New(apperr.TooMany, "enough letters were requested for this card today; please try again tomorrow")

// Request asks for a new letter for a card. An open (requested or printed, unused) letter of the card is
// superseded in the same transaction. reason and by are kept for support and audit.
func (l *Letters) Request(ctx context.Context, cardID uuid.UUID, reason, by string) (uuid.UUID, error) {
	var id uuid.UUID
	err := store.WithTx(ctx, l.d.Pool, func(tx pgx.Tx) error {
		var err error
		id, err = l.RequestTx(ctx, tx, cardID, reason, by)
		return err
	})
	return id, err
}

// RequestTx is Request inside the caller's transaction (registration requests a letter together with
// its own state change).
func (l *Letters) RequestTx(ctx context.Context, tx pgx.Tx, cardID uuid.UUID, reason, by string) (uuid.UUID, error) {
	reason, by = strings.TrimSpace(reason), strings.TrimSpace(by)
	if reason == "" || len(reason) > 200 {
		return uuid.Nil, apperr.Field("reason", "must be 1 to 200 characters")
	}
	if by == "" || len(by) > 100 {
		return uuid.Nil, apperr.Field("requested_by", "must be 1 to 100 characters")
	}
	now := l.d.Clock.Now()
	// Every letter costs postage and voids the one before: at most MaxPerDay a card (issue 12). The
	// card's row lock serialises the count with the insert.
	var today int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM letters WHERE card_id = (SELECT id FROM issuer_cards WHERE id = $1 FOR NO KEY UPDATE)
		AND requested_at > $2`, cardID, now.Add(-24*time.Hour)).Scan(&today); err != nil {
		return uuid.Nil, fmt.Errorf("letters: count: %w", err)
	}
	if today >= MaxPerDay {
		return uuid.Nil, ErrTooManyLetters
	}
	if _, err := tx.Exec(ctx, `UPDATE letters SET state = 'superseded', closed_at = $2
		WHERE card_id = $1 AND state IN ('requested', 'printed')`, cardID, now); err != nil {
		return uuid.Nil, fmt.Errorf("letters: supersede: %w", err)
	}
	id := uuid.New()
	// The letter is for the card's registration in progress, if any: its code activates that one only.
	_, err := tx.Exec(ctx, `INSERT INTO letters (id, card_id, state, reason, requested_by, requested_at, registration_id)
		VALUES ($1, $2, 'requested', $3, $4, $5,
			(SELECT id FROM registrations WHERE card_id = $2 AND state IN ('pending', 'confirming')))`, id, cardID, reason, by, now)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return uuid.Nil, apperr.New(apperr.NotFound, "no such card")
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		// Another request for the card committed between our supersede and insert.
		return uuid.Nil, apperr.New(apperr.Conflict, "another letter for this card was requested at the same moment")
	case err != nil:
		return uuid.Nil, fmt.Errorf("letters: request: %w", err)
	}
	l.d.Log.InfoContext(ctx, "letter requested", "letter_id", id, "card_id", cardID, "by", by)
	return id, nil
}

// Redeem checks an ID code for registration regID of a card and spends it. It returns the letter's id,
// or an *apperr.Error: Invalid for a wrong code, or a code of a letter issued for another registration
// (counted), Locked after MaxAttempts wrong codes (even for the right code), Expired after the
// validity, NotFound when the card has no printed letter (never requested, not yet printed, used or
// superseded).
func (l *Letters) Redeem(ctx context.Context, cardID, regID uuid.UUID, typed string) (uuid.UUID, error) {
	return l.RedeemTx(ctx, l.d.Pool, cardID, regID, typed)
}

// Querier is a pool or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// RedeemTx is Redeem inside the caller's transaction, so that spending the code and what it unlocks
// commit together. The caller must commit also when Redeem fails with an *apperr.Error: the count of
// wrong attempts is part of the transaction.
func (l *Letters) RedeemTx(ctx context.Context, q Querier, cardID, regID uuid.UUID, typed string) (uuid.UUID, error) {
	now := l.d.Clock.Now()
	code := NormalizeCode(typed)
	if code != "" {
		v, err := l.verifier(code)
		if err != nil {
			return uuid.Nil, err
		}
		// The verifier is compared in SQL: it is an HMAC the caller cannot steer byte by byte, so the
		// comparison's timing tells nothing about the code.
		var id uuid.UUID
		err = q.QueryRow(ctx, `UPDATE letters SET state = 'used', closed_at = $2
			WHERE card_id = $1 AND state = 'printed' AND valid_until > $2 AND failed_attempts < $3 AND code_verifier = $4
				AND registration_id IS NOT DISTINCT FROM $5
			RETURNING id`, cardID, now, MaxAttempts, v, nullable(regID)).Scan(&id)
		if err == nil {
			l.d.Log.InfoContext(ctx, "letter redeemed", "letter_id", id, "card_id", cardID)
			return id, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return uuid.Nil, fmt.Errorf("letters: redeem: %w", err)
		}
	}
	// Wrong, malformed, late or locked: count the attempt against the open letter, then say which.
	var attempts int
	var validUntil time.Time
	err := q.QueryRow(ctx, `UPDATE letters SET failed_attempts = failed_attempts + 1
		WHERE card_id = $1 AND state = 'printed' RETURNING failed_attempts, valid_until`, cardID).Scan(&attempts, &validUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, apperr.New(apperr.NotFound, "no valid ID code letter for this card; request a new letter")
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("letters: count attempt: %w", err)
	}
	l.d.Log.InfoContext(ctx, "wrong ID code", "card_id", cardID, "failed_attempts", attempts)
	switch {
	case !now.Before(validUntil):
		if _, err := q.Exec(ctx, `UPDATE letters SET state = 'expired', closed_at = $2
			WHERE card_id = $1 AND state = 'printed' AND valid_until <= $2`, cardID, now); err != nil {
			return uuid.Nil, fmt.Errorf("letters: expire: %w", err)
		}
		return uuid.Nil, apperr.New(apperr.Expired, "the ID code has expired; request a new letter")
	case attempts >= MaxAttempts:
		return uuid.Nil, apperr.New(apperr.Locked, "too many wrong ID codes; request a new letter")
	}
	return uuid.Nil, apperr.Field("id_code", "the ID code is not correct")
}

// nullable is id, or SQL NULL for uuid.Nil (a letter requested with no registration in progress).
func nullable(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// ExpireDue marks printed letters past their validity as expired and returns how many.
func (l *Letters) ExpireDue(ctx context.Context) (int, error) {
	tag, err := l.d.Pool.Exec(ctx, `UPDATE letters SET state = 'expired', closed_at = $1
		WHERE state = 'printed' AND valid_until <= $1`, l.d.Clock.Now())
	if err != nil {
		return 0, fmt.Errorf("letters: expire: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ForCard lists a card's letters, newest first.
func (l *Letters) ForCard(ctx context.Context, cardID uuid.UUID) ([]Letter, error) {
	rows, err := l.d.Pool.Query(ctx, `SELECT id, card_id, state, reason, requested_by, requested_at, printed_at,
		valid_until, failed_attempts FROM letters WHERE card_id = $1
		ORDER BY requested_at DESC, closed_at DESC NULLS FIRST, id`, cardID)
	if err != nil {
		return nil, fmt.Errorf("letters: list: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Letter, error) {
		var x Letter
		err := r.Scan(&x.ID, &x.CardID, &x.State, &x.Reason, &x.RequestedBy, &x.RequestedAt, &x.PrintedAt,
			&x.ValidUntil, &x.FailedAttempts)
		return x, err
	})
}

// WithdrawOpenTx supersedes the card's letters not yet redeemed (requested or printed) within the
// caller's transaction: a blocked, closed or replaced card's ID code must not activate anything.
func (l *Letters) WithdrawOpenTx(ctx context.Context, tx pgx.Tx, cardID uuid.UUID) (int, error) {
	tag, err := tx.Exec(ctx, `UPDATE letters SET state = 'superseded', closed_at = $2
		WHERE card_id = $1 AND state IN ('requested', 'printed')`, cardID, l.d.Clock.Now())
	if err != nil {
		return 0, fmt.Errorf("letters: withdraw: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
