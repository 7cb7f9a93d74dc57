package acs

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// MACer computes the HSM's authentication-value MAC (hsm.HSM.AuthValueMAC).
type MACer interface {
	AuthValueMAC(data []byte) ([]byte, error)
}

// AVInput is the transaction data an authentication value vouches for (R-AUTH-8). The issuer's
// authorisation system, holding the same data from the authorisation request, recomputes the value.
type AVInput struct {
	ACSTransID         string
	AcctNumber         string
	MinorUnits         int64
	Currency           string // ISO 4217 numeric
	AcquirerBIN        string
	AcquirerMerchantID string
	TransStatus        string // Y or A
	ECI                string // 05/06 (Visa), 02/01 (Mastercard)
}

const avVersion = 0x01

func (in AVInput) canonical() ([]byte, error) {
	parts := []string{in.ACSTransID, in.AcctNumber, strconv.FormatInt(in.MinorUnits, 10), in.Currency, in.AcquirerBIN,
		in.AcquirerMerchantID, in.TransStatus, in.ECI}
	for _, p := range parts {
		if p == "" || strings.Contains(p, "|") {
			return nil, errors.New("acs: authentication value input incomplete")
		}
	}
	return []byte("acs.av.v1|" + strings.Join(parts, "|")), nil
}

// AuthValue computes the authentication value for a Y or A result: 20 bytes, base64 (28 characters) as
// EMV's authenticationValue element wants: a version byte, the ECI, two reserved bytes, and 16 bytes of
// HMAC-SHA256 computed in the HSM over the canonical transaction data. The card number enters the MAC
// but is not in the value.
func AuthValue(m MACer, in AVInput) (string, error) {
	data, err := in.canonical()
	if err != nil {
		return "", err
	}
	eci, err := strconv.Atoi(in.ECI)
	if err != nil || eci < 0 || eci > 99 {
		return "", errors.New("acs: ECI must be two digits")
	}
	sum, err := m.AuthValueMAC(data)
	if err != nil {
		return "", err
	}
	av := make([]byte, 0, 20)
	av = append(av, avVersion, byte(eci), 0, 0)
	av = append(av, sum[:16]...)
	return base64.StdEncoding.EncodeToString(av), nil
}

// VerifyAuthValue reports whether av is the authentication value of in, comparing in constant time.
func VerifyAuthValue(m MACer, in AVInput, av string) (bool, error) {
	got, err := base64.StdEncoding.DecodeString(av)
	if err != nil || len(got) != 20 || got[0] != avVersion {
		return false, nil
	}
	want, err := AuthValue(m, in)
	if err != nil {
		return false, err
	}
	w, _ := base64.StdEncoding.DecodeString(want)
	return hmac.Equal(got, w), nil
}
