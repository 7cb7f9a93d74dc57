package emv

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bojanz/currency"
	"golang.org/x/text/language"
)

// formatOK checks a string against its format (length is checked by the caller).
func formatOK(f Format, s string) bool {
	switch f {
	case Numeric:
		return allDigits(s)
	case UUID:
		return checkUUID(s)
	case URL:
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
	case DateTime:
		_, err := time.Parse("20060102150405", s)
		return len(s) == 14 && err == nil
	case Date:
		_, err := time.Parse("20060102", s)
		return len(s) == 8 && err == nil
	case YYMM:
		return len(s) == 4 && allDigits(s) && s[2:] >= "01" && s[2:] <= "12"
	case CountryCode, CurrencyCode:
		return len(s) == 3 && allDigits(s)
	case Email:
		at := strings.LastIndexByte(s, '@')
		return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n")
	case Base64URL:
		return charsIn(strings.TrimRight(s, "="), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	case Base64:
		return charsIn(strings.TrimRight(s, "="), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	case Alphanumeric:
		return charsIn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
	case IPAddress:
		return net.ParseIP(s) != nil
	case Language:
		_, err := language.Parse(s)
		return err == nil
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func charsIn(s, set string) bool {
	for _, r := range s {
		if !strings.ContainsRune(set, r) {
			return false
		}
	}
	return true
}

// checkUUID accepts the canonical RFC 4122 text form only: 36 characters, hex in groups 8-4-4-4-12
// joined by hyphens. Hex digits may be upper case (RFC 4122 3: case-insensitive on input); the id is
// echoed exactly as received, never rewritten, so that the sender can match the answer.
func checkUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// valueClass is what an enumerated value is.
type valueClass uint8

const (
	valueInvalid  valueClass = iota
	valueOK                  // accepted, or in the DS-reserved range (the DS defines those)
	valueReserved            // reserved for EMVCo future use: invalid until defined
)

func (e *Enum) classify(s string) valueClass {
	switch {
	case inList(e.OK, s), inList(e.DS, s):
		return valueOK
	case inList(e.EMVCo, s):
		return valueReserved
	}
	return valueInvalid
}

// inList reports whether s is one of the comma-separated values or ranges ("01-10,80-99", "Y,N").
// A range matches numbers of the same width as its bounds.
func inList(list, s string) bool {
	if list == "" {
		return false
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if lo, hi, ok := strings.Cut(item, "-"); ok && len(lo) == len(hi) && allDigits(lo) && allDigits(hi) {
			if len(s) != len(lo) || !allDigits(s) {
				continue
			}
			n, _ := strconv.Atoi(s)
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			if n >= a && n <= b {
				return true
			}
			continue
		}
		if item == s {
			return true
		}
	}
	return false
}

// The ISO 4217 table comes from github.com/bojanz/currency (CLDR data: every active code with its
// numeric code and minor-unit digits). It has none of the codes Annex A excludes from purchaseCurrency
// (the fund, precious-metal and testing codes 955-964, 999), so "known" already means "allowed".
var (
	currencyOnce sync.Once
	currencies   map[string]currencyInfo
)

type currencyInfo struct {
	alpha  string
	digits int
}

func currencyTable() map[string]currencyInfo {
	currencyOnce.Do(func() {
		currencies = map[string]currencyInfo{}
		for _, code := range currency.GetCurrencyCodes() {
			num, ok := currency.GetNumericCode(code)
			if !ok || num == "000" {
				continue
			}
			d, _ := currency.GetDigits(code)
			currencies[num] = currencyInfo{alpha: code, digits: int(d)}
		}
	})
	return currencies
}

// excludedCurrencies are the numeric codes Annex A (Table A.5) does not allow in purchaseCurrency even
// where a data source lists them: funds, precious metals, SDR, testing and "no currency".
var excludedCurrencies = map[string]bool{"955": true, "956": true, "957": true, "958": true, "959": true,
	"960": true, "961": true, "962": true, "963": true, "964": true, "999": true}

func knownCurrency(num string) bool {
	_, ok := currencyTable()[num]
	return ok && !excludedCurrencies[num]
}

// CurrencyExponent returns the ISO 4217 minor-unit digits of a numeric currency code and its
// alphabetic code.
func CurrencyExponent(num string) (digits int, alpha string, ok bool) {
	c, ok := currencyTable()[num]
	return c.digits, c.alpha, ok && !excludedCurrencies[num]
}

// knownCountry accepts an ISO 3166-1 numeric country code (golang.org/x/text/language knows the UN M.49
// numeric codes; regions like 150 Europe are not countries).
func knownCountry(num string) bool {
	r, err := language.ParseRegion(num)
	return err == nil && r.IsCountry()
}
