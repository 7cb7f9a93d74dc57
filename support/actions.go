package support

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/apperr"
	"example.com/acs/cards"
	"example.com/acs/store"
)

// What support does for a cardholder on the phone beyond letters and blocks (issue 16, R-SUP-*, R-X-3):
// unblock a card, take a merchant off the card's trusted list, and find the cards to reach out to.

// digitRun is 13 or more digits, spaces and dashes between them allowed: what a card number typed into
// a free-text reason looks like. The audit log keeps reasons for years and cannot be cleaned.
var digitRun = regexp.MustCompile(`[0-9](?:[ -]?[0-9]){12,}`)

func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 200 {
		return "", apperr.Field("reason", "must be 1 to 200 characters")
	}
	if digitRun.MatchString(reason) {
		return "", apperr.Field("reason", "must not contain a card number")
	}
	return reason, nil
}

// maskDigits masks long digit runs in text from outside (a merchant's name as its AReq said it) before
// it goes to the audit log.
func maskDigits(s string) string { return digitRun.ReplaceAllString(s, "[digits]") }

// supervisorCard is what a supervisor's action on a card checks first, in this order: the role (what
// names the action in the refusal), the reason, the card.
func (s *Service) supervisorCard(ctx context.Context, who Staff, cardID uuid.UUID, reason, what string) (*cards.Card, string, error) {
	if who.Role != Supervisor {
		return nil, "", apperr.New(apperr.Forbidden, what+" a card needs the supervisor role")
	}
	reason, err := checkReason(reason)
	if err != nil {
		return nil, "", err
	}
	c, err := s.card(ctx, cardID)
	return c, reason, err
}

func (s *Service) card(ctx context.Context, cardID uuid.UUID) (*cards.Card, error) {
	c, err := s.d.Cards.Get(ctx, cardID)
	if errors.Is(err, cards.ErrNotFound) {
		return nil, apperr.New(apperr.NotFound, "no such card")
	}
	return c, err
}

// Unblock makes a blocked card usable again (supervisors only, like blocking). The registrations the
// block ended stay ended: the cardholder registers anew with a new letter (R-REG-10), so an unblock
// never revives a binding that may have been the reason for the block. A closed card stays closed.
func (s *Service) Unblock(ctx context.Context, who Staff, cardID uuid.UUID, reason string) error {
	c, reason, err := s.supervisorCard(ctx, who, cardID, reason, "unblocking")
	if err != nil {
		return err
	}
	return store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		from, changed, err := s.d.Cards.TransitionTx(ctx, tx, c.ID, cards.Active, cards.BySupport)
		if errors.Is(err, cards.ErrBlockedElsewhere) {
			return apperr.New(apperr.Conflict, "the card was blocked by the card management system; it is unblocked there")
		}
		if err != nil {
			return err
		}
		if !changed {
			if from == cards.Closed {
				return apperr.New(apperr.Conflict, "the card is closed and cannot be unblocked")
			}
			return apperr.New(apperr.Conflict, "the card is not blocked")
		}
		return s.audited(ctx, tx, who, "card.unblock", c, map[string]string{"reason": reason})
	})
}

// RemoveTrustedMerchant takes an entry off the card's trusted merchants on the cardholder's request
// (R-WL-3; a cardholder without access to the portal or the app calls the bank). Removing only makes
// later purchases at that merchant challenged again, so an agent may do it; it is audited with the
// reason and the merchant's name.
func (s *Service) RemoveTrustedMerchant(ctx context.Context, who Staff, cardID, entryID uuid.UUID, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	if s.d.Whitelist == nil {
		return apperr.New(apperr.NotFound, "trusted merchants are not kept here")
	}
	c, err := s.card(ctx, cardID)
	if err != nil {
		return err
	}
	entries, err := s.d.Whitelist.List(ctx, c.ID)
	if err != nil {
		return err
	}
	name := ""
	for _, e := range entries {
		if e.ID == entryID {
			name = e.MerchantName
		}
	}
	return store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		if err := s.d.Whitelist.RemoveVia(ctx, tx, c.ID, entryID, "support"); err != nil {
			return err
		}
		return s.audited(ctx, tx, who, "whitelist.remove", c, map[string]string{"entry": entryID.String(),
			"merchant": maskDigits(name), "reason": reason})
	})
}

// OutreachKind names a list of cards the bank should contact (R-X-3).
type OutreachKind string

const (
	// NoUsableMethod: the card has a registration, but no method that can confirm a purchase now: the
	// active one is locked after wrong entries, or the one in progress waits for a letter that is no
	// longer valid (expired, withdrawn) or for a number confirmation whose code ran out a day ago or
	// more (a cardholder who is just asking for a new code is not on the list).
	NoUsableMethod OutreachKind = "no_usable_method"
	// NotRegistered: an active, unexpired card with no registration at all, active or in progress;
	// its purchases cannot be confirmed (AReq answer N), so the cardholder should be invited.
	NotRegistered OutreachKind = "not_registered"
)

