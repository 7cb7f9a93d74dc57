// Package support owns what the issuer's support staff may do (R-SUP-*): staff accounts with roles,
// hashed bearer tokens and a TOTP second factor that together open short sessions (signin.go), finding a card without ever echoing its number, a card's view (registration
// state, letters, access count, SMS cost lines, audit trail) without secrets, issuing a new ID-code
// letter with a reason, blocking a card, which ends its registration (R-REG-10), unblocking it, lifting
// a method lock, taking a trusted merchant off a card's list, and the outreach lists of cards that cannot
// confirm purchases (actions.go). Every action is
// written to the audit log with who, what, when and the masked card.
package support

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
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
	"example.com/acs/envelope"
	"example.com/acs/letters"
	"example.com/acs/limits"
	"example.com/acs/registration"
	"example.com/acs/sms"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

// Role of a staff member.
type Role string

const (
	Agent      Role = "agent"      // looks cards up, issues letters
	Supervisor Role = "supervisor" // also blocks and unblocks cards
)

// Staff is an authenticated staff member.
type Staff struct {
	ID   uuid.UUID
	Name string
	Role Role
}

// Actor is how the audit log names a staff member.
func (s Staff) Actor() string { return "staff:" + s.Name }

// Indexer computes keyed lookup hashes (the HSM's index key).
type Indexer interface {
	Index(domain string, data []byte) ([]byte, error)
}

// Deps are what the support service needs.
type Deps struct {
	Pool         *pgxpool.Pool
	Keys         Indexer
	Cards        *cards.Directory
	Letters      *letters.Letters
	Registration *registration.Registrar
	Audit        *audit.Log
	Clock        clockwork.Clock
	Log          *slog.Logger
	// Transactions lists a card's newest 3-D Secure transactions with their decisions and reasons
	// (package acs provides it; support shows them as they come). Nil: none shown.
	Transactions func(ctx context.Context, cardID uuid.UUID) (any, error)
	// Limits bounds failed staff logins per client address (nil: unbounded).
	Limits *limits.Limiter
	// Data encrypts the staff members' TOTP secrets.
	Data *envelope.Keyring
	// Issuer names the bank in authenticator apps ("Musterbank AG Support").
	Issuer string
	// Whitelist is the cardholders' trusted merchants, which support removes on request.
	Whitelist *whitelist.List
}

// TokenTTL is how long a staff token is valid (PCI DSS 8.3.9: a single factor changes every 90 days);
// `acs staff rotate` makes a new one.
const TokenTTL = 90 * 24 * time.Hour

// FailedLogins bounds wrong staff tokens per client address (PCI DSS 8.3.4: locked after at most 10).
var FailedLogins = limits.Rule{Name: "staff_login_client", Max: 10, Window: 30 * time.Minute}

// Service is the support staff's toolbox.
type Service struct{ d Deps }

// New returns a Service.
func New(d Deps) *Service { return &Service{d: d} }

var staffNameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,39}$`)

// AddStaff creates a staff member and returns the bearer token and the TOTP secret, which exist in
// clear only in this return value: they are shown once to whoever runs `acs staff add`.
func (s *Service) AddStaff(ctx context.Context, name string, role Role) (Enrolment, error) {
	if !staffNameRE.MatchString(name) {
		return Enrolment{}, apperr.Field("name", "must be 2 to 40 lower-case letters, digits, dots, dashes or underscores")
	}
	if role != Agent && role != Supervisor {
		return Enrolment{}, apperr.Field("role", "must be agent or supervisor")
	}
	token, h, err := s.newToken()
	if err != nil {
		return Enrolment{}, err
	}
	id := uuid.New()
	key, enc, err := s.newTOTP(id, name)
	if err != nil {
		return Enrolment{}, err
	}
	err = store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		now := s.d.Clock.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO staff (id, name, role, token_hash, created_at, token_expires_at, totp_enc)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, name, role, h, now, now.Add(TokenTTL), enc); err != nil {
			return err
		}
		return s.d.Audit.Record(ctx, tx, audit.Entry{Actor: "system", Action: "staff.add", Details: map[string]string{"name": name, "role": string(role)}})
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Enrolment{}, apperr.New(apperr.Conflict, "a staff member of that name exists")
	}
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Token: token, OTPURI: key.URL(), OTPSecret: key.Secret()}, nil
}

// newToken makes a bearer token and its keyed hash; only the hash is stored.
func (s *Service) newToken() (string, []byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	token := "acss_" + base64.RawURLEncoding.EncodeToString(raw)
	h, err := s.d.Keys.Index("staff_token", []byte(token))
	if err != nil {
		return "", nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	return token, h, nil
}

// RotateStaff gives a staff member a new token (the old one and every open session stop working at
// once) with a fresh TokenTTL, and returns it once.
func (s *Service) RotateStaff(ctx context.Context, name string) (string, error) {
	token, h, err := s.newToken()
	if err != nil {
		return "", err
	}
	err = s.staffChange(ctx, name, "staff.rotate", `UPDATE staff SET token_hash = $2, token_expires_at = $3
		WHERE name = $1 AND disabled_at IS NULL`, h, s.d.Clock.Now().Add(TokenTTL))
	return token, err
}

// DisableStaff ends a staff member's access and sessions at once (leaving, a lost token); audited.
func (s *Service) DisableStaff(ctx context.Context, name string) error {
	return s.staffChange(ctx, name, "staff.disable", `UPDATE staff SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL`,
		s.d.Clock.Now())
}

func (s *Service) staffChange(ctx context.Context, name, action, sql string, args ...any) error {
	return store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, append([]any{name}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return apperr.New(apperr.NotFound, "no active staff member of that name")
		}
		// Every change to a member's credentials ends their sessions.
		if _, err := tx.Exec(ctx, `DELETE FROM staff_sessions WHERE staff_id = (SELECT id FROM staff WHERE name = $1)`, name); err != nil {
			return err
		}
		return s.d.Audit.Record(ctx, tx, audit.Entry{Actor: "system", Action: action, Details: map[string]string{"name": name}})
	})
}

var errStaffToken = apperr.New(apperr.Unauthorized, "a valid staff token is needed")

func (s *Service) checkToken(ctx context.Context, token string) (*Staff, error) {
	if !strings.HasPrefix(token, "acss_") || len(token) > 100 {
		return nil, errStaffToken
	}
	h, err := s.d.Keys.Index("staff_token", []byte(token))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	var st Staff
	err = s.d.Pool.QueryRow(ctx, `SELECT id, name, role FROM staff WHERE token_hash = $1 AND disabled_at IS NULL
		AND token_expires_at > $2`, h, s.d.Clock.Now()).Scan(&st.ID, &st.Name, &st.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errStaffToken
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// CardRef is a card as a search result: masked, never the number.
type CardRef struct {
	ID         uuid.UUID `json:"card_id"`
	Masked     string    `json:"card"`
	HolderName string    `json:"holder_name"`
}

func (s *Service) audited(ctx context.Context, q audit.Execer, who Staff, action string, card *cards.Card, details map[string]string) error {
	var id *uuid.UUID
	masked := ""
	if card != nil {
		id, masked = &card.ID, card.Masked()
	}
	return s.d.Audit.Record(ctx, q, audit.Entry{Actor: who.Actor(), Action: action, CardID: id, CardMasked: masked, Details: details})
}

// FindByPAN looks a card up by its full number, which the answer never repeats.
func (s *Service) FindByPAN(ctx context.Context, who Staff, pan string) (*CardRef, error) {
	c, err := s.d.Cards.FindByPAN(ctx, pan)
	if errors.Is(err, cards.ErrNotFound) {
		return nil, apperr.New(apperr.NotFound, "no card with that number")
	}
	if err != nil {
		return nil, err
	}
	h, err := s.d.Cards.Holder(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if err := s.audited(ctx, s.d.Pool, who, "card.lookup", c, map[string]string{"by": "number"}); err != nil {
		return nil, err
	}
	return &CardRef{ID: c.ID, Masked: c.Masked(), HolderName: h.Name}, nil
}

// FindByLast4 finds cards by their last four digits and the holder's name (as the caller says it).
func (s *Service) FindByLast4(ctx context.Context, who Staff, last4, name string) ([]CardRef, error) {
	if len(last4) != 4 || strings.Trim(last4, "0123456789") != "" {
		return nil, apperr.Field("last4", "must be the last 4 digits")
	}
	want := registration.NormalizeAnswer(name)
	if len(want) < 2 {
		return nil, apperr.Field("holder_name", "must be given")
	}
	rows, err := s.d.Pool.Query(ctx, `SELECT id FROM issuer_cards WHERE pan_last4 = $1 LIMIT 200`, last4)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, err
	}
	var out []CardRef
	for _, id := range ids {
		h, err := s.d.Cards.Holder(ctx, id)
		if err != nil {
			return nil, err
		}
		if registration.NormalizeAnswer(h.Name) != want {
			continue
		}
		c, err := s.d.Cards.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := s.audited(ctx, s.d.Pool, who, "card.lookup", c, map[string]string{"by": "last4_and_name"}); err != nil {
			return nil, err
		}
		out = append(out, CardRef{ID: c.ID, Masked: c.Masked(), HolderName: h.Name})
	}
	return out, nil
}

// CardView is everything support may see of a card (R-SUP-2).
type CardView struct {
	Card             string                     `json:"card"`
	Scheme           string                     `json:"scheme"`
	Status           string                     `json:"status"`
	Expiry           string                     `json:"expiry"`
	HolderName       string                     `json:"holder_name"`
	Registration     *registration.Registration `json:"registration,omitempty"`
	Letters          []letters.Letter           `json:"letters"`
	IssuerDataReads  int                        `json:"issuer_data_reads_13_months"`
	SMSCostLines     []sms.LedgerLine           `json:"sms_cost_lines_13_months"`
	TrustedMerchants []whitelist.Entry          `json:"trusted_merchants"`
	AuditTrail       []audit.Entry              `json:"audit_trail"`
	Transactions     any                        `json:"transactions,omitempty"`
}

// View shows a card.
func (s *Service) View(ctx context.Context, who Staff, cardID uuid.UUID) (*CardView, error) {
	c, err := s.d.Cards.Get(ctx, cardID)
	if errors.Is(err, cards.ErrNotFound) {
		return nil, apperr.New(apperr.NotFound, "no such card")
	}
	if err != nil {
		return nil, err
	}
	h, err := s.d.Cards.Holder(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	v := &CardView{Card: c.Masked(), Scheme: string(c.Scheme), Status: string(c.Status), Expiry: c.ExpiryMonth.Format("01/2006"), HolderName: h.Name}
	if r, err := s.d.Registration.Current(ctx, c.ID); err == nil {
		v.Registration = r
	} else if apperr.KindOf(err) != apperr.NotFound {
		return nil, err
	}
	if v.Letters, err = s.d.Letters.ForCard(ctx, c.ID); err != nil {
		return nil, err
	}
	if v.IssuerDataReads, err = s.d.Audit.IssuerDataReads(ctx, c.ID); err != nil {
		return nil, err
	}
	now := s.d.Clock.Now()
	if v.SMSCostLines, err = sms.Ledger(ctx, s.d.Pool, c.ID, now.AddDate(0, -audit.AccessWindowMonths, 0), now.Add(time.Minute)); err != nil {
		return nil, err
	}
	v.TrustedMerchants = []whitelist.Entry{}
	if s.d.Whitelist != nil {
		if v.TrustedMerchants, err = s.d.Whitelist.List(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	if s.d.Transactions != nil {
		if v.Transactions, err = s.d.Transactions(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	if err := s.audited(ctx, s.d.Pool, who, "card.view", c, nil); err != nil {
		return nil, err
	}
	if v.AuditTrail, err = s.d.Audit.ForCard(ctx, c.ID); err != nil {
		return nil, err
	}
	return v, nil
}

// NewLetter issues a new ID-code letter for a card with a reason (R-SUP-1); it supersedes the open one.
func (s *Service) NewLetter(ctx context.Context, who Staff, cardID uuid.UUID, reason string) (uuid.UUID, error) {
	// The reason goes to the letter and the audit log: a card number typed into it is refused there too.
	reason, err := checkReason(reason)
	if err != nil {
		return uuid.Nil, err
	}
	c, err := s.card(ctx, cardID)
	if err != nil {
		return uuid.Nil, err
	}
	if c.Status == cards.Blocked {
		return uuid.Nil, apperr.New(apperr.Conflict, "the card is blocked")
	}
	var id uuid.UUID
	err = store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		var err error
		if id, err = s.d.Letters.RequestTx(ctx, tx, c.ID, reason, who.Actor()); err != nil {
			return err
		}
		return s.audited(ctx, tx, who, "letter.request", c, map[string]string{"reason": reason, "letter_id": id.String()})
	})
	return id, err
}

// Block blocks a card: its registration ends (R-REG-10) and its open letter is voided. Supervisors only.
func (s *Service) Block(ctx context.Context, who Staff, cardID uuid.UUID, reason string) error {
	c, reason, err := s.supervisorCard(ctx, who, cardID, reason, "blocking")
	if err != nil {
		return err
	}
	return store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		from, changed, err := s.d.Cards.TransitionTx(ctx, tx, c.ID, cards.Blocked, cards.BySupport)
		if err != nil {
			return err
		}
		if !changed && from == cards.Closed {
			return apperr.New(apperr.Conflict, "the card is closed")
		}
		// Blocking a blocked card again still ends what may have been started since (nothing can be,
		// but the block is the agent's intent) and is audited once more with its reason.
		ended, err := s.d.Registration.End(ctx, tx, c.ID, "card blocked")
		if err != nil {
			return err
		}
		if _, err := s.d.Letters.WithdrawOpenTx(ctx, tx, c.ID); err != nil {
			return err
		}
		return s.audited(ctx, tx, who, "card.block", c, map[string]string{"reason": reason, "registrations_ended": fmt.Sprint(ended)})
	})
}

// MarkSMSAbuse marks a sent SMS of the card as caused by abuse (someone else triggering it), so that
// the monthly statement leaves it out (R-AUTH-9); audited. changed is false when it was marked already.
func (s *Service) MarkSMSAbuse(ctx context.Context, who Staff, cardID, smsID uuid.UUID, reason string) (changed bool, err error) {
	reason, err = checkReason(reason)
	if err != nil {
		return false, err
	}
	c, err := s.card(ctx, cardID)
	if err != nil {
		return false, err
	}
	err = store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		changed, err = sms.MarkAbuse(ctx, tx, cardID, smsID, who.Actor(), s.d.Clock.Now())
		if errors.Is(err, sms.ErrNoSuchSMS) {
			return apperr.New(apperr.NotFound, "no such sent SMS for this card")
		}
		if err != nil || !changed {
			return err
		}
		return s.audited(ctx, tx, who, "sms.abuse", c, map[string]string{"sms": smsID.String(), "reason": reason})
	})
	return changed, err
}
