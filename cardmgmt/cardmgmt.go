// Package cardmgmt owns what the issuer's card management system tells the ACS about a card between two
// full card files (issue 16): block, unblock, replace (a new number, the old one closed), renew (a new
// expiry, the same number) and close, through the issuer API or a delta file. It decides what each
// change means: a block, a close or a replacement ends the card's registrations at once and withdraws
// its ID-code letters (R-REG-10); a renewal keeps them; an unblock makes the card usable again, and its
// holder registers anew. Every change is audited with the card masked. A change that is already in
// effect changes nothing and says so, so that a delta file may be sent twice.
package cardmgmt

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/cards"
	"example.com/acs/letters"
	"example.com/acs/registration"
	"example.com/acs/store"
)

// Action is a kind of change.
type Action string

const (
	Block   Action = "block"
	Unblock Action = "unblock"
	Replace Action = "replace"
	Renew   Action = "renew"
	Close   Action = "close"
)

// Change is one change to one card, with the names of the API and the delta file.
type Change struct {
	Action Action `json:"action" validate:"required,oneof=block unblock replace renew close"`
	// AcctNumber is the card's number (never logged or returned: results show it masked).
	AcctNumber string `json:"acctNumber" validate:"required,number,min=13,max=19"`
	// NewAcctNumber is the replacement's number (replace only).
	NewAcctNumber string `json:"newAcctNumber" validate:"required_if=Action replace,excluded_unless=Action replace,omitempty,number,min=13,max=19"`
	// Expiry is YYYY-MM: the new expiry (renew) or the replacement's (replace).
	Expiry string `json:"expiry" validate:"required_if=Action replace,required_if=Action renew,omitempty,len=7"`
	// Reason is kept in the audit log (lost, stolen, fraud, customer request ...).
	Reason string `json:"reason" validate:"max=200"`
}

// Result is what a change did.
type Result struct {
	Action             Action `json:"action"`
	Card               string `json:"card"`               // masked
	NewCard            string `json:"newCard,omitempty"`  // masked, replace only
	Changed            bool   `json:"changed"`            // false: it was in effect already
	RegistrationsEnded int    `json:"registrationsEnded"` // registrations of the card ended by it
}

// Deps are what the service needs.
type Deps struct {
	Pool         *pgxpool.Pool
	Cards        *cards.Directory
	Registration *registration.Registrar
	Letters      *letters.Letters
	Audit        *audit.Log
}

// Service applies changes.
type Service struct{ d Deps }

// New returns a Service.
func New(d Deps) *Service { return &Service{d} }

// MaxChanges bounds one request or file: a larger delta is split by the sender.
const MaxChanges = 10000

var expiryRE = regexp.MustCompile(`^(20[0-9]{2})-(0[1-9]|1[0-2])$`)

