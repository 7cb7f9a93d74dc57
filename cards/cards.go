// Package cards owns the issuer's card directory: the bank's master data for every card it has issued
// (number, expiry, status, holder's name, date of birth and postal address), loaded from the bank's card
// file and read by registration to compare what a cardholder types.
//
// A card number is stored only as a Tink ciphertext and found through its keyed hash computed in the HSM
// (PCI DSS 3.5.1.1); the holder's personal data are encrypted as one document. What may be shown is the
// first six and last four digits.
package cards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/envelope"
)

// Status is the issuer's status of a card.
type Status string

const (
	Active  Status = "active"
	Blocked Status = "blocked"
	// Closed: no longer in use, closed by the bank or replaced by a new number (issue 16).
	Closed Status = "closed"
)

// Usable reports whether purchases and registrations may use a card of this status.
func (s Status) Usable() bool { return s == Active }

// CanBecome guards the card's status lifecycle: active and blocked turn into each other, either can be
// closed, and closed is final (a closed number never comes back; its successor is a new card).
func (s Status) CanBecome(to Status) bool {
	switch to {
	case Active:
		return s == Blocked
	case Blocked:
		return s == Active
	case Closed:
		return s == Active || s == Blocked
	}
	return false
}

// Product tells credit from debit cards.
type Product string

const (
	Credit Product = "credit"
	Debit  Product = "debit"
)

// Card is a card of the directory without its secrets.
type Card struct {
	ID        uuid.UUID
	First6    string
	Last4     string
	PANLength int
	Scheme    Scheme
	Product   Product
	// ExpiryMonth is the first day of the last month in which the card is valid.
	ExpiryMonth time.Time
	Status      Status
}

// Masked returns the card number as it may be shown.
func (c Card) Masked() string { return Mask(c.First6, c.Last4, c.PANLength) }

// Expired reports whether the card is past its expiry month at now (in UTC; the card is valid through
// the last day of its month).
func (c Card) Expired(now time.Time) bool {
	return !now.UTC().Before(c.ExpiryMonth.AddDate(0, 1, 0))
}

// Holder is the personal data the issuer keeps for a card, as printed on letters.
type Holder struct {
	Name        string `json:"name"`
	DateOfBirth string `json:"date_of_birth"` // YYYY-MM-DD
	Street      string `json:"street"`
	PostalCode  string `json:"postal_code"`
	City        string `json:"city"`
	Country     string `json:"country"` // ISO 3166-1 alpha-2
}

// Hasher computes keyed lookup hashes (the HSM's index key).
type Hasher interface {
	Index(domain string, data []byte) ([]byte, error)
}

// Errors of lookups.
var ErrNotFound = errors.New("cards: no such card")

// Directory reads and writes the card directory.
type Directory struct {
	pool   *pgxpool.Pool
	keys   *envelope.Keyring
	hasher Hasher
	log    *slog.Logger
}

// Deps are what a Directory needs.
type Deps struct {
	Pool   *pgxpool.Pool
	Keys   *envelope.Keyring
	Hasher Hasher
	Log    *slog.Logger
}

// New returns a Directory.
func New(d Deps) *Directory {
	return &Directory{pool: d.Pool, keys: d.Keys, hasher: d.Hasher, log: d.Log}
}

// Columns are the encrypted columns of the directory, for key rotation.
var Columns = []envelope.Column{
	{Table: "issuer_cards", Column: "pan_enc", IDColumn: "id"},
	{Table: "issuer_cards", Column: "holder_enc", IDColumn: "id"},
}

const panDomain = "pan"

func (d *Directory) panHash(pan string) ([]byte, error) {
	h, err := d.hasher.Index(panDomain, []byte(pan))
	if err != nil {
		return nil, fmt.Errorf("cards: card number hash: %w", err)
	}
	return h, nil
}

const cardColumns = `id, pan_first6, pan_last4, pan_length, scheme, product, expiry_month, status`

func scanCard(row pgx.Row) (*Card, error) {
	var c Card
	err := row.Scan(&c.ID, &c.First6, &c.Last4, &c.PANLength, &c.Scheme, &c.Product, &c.ExpiryMonth, &c.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cards: read card: %w", err)
	}
	return &c, nil
}

// FindByPAN looks a card up by its number (normalised, any spaces removed by the caller or here).
func (d *Directory) FindByPAN(ctx context.Context, pan string) (*Card, error) {
	h, err := d.LookupHash(pan)
	if err != nil {
		return nil, err
	}
	return scanCard(d.pool.QueryRow(ctx, `SELECT `+cardColumns+` FROM issuer_cards WHERE pan_hash = $1`, h))
}

// LookupHash is the keyed hash a card is found by (issuer_cards.pan_hash), for a caller that reads the
// card together with other data in one statement (the AReq's decision). ErrNotFound for a number that
// cannot be a card's.
func (d *Directory) LookupHash(pan string) ([]byte, error) {
	pan = NormalizePAN(pan)
	if _, err := CheckPAN(pan); err != nil {
		return nil, ErrNotFound
	}
	return d.panHash(pan)
}

// Get returns a card by its id.
func (d *Directory) Get(ctx context.Context, id uuid.UUID) (*Card, error) {
	return d.GetVia(ctx, d.pool, id)
}

// GetVia is Get read through q (a caller's transaction).
func (d *Directory) GetVia(ctx context.Context, q Querier, id uuid.UUID) (*Card, error) {
	return scanCard(q.QueryRow(ctx, `SELECT `+cardColumns+` FROM issuer_cards WHERE id = $1`, id))
}

// Holder decrypts the personal data of a card's holder.
func (d *Directory) Holder(ctx context.Context, id uuid.UUID) (*Holder, error) {
	var enc []byte
	if err := d.pool.QueryRow(ctx, `SELECT holder_enc FROM issuer_cards WHERE id = $1`, id).Scan(&enc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("cards: read holder: %w", err)
	}
	pt, err := d.keys.Decrypt(ctx, envelope.AD{Table: "issuer_cards", Column: "holder_enc", Row: id.String()}, enc)
	if err != nil {
		return nil, err
	}
	var h Holder
	if err := json.Unmarshal(pt, &h); err != nil {
		return nil, fmt.Errorf("cards: holder document: %w", err)
	}
	return &h, nil
}

// PAN decrypts a card's full number. Only the paths that must hand the number to another system of the
// issuer call it; nothing shows or logs the result.
func (d *Directory) PAN(ctx context.Context, id uuid.UUID) (string, error) {
	return d.PANVia(ctx, d.pool, id)
}

// Querier is a pool or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// PANVia is PAN read through q: a caller inside a database transaction reads with it rather than taking
// a second connection from the pool while it holds one.
func (d *Directory) PANVia(ctx context.Context, q Querier, id uuid.UUID) (string, error) {
	var enc []byte
	if err := q.QueryRow(ctx, `SELECT pan_enc FROM issuer_cards WHERE id = $1`, id).Scan(&enc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("cards: read card number: %w", err)
	}
	return d.PANFrom(ctx, id, enc)
}

// PANFrom decrypts a card's pan_enc that the caller read with other data in one statement.
func (d *Directory) PANFrom(ctx context.Context, id uuid.UUID, enc []byte) (string, error) {
	pt, err := d.keys.Decrypt(ctx, envelope.AD{Table: "issuer_cards", Column: "pan_enc", Row: id.String()}, enc)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}