// OutreachCard is one card of an outreach list.
type OutreachCard struct {
	CardRef
	Reason string `json:"reason"`
}

// outreachQueries select the cards of each list, in card id order after a cursor ($1), at most $3, at
// time $2. Constants: never built from input.
var outreachQueries = map[OutreachKind]string{
	// One row per card; a card whose active method works is not listed, whatever its registration in
	// progress does (R-REG-4: the old method works until the new one is active).
	NoUsableMethod: `SELECT c.id, CASE WHEN EXISTS (SELECT 1 FROM registrations a WHERE a.card_id = c.id AND a.state = 'active')
				THEN 'method locked' WHEN o.state = 'confirming' THEN 'number not confirmed' ELSE 'letter no longer valid' END
		FROM issuer_cards c LEFT JOIN registrations o ON o.card_id = c.id AND o.state IN ('pending', 'confirming')
		WHERE c.id > $1 AND c.status = 'active' AND c.expiry_month >= date_trunc('month', $2::timestamptz)::date
		  AND NOT EXISTS (SELECT 1 FROM registrations a WHERE a.card_id = c.id AND a.state = 'active' AND a.locked_at IS NULL)
		  AND (EXISTS (SELECT 1 FROM registrations a WHERE a.card_id = c.id AND a.state = 'active' AND a.locked_at IS NOT NULL)
		    OR (o.state = 'confirming' AND o.confirm_expires_at <= $2::timestamptz - interval '1 day')
		    OR (o.state = 'pending' AND NOT EXISTS (SELECT 1 FROM letters l WHERE l.registration_id = o.id
		          AND (l.state = 'requested' OR (l.state = 'printed' AND l.valid_until > $2)))))
		ORDER BY c.id LIMIT $3`,
	NotRegistered: `SELECT c.id, 'not registered' FROM issuer_cards c
		WHERE c.id > $1 AND c.status = 'active' AND c.expiry_month >= date_trunc('month', $2::timestamptz)::date
		  AND NOT EXISTS (SELECT 1 FROM registrations g WHERE g.card_id = c.id AND g.state IN ('pending', 'confirming', 'active'))
		ORDER BY c.id LIMIT $3`,
}

// MaxOutreachPage bounds one page of an outreach list.
const MaxOutreachPage = 1000

// Outreach lists a page of the cards of kind, after the card id cursor (uuid.Nil: from the start);
// next is the cursor of the following page, uuid.Nil at the end. Each page is audited (who listed
// which kind, how many), since it names cardholders.
func (s *Service) Outreach(ctx context.Context, who Staff, kind OutreachKind, after uuid.UUID, limit int) (out []OutreachCard, next uuid.UUID, err error) {
	// A list of cardholders by the thousand is a back-office task, not a caller's: supervisors only.
	if who.Role != Supervisor {
		return nil, uuid.Nil, apperr.New(apperr.Forbidden, "outreach lists need the supervisor role")
	}
	q, ok := outreachQueries[kind]
	if !ok {
		return nil, uuid.Nil, apperr.Field("kind", "must be no_usable_method or not_registered")
	}
	if limit < 1 || limit > MaxOutreachPage {
		return nil, uuid.Nil, apperr.Field("limit", fmt.Sprintf("must be 1 to %d", MaxOutreachPage))
	}
	rows, err := s.d.Pool.Query(ctx, q, after, s.d.Clock.Now(), limit+1)
	if err != nil {
		return nil, uuid.Nil, fmt.Errorf("support: outreach: %w", err)
	}
	type hit struct {
		id     uuid.UUID
		reason string
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hit, error) {
		var h hit
		return h, r.Scan(&h.id, &h.reason)
	})
	if err != nil {
		return nil, uuid.Nil, fmt.Errorf("support: outreach: %w", err)
	}
	if len(hits) > limit {
		hits = hits[:limit]
		next = hits[limit-1].id
	}
	out = make([]OutreachCard, 0, len(hits))
	for _, h := range hits {
		c, err := s.d.Cards.Get(ctx, h.id)
		if err != nil {
			return nil, uuid.Nil, err
		}
		holder, err := s.d.Cards.Holder(ctx, h.id)
		if err != nil {
			return nil, uuid.Nil, err
		}
		out = append(out, OutreachCard{CardRef: CardRef{ID: c.ID, Masked: c.Masked(), HolderName: holder.Name}, Reason: h.reason})
	}
	// Which cards were shown, so that "who saw my data" has an answer per card.
	ids := make([]string, len(out))
	for i, c := range out {
		ids[i] = c.ID.String()
	}
	err = s.audited(ctx, s.d.Pool, who, "outreach.list", nil, map[string]string{"kind": string(kind),
		"after": after.String(), "count": fmt.Sprint(len(out)), "cards": strings.Join(ids, ",")})
	return out, next, err
}
