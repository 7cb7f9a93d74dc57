package acs_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"example.com/acs/acs"
)

var update = flag.Bool("update", false, "rewrite golden files")

const areqFile = "../testdata/emv/areq-browser.json"

func areq(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(areqFile)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// to231 turns the 2.2.0 sample AReq into a 2.3.1 one: the challenge indicator becomes an array, and the
// elements 2.3.1 added for the browser are filled in (2.3.1 Annex A).
func to231(m map[string]any) {
	m["messageVersion"] = "2.3.1"
	if s, ok := m["threeDSRequestorChallengeInd"].(string); ok {
		m["threeDSRequestorChallengeInd"] = []string{s}
	}
	m["acceptLanguage"] = []string{"de-DE,de;q=0.9"}
	m["acquirerCountryCode"], m["acquirerCountryCodeSource"] = "276", "01"
}

func encode(t testing.TB, m map[string]any) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseValidAReq(t *testing.T) {
	a, e := acs.ParseAReq(encode(t, areq(t)))
	if e != nil {
		t.Fatalf("valid AReq refused: %+v", e)
	}
	if !a.Amount.Equal(decimal.RequireFromString("49.90")) || a.MinorUnits != 4990 || a.Currency != "978" || a.MerchantName != "Beispiel-Shop" {
		t.Fatalf("decoded: %+v", a)
	}
	if a.PurchaseDate.Format("2006-01-02 15:04") != "2026-11-23 10:00" || a.ChallengeInd != "01" {
		t.Fatalf("date or indicator: %v %s", a.PurchaseDate, a.ChallengeInd)
	}
	m := areq(t)
	m["purchaseCurrency"], m["purchaseExponent"], m["purchaseAmount"] = "392", "0", "12000"
	if a, e := acs.ParseAReq(encode(t, m)); e != nil || !a.Amount.Equal(decimal.NewFromInt(12000)) {
		t.Fatalf("yen: %+v %+v", a, e)
	}
	for _, f := range []string{"areq-browser-2.1.0.json", "areq-browser-2.3.1.json"} {
		b, err := os.ReadFile("../testdata/emv/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if _, e := acs.ParseAReq(b); e != nil {
			t.Errorf("%s refused: %+v", f, e)
		}
	}
}

// Each required element missing gives Erro 201 naming it; a wrong format gives 203 naming it.
func TestAReqErrors(t *testing.T) {
	required := []string{"threeDSServerTransID", "dsTransID", "deviceChannel", "messageCategory", "threeDSRequestorID",
		"threeDSRequestorName", "threeDSServerRefNumber", "acctNumber", "acquirerBIN", "acquirerMerchantID", "merchantName", "mcc",
		"merchantCountryCode", "purchaseAmount", "purchaseCurrency", "purchaseExponent", "purchaseDate", "notificationURL",
		"browserAcceptHeader", "browserLanguage", "browserUserAgent", "browserScreenHeight", "browserScreenWidth", "messageVersion",
		// 2.2.0 Annex A: required, and once missing without an Erro (issue 11)
		"threeDSRequestorURL", "threeDSCompInd", "threeDSRequestorAuthenticationInd", "threeDSServerURL", "browserJavascriptEnabled",
		"dsReferenceNumber", "dsURL"}
	for _, f := range required {
		m := areq(t)
		delete(m, f)
		_, e := acs.ParseAReq(encode(t, m))
		if e == nil || e.ErrorCode != "201" || e.ErrorDetail != f || e.ErrorComponent != "A" || e.MessageType != "Erro" {
			t.Errorf("without %s: %+v", f, e)
		}
		m = areq(t)
		m[f] = ""
		if _, e := acs.ParseAReq(encode(t, m)); e == nil || (e.ErrorCode != "201" && e.ErrorCode != "102") {
			t.Errorf("%s empty: %+v", f, e)
		}
	}
	for f, v := range map[string]any{
		"threeDSServerTransID": "not-a-uuid", "acctNumber": "4000-1100-0000-0017", "purchaseAmount": "49.90",
		"purchaseExponent": "3", "purchaseDate": "2026-11-23", "mcc": "57", "merchantCountryCode": "DE",
		"notificationURL": "javascript:alert(1)", "deviceChannel": "1", "messageCategory": "2", "cardExpiryDate": "2913",
		"threeDSCompInd": "X", "browserJavascriptEnabled": "true",
		"merchantName": strings.Repeat("x", 41), "browserScreenWidth": "wide", "threeDSRequestorChallengeInd": "4",
		"purchaseCurrency": "97", "merchantName ": nil,
	} {
		if v == nil {
			continue
		}
		m := areq(t)
		m[f] = v
		_, e := acs.ParseAReq(encode(t, m))
		if e == nil || e.ErrorCode != "203" || e.ErrorDetail != f {
			t.Errorf("%s = %v: %+v", f, v, e)
		}
	}
	m := areq(t)
	m["acctNumber"] = 4000110000000017
	if _, e := acs.ParseAReq(encode(t, m)); e == nil || e.ErrorCode != "203" || e.ErrorDetail != "acctNumber" {
		t.Errorf("number instead of string: %+v", e)
	}
	m = areq(t)
	m["purchaseCurrency"] = "999"
	if _, e := acs.ParseAReq(encode(t, m)); e == nil || e.ErrorCode != "304" || e.ErrorDetail != "purchaseCurrency" {
		t.Errorf("unknown currency: %+v", e)
	}
	m = areq(t)
	m["messageVersion"] = "2.0.0"
	if _, e := acs.ParseAReq(encode(t, m)); e == nil || e.ErrorCode != "102" || e.ErrorDetail != "2.1.0,2.2.0,2.3.1" {
		t.Errorf("version: %+v", e)
	}
	for _, body := range []string{``, `[]`, `{`, `null`, `{"messageType":"CReq","messageVersion":"2.2.0"}`} {
		if _, e := acs.ParseAReq([]byte(body)); e == nil || e.ErrorCode != "101" {
			t.Errorf("%q: %+v", body, e)
		}
	}
	dup := strings.Replace(string(encode(t, areq(t))), `"mcc":"5732"`, `"mcc":"5732","mcc":"4829"`, 1)
	if _, e := acs.ParseAReq([]byte(dup)); e == nil || e.ErrorCode != "204" || e.ErrorDetail != "mcc" {
		t.Errorf("duplicate: %+v", e)
	}
}

// The Erro for a missing card number, as a golden file (refresh with -update).
func TestErroGolden(t *testing.T) {
	m := areq(t)
	delete(m, "acctNumber")
	_, e := acs.ParseAReq(encode(t, m))
	got, _ := json.MarshalIndent(e, "", "  ")
	got = append(got, '\n')
	const golden = "../testdata/emv/erro-missing-acctnumber.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Erro differs from %s:\n%s", golden, got)
	}
}

