package authval

import (
	"crypto/des"
	"encoding/hex"
	"testing"
)

// goDES is the CVV's block operation in Go for the published key pair A, B (as hex): key "a" is
// A|A|A and key "aba" A|B|A, as the token holds them (hsm/scheme_test.go shows that the token computes
// what Go's triple DES does with such keys).
func goDES(a, b string) blockCipher {
	keys := map[string]string{"a": a + a + a, "aba": a + b + a}
	return func(name string, in [8]byte) ([8]byte, error) {
		k, _ := hex.DecodeString(keys[name])
		c, err := des.NewTripleDESCipher(k)
		var out [8]byte
		if err != nil {
			return out, err
		}
		c.Encrypt(out[:], in[:])
		return out, nil
	}
}

// Published examples of the CVV algorithm and its two 3-D Secure uses.
var cvvVectors = []struct {
	source       string
	keyA, keyB   string
	digits, want string
}{
	// The classic CVV example (Visa; reproduced in IBM's CCA and Thales payShield documentation):
	// PAN 4123456789012345, expiry 8701, service code 101.
	{"CVV, PAN 4123456789012345 expiry 8701 service code 101", "0123456789ABCDEF", "FEDCBA9876543210",
		"4123456789012345" + "8701" + "101", "561"},
	// Visa CAVV (CVV with ATN): PAN, the ATN's last four digits 7993, authentication results code 7 and
	// second factor 00 (repository pablom/go-cavv, visa_cavv_test.go, after Visa's Table D-7).
	{"CAVV, ATN ...7993, results code 7, second factor 00", "0123456789ABCDEF", "FEDCBA9876543210",
		"4123456789012345" + "7993" + "700", "972"},
	// Mastercard SPA1 AAV with CVC2 (Mastercard's SPA algorithm example: PAN 5432109876543210, sequence
	// number 0047, service code 140; pablom/go-cavv, mcard_aav_test.go).
	{"SPA1 AAV, PAN 5432109876543210, sequence 0047, service code 140", "0011223344556677", "8899AABBCCDDEEFF",
		"5432109876543210" + "0047" + "140", "439"},
}

func TestCVVPublishedVectors(t *testing.T) {
	for _, v := range cvvVectors {
		got, err := cvv(goDES(v.keyA, v.keyB), "a", "aba", v.digits)
		if err != nil || got != v.want {
			t.Errorf("%s: got %q, %v; want %s", v.source, got, err, v.want)
		}
	}
}

func TestCVVRejectsNonDigits(t *testing.T) {
	do := goDES("0123456789ABCDEF", "FEDCBA9876543210")
	for _, in := range []string{"41234567890123x5", "123456789012345678901234567890123"} {
		if _, err := cvv(do, "a", "aba", in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The whole CAVV of the published example: ATN 9602231034727993, results code 7, second factor 00, key
// indicator 01 (pablom/go-cavv, visa_cavv_test.go, TEST_V_RS_CAVV).
func TestVisaCAVVPublishedVector(t *testing.T) {
	do := goDES("0123456789ABCDEF", "FEDCBA9876543210")
	got, err := visaCAVV(do, "a", "aba", "4123456789012345", "9602231034727993", 7, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0700010972799396022310347279930000000000"; hex.EncodeToString(got) != want {
		t.Fatalf("CAVV %x, want %s", got, want)
	}
}