// Apply applies changes in one database transaction: all or none. actor names who sent them
// ("issuer-api:<client>", "file:<name>"). An error names the failing change by its position.
func (s *Service) Apply(ctx context.Context, actor string, changes []Change) ([]Result, error) {
	if len(changes) == 0 || len(changes) > MaxChanges {
		return nil, apperr.Field("changes", fmt.Sprintf("must hold 1 to %d changes", MaxChanges))
	}
	var out []Result
	err := store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		out = out[:0]
		for i, ch := range changes {
			r, err := s.apply(ctx, tx, actor, ch)
			if err != nil {
				var ae *apperr.Error
				if errors.As(err, &ae) && ae.Kind != apperr.Unavailable && ae.Kind != apperr.Internal {
					return &apperr.Error{Kind: ae.Kind, Msg: fmt.Sprintf("change %d (%s): %s", i+1, ch.Action, ae.Msg), Fields: ae.Fields}
				}
				return fmt.Errorf("cardmgmt: change %d: %w", i+1, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) apply(ctx context.Context, tx pgx.Tx, actor string, ch Change) (Result, error) {
	res := Result{Action: ch.Action}
	if longDigits.MatchString(ch.Reason) {
		return res, apperr.Field("reason", "must not hold a card number")
	}
	var expiry time.Time
	if ch.Expiry != "" {
		m := expiryRE.FindStringSubmatch(ch.Expiry)
		if m == nil {
			return res, apperr.Field("expiry", "must be YYYY-MM")
		}
		expiry, _ = time.Parse("2006-01", ch.Expiry)
	}
	card, err := s.d.Cards.FindByPANVia(ctx, tx, cards.NormalizePAN(ch.AcctNumber))
	if errors.Is(err, cards.ErrNotFound) {
		return res, apperr.New(apperr.NotFound, "no such card in the directory")
	}
	if err != nil {
		return res, err
	}
	res.Card = card.Masked()
	details := map[string]string{"reason": ch.Reason}
	switch ch.Action {
	case Block, Close:
		st := cards.Blocked
		if ch.Action == Close {
			st = cards.Closed
		}
		if card.Status == cards.Closed && st == cards.Blocked {
			return res, apperr.New(apperr.Conflict, "the card is closed")
		}
		if _, res.Changed, err = s.d.Cards.TransitionTx(ctx, tx, card.ID, st, cards.ByCardManagement); err != nil {
			return res, err
		}
		if res.RegistrationsEnded, err = s.endAll(ctx, tx, card, "card "+string(st)); err != nil {
			return res, err
		}
	case Unblock:
		if card.Status == cards.Closed {
			return res, apperr.New(apperr.Conflict, "a closed card cannot be unblocked")
		}
		if _, res.Changed, err = s.d.Cards.TransitionTx(ctx, tx, card.ID, cards.Active, cards.ByCardManagement); err != nil {
			return res, err
		}
	case Renew:
		if card.Status == cards.Closed {
			return res, apperr.New(apperr.Conflict, "a closed card cannot be renewed")
		}
		if res.Changed, err = s.d.Cards.RenewTx(ctx, tx, card.ID, expiry); err != nil {
			return res, err
		}
		details["expiry"] = ch.Expiry
	case Replace:
		if cards.NormalizePAN(ch.NewAcctNumber) == cards.NormalizePAN(ch.AcctNumber) {
			return res, apperr.Field("newAcctNumber", "must differ from acctNumber (a new expiry is renew)")
		}
		if card.Status == cards.Closed {
			// Sent again: the replacement is in place when the new card exists; a closed card gets no
			// second replacement.
			by, err := s.d.Cards.ReplacedByVia(ctx, tx, card.ID)
			if err != nil {
				return res, err
			}
			if nc, err := s.d.Cards.FindByPANVia(ctx, tx, cards.NormalizePAN(ch.NewAcctNumber)); err == nil && by != nil && nc.ID == *by {
				return res, nil
			} else if err != nil && !errors.Is(err, cards.ErrNotFound) {
				return res, err
			}
			return res, apperr.New(apperr.Conflict, "the card is closed")
		}
		nc, err := s.d.Cards.ReplacementTx(ctx, tx, card, ch.NewAcctNumber, expiry)
		switch {
		case errors.Is(err, cards.ErrExists):
			return res, apperr.Field("newAcctNumber", "is a card of the directory already")
		case errors.Is(err, cards.ErrPANFormat), errors.Is(err, cards.ErrPANLuhn), errors.Is(err, cards.ErrPANScheme):
			return res, apperr.Field("newAcctNumber", err.Error())
		case err != nil:
			return res, err
		}
		res.Changed, res.NewCard = true, nc.Masked()
		details["new_card"] = nc.Masked()
		if res.RegistrationsEnded, err = s.endAll(ctx, tx, card, "card replaced"); err != nil {
			return res, err
		}
	default:
		return res, apperr.Field("action", "must be block, unblock, replace, renew or close")
	}
	if !res.Changed {
		return res, nil
	}
	details["registrations_ended"] = fmt.Sprint(res.RegistrationsEnded)
	return res, s.d.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "card." + string(ch.Action), CardID: &card.ID,
		CardMasked: card.Masked(), Details: details})
}

// endAll ends the card's registrations and withdraws its open letters (R-REG-10).
func (s *Service) endAll(ctx context.Context, tx pgx.Tx, card *cards.Card, reason string) (int, error) {
	n, err := s.d.Registration.End(ctx, tx, card.ID, reason)
	if err != nil {
		return 0, err
	}
	_, err = s.d.Letters.WithdrawOpenTx(ctx, tx, card.ID)
	return n, err
}

// FileColumns is the delta file's header.
var FileColumns = []string{"action", "pan", "new_pan", "expiry", "reason"}

// ParseFile reads a delta file (CSV with FileColumns; UTF-8) into changes. A problem names its line and
// column, never the card number.
func ParseFile(r io.Reader) ([]Change, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(FileColumns)
	header, err := cr.Read()
	if err != nil || strings.TrimPrefix(strings.Join(header, ","), "\ufeff") != strings.Join(FileColumns, ",") {
		return nil, apperr.Field("file", "line 1: header must be "+strings.Join(FileColumns, ","))
	}
	var out []Change
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, apperr.Field("file", fmt.Sprintf("line %d: not %d comma-separated columns", line, len(FileColumns)))
		}
		if len(out) == MaxChanges {
			return nil, apperr.Field("file", fmt.Sprintf("more than %d changes: split the file", MaxChanges))
		}
		ch := Change{Action: Action(strings.TrimSpace(rec[0])), AcctNumber: cards.NormalizePAN(rec[1]),
			NewAcctNumber: cards.NormalizePAN(rec[2]), Expiry: strings.TrimSpace(rec[3]), Reason: strings.TrimSpace(rec[4])}
		if err := validate(ch); err != nil {
			return nil, apperr.Field("file", fmt.Sprintf("line %d: %s", line, err))
		}
		out = append(out, ch)
	}
	return out, nil
}

var digits = regexp.MustCompile(`^[0-9]{13,19}$`)

// validate checks a file row, naming the file's columns.
func validate(ch Change) error {
	switch ch.Action {
	case Block, Unblock, Replace, Renew, Close:
	default:
		return errors.New("action: must be block, unblock, replace, renew or close")
	}
	if !digits.MatchString(ch.AcctNumber) {
		return errors.New("pan: must be 13 to 19 digits")
	}
	if (ch.Action == Replace) != (ch.NewAcctNumber != "") {
		return errors.New("new_pan: given with replace, and only then")
	}
	if ch.NewAcctNumber != "" && !digits.MatchString(ch.NewAcctNumber) {
		return errors.New("new_pan: must be 13 to 19 digits")
	}
	if (ch.Action == Replace || ch.Action == Renew) != (ch.Expiry != "") {
		return errors.New("expiry: given with replace and renew, and only then")
	}
	if ch.Expiry != "" && !expiryRE.MatchString(ch.Expiry) {
		return errors.New("expiry: must be YYYY-MM")
	}
	if len(ch.Reason) > 200 {
		return errors.New("reason: at most 200 characters")
	}
	if longDigits.MatchString(ch.Reason) {
		return errors.New("reason: must not hold a card number")
	}
	return nil
}

// longDigits finds what may be a card number in free text, which goes to the audit log.
var longDigits = regexp.MustCompile(`[0-9][0-9 -]{10,}[0-9]`)
