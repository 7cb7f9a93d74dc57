package cards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"example.com/acs/envelope"
)

// The card management system's changes to one card (issue 16), each within the caller's database
// transaction, so that what a change means elsewhere (registrations ended, letters withdrawn, the audit
// entry) commits with it or not at all. Package cardmgmt decides which of these a change makes.

// Execer runs statements in the caller's transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrExists means a new card number is in the directory already.
var ErrExists = errors.New("cards: the card number exists")

// FindByPANVia is FindByPAN through q, the row locked for the change. The card rows are locked FOR NO
// KEY UPDATE here and where a card serialises its SMS and letters: enough against each other, and it
// lets the foreign-key checks of the card's AReqs (FOR KEY SHARE) pass instead of queueing behind it (a
// batch of AReqs, store.Pipeline, would wait with them).
func (d *Directory) FindByPANVia(ctx context.Context, q Execer, pan string) (*Card, error) {
	h, err := d.panHash(pan)
	if err != nil {
		return nil, err
	}
	return scanCard(q.QueryRow(ctx, `SELECT `+cardColumns+` FROM issuer_cards WHERE pan_hash = $1 FOR NO KEY UPDATE`, h))
}

// Origin is who changed a card's status: a block is lifted only by whoever may lift it (TransitionTx).
type Origin string

const (
	BySupport        Origin = "support"
	ByCardManagement Origin = "card_management" // the issuer API or the delta file (package cardmgmt)
	ByCardFile       Origin = "card_file"       // a full card file (import-cards)
)

// ErrBlockedElsewhere refuses support's unblock of a card the card management system blocked: it is
// lifted there, or the ACS would authenticate purchases of a card the bank's card system still refuses
// (a card reported stolen), and the delta file, which sends changes only, would never block it again.
var ErrBlockedElsewhere = errors.New("cards: blocked by the card management system")

// TransitionTx moves a card from its status to st where Status.CanBecome allows it, in one guarded
// statement (a concurrent change cannot slip between the check and the write), and records by as the
// block's origin. from is the status the card had; changed is false when the lifecycle refused the
// move (from == st included). A block of a blocked card keeps its origin unless the card management
// system blocks it (it owns the card's status then). Support lifts only its own blocks
// (ErrBlockedElsewhere); the card management system lifts any.
func (d *Directory) TransitionTx(ctx context.Context, q Execer, id uuid.UUID, st Status, by Origin) (from Status, changed bool, err error) {
	var allowed []string
	for _, s := range []Status{Active, Blocked, Closed} {
		if s.CanBecome(st) {
			allowed = append(allowed, string(s))
		}
	}
	var origin *string
	err = q.QueryRow(ctx, `WITH old AS (SELECT id, status, blocked_by FROM issuer_cards WHERE id = $1 FOR NO KEY UPDATE),
		upd AS (UPDATE issuer_cards c SET status = $2, updated_at = now(),
				blocked_by = CASE WHEN $2 <> 'blocked' THEN NULL
					WHEN old.status = 'blocked' AND $4 <> 'card_management' THEN old.blocked_by ELSE $4 END
			FROM old WHERE c.id = old.id
			  AND (old.status = ANY($3) OR (old.status = 'blocked' AND $2 = 'blocked'))
			  AND NOT ($2 = 'active' AND $4 = 'support' AND coalesce(old.blocked_by, 'support') <> 'support')
			RETURNING c.id)
		SELECT old.status, old.blocked_by, EXISTS (SELECT 1 FROM upd) FROM old`, id, string(st), allowed, string(by)).
		Scan(&from, &origin, &changed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, ErrNotFound
	}
	if err != nil {
		return "", false, fmt.Errorf("cards: status: %w", err)
	}
	if st == Active && from == Blocked && !changed && by == BySupport {
		return from, false, ErrBlockedElsewhere
	}
	return from, changed && from != st, nil
}

// RenewTx gives a card a new expiry month (same number); changed is false when it had it already.
func (d *Directory) RenewTx(ctx context.Context, q Execer, id uuid.UUID, expiry time.Time) (changed bool, err error) {
	tag, err := q.Exec(ctx, `UPDATE issuer_cards SET expiry_month = $2, updated_at = now() WHERE id = $1 AND expiry_month <> $2`,
		id, expiry)
	if err != nil {
		return false, fmt.Errorf("cards: renew: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReplacementTx adds the card that replaces old: a new number (validated, of any scheme), expiry month,
// old's product and holder, active; old is closed and points to it. ErrExists when the number is in the
// directory.
func (d *Directory) ReplacementTx(ctx context.Context, q Execer, old *Card, newPAN string, expiry time.Time) (*Card, error) {
	newPAN = NormalizePAN(newPAN)
	scheme, err := CheckPAN(newPAN)
	if err != nil {
		return nil, err
	}
	h, err := d.panHash(newPAN)
	if err != nil {
		return nil, err
	}
	var holderEnc []byte
	if err := q.QueryRow(ctx, `SELECT holder_enc FROM issuer_cards WHERE id = $1`, old.ID).Scan(&holderEnc); err != nil {
		return nil, fmt.Errorf("cards: read holder: %w", err)
	}
	doc, err := d.keys.Decrypt(ctx, envelope.AD{Table: "issuer_cards", Column: "holder_enc", Row: old.ID.String()}, holderEnc)
	if err != nil {
		return nil, err
	}
	var holder Holder
	if err := json.Unmarshal(doc, &holder); err != nil {
		return nil, fmt.Errorf("cards: holder document: %w", err)
	}
	id := uuid.New()
	panEnc, err := d.keys.Encrypt(envelope.AD{Table: "issuer_cards", Column: "pan_enc", Row: id.String()}, []byte(newPAN))
	if err != nil {
		return nil, err
	}
	if holderEnc, err = d.keys.Encrypt(envelope.AD{Table: "issuer_cards", Column: "holder_enc", Row: id.String()}, doc); err != nil {
		return nil, err
	}
	tag, err := q.Exec(ctx, `INSERT INTO issuer_cards (id, pan_hash, pan_enc, pan_first6, pan_last4, pan_length, scheme, product,
			expiry_month, status, holder_enc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10) ON CONFLICT (pan_hash) DO NOTHING`,
		id, h, panEnc, newPAN[:6], newPAN[len(newPAN)-4:], len(newPAN), scheme, old.Product, expiry, holderEnc)
	if err != nil {
		return nil, fmt.Errorf("cards: replacement: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil, ErrExists
	}
	if _, err := q.Exec(ctx, `UPDATE issuer_cards SET status = 'closed', replaced_by = $2, updated_at = now() WHERE id = $1`,
		old.ID, id); err != nil {
		return nil, fmt.Errorf("cards: close the replaced card: %w", err)
	}
	return &Card{ID: id, First6: newPAN[:6], Last4: newPAN[len(newPAN)-4:], PANLength: len(newPAN), Scheme: scheme,
		Product: old.Product, ExpiryMonth: expiry, Status: Active}, nil
}

// ReplacedByVia is the id of the card that replaced id, if any.
func (d *Directory) ReplacedByVia(ctx context.Context, q Execer, id uuid.UUID) (*uuid.UUID, error) {
	var by *uuid.UUID
	if err := q.QueryRow(ctx, `SELECT replaced_by FROM issuer_cards WHERE id = $1`, id).Scan(&by); err != nil {
		return nil, fmt.Errorf("cards: replaced by: %w", err)
	}
	return by, nil
}
