// Package authval owns the authentication values a successful (or attempted) authentication carries to
// the merchant and on into the card authorisation, and the ECI beside them (issue 15): Mastercard's SPA2
// AAV (mastercard.go) and Visa's CAVV (visa.go), one file per scheme so that a bank can adapt a layout to
// its scheme's confidential specification; the ECI table (eci.go); the key configuration per BIN range,
// with key identifiers in the value so that keys rotate while old values still verify.
//
// The scheme is the card directory's, never guessed from the number. Keys live in the HSM (package hsm,
// scheme keys); this package only names them and feeds them the scheme's input.
package authval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"example.com/acs/cards"
	"example.com/acs/hsm"
)

// Keys is what the schemes compute with: the HSM's scheme keys (hsm.HSM).
type Keys interface {
	SchemeMAC(name string, data []byte) ([]byte, error)
	SchemeBlock(name string, in [8]byte) ([8]byte, error)
}

// Method is how the cardholder was authenticated, as far as a value encodes it.
type Method string

const (
	// Frictionless: the ACS's risk assessment, without the cardholder (also 3RI).
	Frictionless Method = "frictionless"
	// SMSOTP: the mTAN sent by SMS, with the security answer.
	SMSOTP Method = "sms_otp"
	// AppBiometric: confirmed out of band in the bank's app, unlocked by a biometric.
	AppBiometric Method = "app_biometric"
	// AppPIN: confirmed out of band in the bank's app with the app PIN.
	AppPIN Method = "app_pin"
	// AppOTP: the app's offline password typed into the challenge page.
	AppOTP Method = "app_otp"
	// MerchantInitiated: a 3DS Requestor Initiated (3RI) payment after an authenticated purchase.
	MerchantInitiated Method = "3ri"
	// Attempted: no authentication; the issuer's proof that one was attempted (transStatus A).
	Attempted Method = "attempts"
)

// Transaction is what a value vouches for: the card, the purchase and the authentication. The issuer's
// authorisation host holds the same data from the authorisation request.
type Transaction struct {
	Scheme       cards.Scheme
	PAN          string
	ACSTransID   uuid.UUID
	DSTransID    uuid.UUID
	Status       string // Y or A
	Method       Method
	Category     string // messageCategory: 01 payment, 02 non-payment
	Channel      string // deviceChannel: 01 app, 02 browser, 03 3RI
	HasAmount    bool
	MinorUnits   int64
	Currency     string // ISO 4217 numeric
	MerchantName string
}

// Value is a computed authentication value with what goes beside it.
type Value struct {
	AV    string // base64 of the 20 bytes, the EMV authenticationValue (28 characters)
	ECI   string
	KeyID int
}

// Range is a BIN range of one scheme with its keys.
type Range struct {
	// Name is part of the key labels on the token ("av-mc-<name>-<key id>").
	Name string `yaml:"name" validate:"required,alphanum,max=16"`
	// BINs are the card-number prefixes of the range (longest match wins across ranges).
	BINs []string `yaml:"bins" validate:"min=1,dive,number,min=1,max=11"`
	// Keys are the key identifiers on the token that still verify: the active one and those rotated out
	// that values within the chargeback period may still carry.
	Keys []int `yaml:"keys" validate:"min=1,unique"`
	// Active is the key identifier new values are computed with.
	Active int `yaml:"active"`
}

// Config is the issuer's authentication-value policy and key configuration.
type Config struct {
	// Attempts makes the ACS answer A (attempts) with an attempts value where it cannot authenticate a
	// card of its BIN ranges because the cardholder has not registered. Off by default, as the seeds'
	// bank does: such a purchase is N (13, not enrolled).
	Attempts bool `yaml:"attempts"`
	// GenerateMissingKeys lets `acs hsm init` create configured scheme keys the token lacks, at random:
	// for development, tests and load runs. Off in production, where a missing key is one the key
	// ceremony has not loaded, and a random one would make values no scheme can check.
	GenerateMissingKeys bool       `yaml:"generate_missing_keys"`
	Mastercard          Mastercard `yaml:"mastercard"`
	Visa                Visa       `yaml:"visa"`
}

