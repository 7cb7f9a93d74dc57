package acs_test

import (
	"encoding/base64"
	"reflect"
	"testing"

	"example.com/acs/acs"
	"example.com/acs/internal/testenv"
)

var avIn = acs.AVInput{ACSTransID: "0f2a5e9c-6a3b-4c1d-9e8f-7a6b5c4d3e2f", AcctNumber: "4000110000000017", MinorUnits: 4990,
	Currency: "978", AcquirerBIN: "412345", AcquirerMerchantID: "M-000123", TransStatus: "Y", ECI: "05"}

// R-AUTH-8: the value is computed with an HSM key, verifies for its transaction, and fails for a change
// of any single element, for another HSM's key, and when malformed.
func TestAuthValue(t *testing.T) {
	h := testenv.HSM(t)
	av, err := acs.AuthValue(h, avIn)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(av)
	if len(av) != 28 || len(raw) != 20 || raw[1] != 5 {
		t.Fatalf("format: %q", av)
	}
	if ok, err := acs.VerifyAuthValue(h, avIn, av); !ok || err != nil {
		t.Fatalf("own value: %v %v", ok, err)
	}
	// Property: changing any one field makes verification fail.
	v := reflect.ValueOf(avIn)
	for i := 0; i < v.NumField(); i++ {
		changed := avIn
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "0")
		case reflect.Int64:
			f.SetInt(f.Int() + 1) // one cent more
		}
		if ok, _ := acs.VerifyAuthValue(h, changed, av); ok {
			t.Errorf("value verifies after changing %s", v.Type().Field(i).Name)
		}
	}
	if ok, _ := acs.VerifyAuthValue(testenv.HSM(t), avIn, av); ok {
		t.Error("value verifies under another HSM key")
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 20)), av[:20]} {
		if ok, _ := acs.VerifyAuthValue(h, avIn, bad); ok {
			t.Errorf("malformed value %q verifies", bad)
		}
	}
	incomplete := avIn
	incomplete.AcctNumber = ""
	if _, err := acs.AuthValue(h, incomplete); err == nil {
		t.Error("value computed without a card number")
	}
}