// FuzzParseAReq: any input ends in an AReq or an Erro, never a panic, and an Erro never quotes the card
// number.
func FuzzParseAReq(f *testing.F) {
	seed, _ := os.ReadFile(areqFile)
	f.Add(seed)
	f.Add([]byte(`{"messageType":"AReq","messageVersion":"2.2.0","acctNumber":"4000110000000017"}`))
	f.Add([]byte(`{"messageType":"AReq","messageVersion":"2.2.0","purchaseAmount":"999999999999999999999999"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, e := acs.ParseAReq(body)
		if (a == nil) == (e == nil) {
			t.Fatalf("want exactly one of AReq and Erro: %v %v", a, e)
		}
		if e != nil {
			b, _ := json.Marshal(e)
			if bytes.Contains(b, []byte("4000110000000017")) {
				t.Fatalf("Erro quotes the card number: %s", b)
			}
		}
	})
}

// Issue 12: a control character in any element (a NUL, a line break in the merchant's name that would
// reach the mTAN SMS) is a format error naming the element, never a system failure.
func TestAReqControlCharacters(t *testing.T) {
	for _, tc := range []struct{ name, value string }{{"merchantName", "Shop\nmTAN 123456"}, {"merchantName", "Shop\x00"},
		{"browserUserAgent", "Mozilla\r\nX-Evil: 1"}, {"threeDSRequestorName", "A\u0085B"}} {
		m := areq(t)
		m[tc.name] = tc.value
		if _, e := acs.ParseAReq(encode(t, m)); e == nil || e.ErrorCode != "203" || e.ErrorDetail != tc.name {
			t.Errorf("%s = %q: %+v", tc.name, tc.value, e)
		}
	}
}