// Mastercard configures the SPA2 AAV.
type Mastercard struct {
	// ACSID is the ACS identifier in the AAV (0-255): which of an issuer's ACS facilities made the value.
	ACSID  int     `yaml:"acs_id" validate:"min=0,max=255"`
	Ranges []Range `yaml:"ranges" validate:"dive"`
}

// Visa configures the CAVV.
type Visa struct {
	Ranges []Range `yaml:"ranges" validate:"dive"`
}

// Defaults: one range per scheme covering all of its numbers, key 1.
func (c *Config) Defaults() {
	if len(c.Mastercard.Ranges) == 0 {
		c.Mastercard.Ranges = []Range{{Name: "all", BINs: []string{"2", "5"}, Keys: []int{1}, Active: 1}}
	}
	if len(c.Visa.Ranges) == 0 {
		c.Visa.Ranges = []Range{{Name: "all", BINs: []string{"4"}, Keys: []int{1}, Active: 1}}
	}
}

// Check reports what the validator tags cannot: key identifiers within each layout's field, the active
// key among the kept ones, range names unique per scheme.
func (c Config) Check() error {
	check := func(scheme string, rs []Range, lo, hi int) error {
		names, bins := map[string]bool{}, map[string]string{}
		for _, r := range rs {
			if names[r.Name] {
				return fmt.Errorf("authentication_values.%s: range %q twice", scheme, r.Name)
			}
			names[r.Name] = true
			for _, b := range r.BINs {
				if other, ok := bins[b]; ok {
					return fmt.Errorf("authentication_values.%s: BIN %s in ranges %q and %q", scheme, b, other, r.Name)
				}
				bins[b] = r.Name
			}
			for _, k := range r.Keys {
				if k < lo || k > hi {
					return fmt.Errorf("authentication_values.%s.%s: key %d outside %d-%d", scheme, r.Name, k, lo, hi)
				}
			}
			if !slices.Contains(r.Keys, r.Active) {
				return fmt.Errorf("authentication_values.%s.%s: active key %d is not among keys", scheme, r.Name, r.Active)
			}
		}
		return nil
	}
	if err := check("mastercard", c.Mastercard.Ranges, 0, mcMaxKeyID); err != nil {
		return err
	}
	return check("visa", c.Visa.Ranges, 1, visaMaxKeyID)
}

// HSMKeys names every scheme key the configuration uses, for `acs hsm init` and hsm.Open.
func (c Config) HSMKeys() []hsm.SchemeKey {
	c.Defaults()
	var out []hsm.SchemeKey
	for _, r := range c.Mastercard.Ranges {
		for _, k := range r.Keys {
			out = append(out, hsm.SchemeKey{Name: mcKeyName(r.Name, k), Type: hsm.SchemeHMAC})
		}
	}
	for _, r := range c.Visa.Ranges {
		for _, k := range r.Keys {
			a, b := visaKeyNames(r.Name, k)
			out = append(out, hsm.SchemeKey{Name: a, Type: hsm.SchemeDES3}, hsm.SchemeKey{Name: b, Type: hsm.SchemeDES3})
		}
	}
	return out
}

// Service computes and verifies authentication values.
type Service struct {
	cfg  Config
	keys Keys
}

// New returns a Service; cfg must have passed Check (config.Load runs it).
func New(cfg Config, keys Keys) *Service {
	cfg.Defaults()
	return &Service{cfg: cfg, keys: keys}
}

// Attempts reports whether the issuer answers A for cards it cannot authenticate (never without a
// Service).
func (s *Service) Attempts() bool { return s != nil && s.cfg.Attempts }

// ErrNoService means no Service was configured: a wiring mistake, refused rather than a nil panic.
var ErrNoService = errors.New("authval: no authentication-value service")

// ErrNoRange means the card's number is in none of the scheme's configured BIN ranges.
var ErrNoRange = errors.New("authval: the card is in no configured BIN range")

