package cards

import (
	"errors"
	"strings"
)

// Scheme is the card network, told by the number's leading digits.
type Scheme string

const (
	Visa       Scheme = "visa"
	Mastercard Scheme = "mastercard"
)

// Problems with a card number. The messages never repeat the number.
var (
	ErrPANFormat = errors.New("must be 13 to 19 digits")
	ErrPANLuhn   = errors.New("fails the Luhn check")
	ErrPANScheme = errors.New("is not a Visa or Mastercard number")
)

// NormalizePAN removes the spaces and dashes people type between digit groups.
func NormalizePAN(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// CheckPAN validates a normalised card number and returns its scheme.
func CheckPAN(pan string) (Scheme, error) {
	if len(pan) < 13 || len(pan) > 19 {
		return "", ErrPANFormat
	}
	for i := 0; i < len(pan); i++ {
		if pan[i] < '0' || pan[i] > '9' {
			return "", ErrPANFormat
		}
	}
	if !Luhn(pan) {
		return "", ErrPANLuhn
	}
	switch {
	case pan[0] == '4' && (len(pan) == 13 || len(pan) == 16 || len(pan) == 19):
		return Visa, nil
	case len(pan) == 16 && (between(pan[:2], "51", "55") || between(pan[:4], "2221", "2720")):
		return Mastercard, nil
	}
	return "", ErrPANScheme
}

func between(s, lo, hi string) bool { return s >= lo && s <= hi }

// Luhn reports whether a digit string passes the Luhn check every card number passes (the leak scans
// of the tests use it too).
func Luhn(pan string) bool {
	sum, double := 0, false
	for i := len(pan) - 1; i >= 0; i-- {
		d := int(pan[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Mask shows a card number as PCI DSS allows it to be displayed: first six and last four digits.
func Mask(first6, last4 string, length int) string {
	n := length - 10
	if n < 0 {
		n = 0
	}
	return first6 + strings.Repeat("*", n) + last4
}