// ErrUnsupported means the transaction cannot carry a value (a status other than Y or A, an unknown
// scheme or method).
var ErrUnsupported = errors.New("authval: no authentication value for this transaction")

// rangeOf finds the longest-prefix range of pan.
func rangeOf(rs []Range, pan string) (Range, error) {
	best, n := Range{}, 0
	for _, r := range rs {
		for _, b := range r.BINs {
			if len(b) > n && strings.HasPrefix(pan, b) {
				best, n = r, len(b)
			}
		}
	}
	if n == 0 {
		return best, ErrNoRange
	}
	return best, nil
}

// Generate computes the value of t with its range's active key, and the ECI.
func (s *Service) Generate(t Transaction) (Value, error) {
	if s == nil {
		return Value{}, ErrNoService
	}
	if t.Status != "Y" && t.Status != "A" {
		return Value{}, ErrUnsupported
	}
	eci := ECI(t.Scheme, t.Category, t.Status)
	var raw []byte
	var key int
	switch t.Scheme {
	case cards.Mastercard:
		r, err := rangeOf(s.cfg.Mastercard.Ranges, t.PAN)
		if err != nil {
			return Value{}, err
		}
		key = r.Active
		if raw, err = s.mastercard(t, r, key); err != nil {
			return Value{}, err
		}
	case cards.Visa:
		r, err := rangeOf(s.cfg.Visa.Ranges, t.PAN)
		if err != nil {
			return Value{}, err
		}
		key = r.Active
		if raw, err = s.visa(t, r, key); err != nil {
			return Value{}, err
		}
	default:
		return Value{}, ErrUnsupported
	}
	return Value{AV: base64.StdEncoding.EncodeToString(raw), ECI: eci, KeyID: key}, nil
}

// Verify reports whether av is the value of t: it reads the key identifier from av, recomputes with that
// key (one the range still keeps) and compares in constant time. A malformed value or a retired key is
// not valid; a token failure is an error.
func (s *Service) Verify(t Transaction, av string) (bool, error) {
	if s == nil {
		return false, ErrNoService
	}
	got, err := base64.StdEncoding.DecodeString(av)
	if err != nil || len(got) != 20 || (t.Status != "Y" && t.Status != "A") {
		return false, nil
	}
	var want []byte
	switch t.Scheme {
	case cards.Mastercard:
		r, err := rangeOf(s.cfg.Mastercard.Ranges, t.PAN)
		if err != nil {
			return false, nil
		}
		key := mcKeyID(got)
		if !slices.Contains(r.Keys, key) {
			return false, nil
		}
		if want, err = s.mastercard(t, r, key); err != nil {
			return false, err
		}
	case cards.Visa:
		r, err := rangeOf(s.cfg.Visa.Ranges, t.PAN)
		if err != nil {
			return false, nil
		}
		key, ok := visaKeyID(got)
		if !ok || !slices.Contains(r.Keys, key) {
			return false, nil
		}
		if want, err = s.visa(t, r, key); err != nil {
			return false, err
		}
	default:
		return false, nil
	}
	return hmac.Equal(got, want), nil
}

// sequence16 is the ACS's 16-digit number for the transaction (Visa's ATN; Mastercard's transaction
// sequence number is its low part): derived from the acsTransID, so that the verifier finds it again
// from the stored transaction and a value cannot be moved to another transaction. Statistically
// unique: 10^16 values against the few million transactions of a chargeback period.
func sequence16(acsTransID uuid.UUID) uint64 {
	h := sha256.Sum256(append([]byte("acs.av.sequence|"), acsTransID[:]...))
	return binary.BigEndian.Uint64(h[:8]) % 1e16
}

// bcd packs a string of decimal digits (even length) into bytes, two digits per byte.
func bcd(digits string) []byte {
	out := make([]byte, len(digits)/2)
	for i := range out {
		out[i] = (digits[2*i]-'0')<<4 | (digits[2*i+1] - '0')
	}
	return out
}
