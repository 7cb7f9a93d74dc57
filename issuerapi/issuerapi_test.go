package issuerapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/audit"
	"example.com/acs/authval"
	"example.com/acs/cardmgmt"
	"example.com/acs/cards"
	"example.com/acs/internal/testenv"
	"example.com/acs/issuerapi"
	"example.com/acs/limits"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/sms"
)

// areq is a browser purchase of pan (minor units of EUR) at merchant M-000123.
func areq(t *testing.T, pan, amount string) *acs.AReq {
	t.Helper()
	return areqWith(t, pan, func(m map[string]any) { m["purchaseAmount"] = amount })
}

// areqWith is areq's AReq for pan as mod changes it.
func areqWith(t *testing.T, pan string, mod func(map[string]any)) *acs.AReq {
	t.Helper()
	m := map[string]any{"messageType": "AReq", "messageVersion": "2.2.0", "threeDSServerTransID": uuid.NewString(),
		"dsTransID": uuid.NewString(), "threeDSServerRefNumber": "TEST", "threeDSRequestorID": "test", "threeDSRequestorName": "test",
		"threeDSRequestorChallengeInd": "01", "deviceChannel": "02", "messageCategory": "01", "threeDSRequestorAuthenticationInd": "01",
		"threeDSRequestorURL": "https://shop.example/", "threeDSCompInd": "U", "dsReferenceNumber": "DS_REF",
		"threeDSServerURL": "https://3ds.example/", "dsURL": "https://ds.example/rreq", "browserJavascriptEnabled": false,
		"acctNumber": pan, "acquirerBIN": "412345", "acquirerMerchantID": "M-000123", "merchantName": "Beispiel Shop",
		"mcc": "5942", "merchantCountryCode": "276", "purchaseAmount": "4990", "purchaseCurrency": "978", "purchaseExponent": "2",
		"purchaseDate": "20261123090000", "notificationURL": "https://3ds.example/notify", "browserAcceptHeader": "text/html",
		"browserLanguage": "de-DE", "browserUserAgent": "test", "browserScreenHeight": "900", "browserScreenWidth": "1440"}
	mod(m)
	body, _ := json.Marshal(m)
	a, erro := acs.ParseAReq(body)
	if erro != nil {
		t.Fatal(erro)
	}
	return a
}

// Issue 15: the issuer's authorisation host verifies authentication values over HTTP with a token of its
// own: valid with the ECI for the transaction's value (and how often it was verified before), invalid
// naming what does not match only where the value itself is genuine (no guessing of card numbers or
// amounts), unknown for a transaction the ACS never answered; a wrong or disabled token is 401, and
// after a run of them from one address 429, while a valid token from there still passes; a malformed
// request is 400 naming the field. With the attempts policy on, an unregistered
// Visa and Mastercard card get A with the attempts values and ECIs 06 and 01. No response or log line
// holds a card number.
func TestVerifyOverHTTP(t *testing.T) {
	st := testenv.NewStack(t)
	ctx := context.Background()
	av := authval.New(authval.Config{Attempts: true}, st.HSM)
	dc := acs.NewDecider(acs.DecisionDeps{Pool: st.Pool, Cards: st.Cards, Clock: st.Clock, Log: st.Log,
		ChallengeURL: "https://acs.example/3ds/challenge", ReferenceNumber: "REF", AV: av})
	api := issuerapi.New(issuerapi.Deps{Pool: st.Pool, Keys: st.HSM, Limits: limits.New(st.Pool, st.Clock),
		Verifier: acs.NewAVVerifier(st.Pool, st.Cards, av, st.Clock), Audit: audit.New(st.Pool, st.Clock), Clock: st.Clock, Log: st.Log})
	e := server.New(server.Deps{Log: st.Log})
	e.Use(apidoctest.Validator(t, apidoctest.MustLoad("issuer")))
	api.Routes(e.Group("/issuer/v1"))
	srv := httptest.NewServer(e)
	defer srv.Close()
	token, err := api.AddClient(ctx, "auth-host")
	if err != nil {
		t.Fatal(err)
	}
	second, err := api.AddClient(ctx, "auth-host-2")
	if err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	post := poster(t, srv.URL+"/issuer/v1/authentication-values/verify", &seen)
	ask := func(pan string, a *acs.AReq, d *acs.Decision, amount string) string {
		b, _ := json.Marshal(acs.VerifyRequest{AcctNumber: pan, DSTransID: a.DSTransID, PurchaseAmount: amount,
			PurchaseCurrency: "978", AcquirerMerchantID: "M-000123", AuthenticationValue: d.AuthenticationValue})
		return string(b)
	}

	for _, c := range []struct{ pan, eci string }{{"4000110000000025", "06"}, {"5200110000000020", "01"}} {
		a := areq(t, c.pan, "4990")
		_, d, err := dc.Decide(ctx, a)
		if err != nil || d.TransStatus != "A" || d.ECI != c.eci || len(d.AuthenticationValue) != 28 {
			t.Fatalf("%s: attempts: %+v %v", c.pan[:6], d, err)
		}
		for n := range 2 {
			code, out := post(token, ask(c.pan, a, d, "4990"))
			if code != http.StatusOK || out["result"] != "valid" || out["eci"] != c.eci || out["transStatus"] != "A" ||
				out["previousVerifications"] != float64(n) || out["authenticatedAt"] == nil {
				t.Fatalf("%s: valid value (%d): %d %v", c.pan[:6], n, code, out)
			}
		}
		// One cent more: the value is genuine (recomputed from the stored purchase and this card number),
		// so the answer may name what differs.
		code, out := post(token, ask(c.pan, a, d, "4991"))
		if code != http.StatusOK || out["result"] != "invalid" || toJSON(out["mismatch"]) != `["purchaseAmount"]` {
			t.Fatalf("%s: one cent more: %d %v", c.pan[:6], code, out)
		}
		// Another card number: the value is not genuine for it; the answer does not say which part failed.
		other := "4000110000000033"
		if c.pan[0] == '5' {
			other = "5200110000000038"
		}
		if code, out = post(token, ask(other, a, d, "4990")); out["result"] != "invalid" || out["mismatch"] != nil || out["eci"] != nil {
			t.Fatalf("%s: another card: %d %v", c.pan[:6], code, out)
		}
		a2 := *a
		a2.DSTransID = uuid.NewString()
		if code, out = post(token, ask(c.pan, &a2, d, "4990")); code != http.StatusOK || out["result"] != "unknown_transaction" {
			t.Fatalf("%s: unknown transaction: %d %v", c.pan[:6], code, out)
		}
		// The value of another transaction of the same card and purchase does not verify for this one.
		b := areq(t, c.pan, "4990")
		_, d2, _ := dc.Decide(ctx, b)
		if code, out = post(token, ask(c.pan, a, d2, "4990")); out["result"] != "invalid" || out["mismatch"] != nil {
			t.Fatalf("%s: another transaction's value: %d %v", c.pan[:6], code, out)
		}
	}

	// A non-payment authentication (no purchase, no acquirer data) by the DS's id in upper case.
	npa := areqWith(t, "5200110000000061", func(m map[string]any) {
		m["messageCategory"], m["threeDSRequestorAuthenticationInd"] = "02", "04"
		for _, k := range []string{"purchaseAmount", "purchaseCurrency", "purchaseExponent", "purchaseDate", "acquirerBIN",
			"acquirerMerchantID", "merchantName", "mcc", "merchantCountryCode"} {
			delete(m, k)
		}
	})
	_, nd, err := dc.Decide(ctx, npa)
	if err != nil || nd.TransStatus != "A" || nd.ECI != "N1" {
		t.Fatalf("non-payment attempts: %+v %v", nd, err)
	}
	b, _ := json.Marshal(acs.VerifyRequest{AcctNumber: "5200110000000061", DSTransID: strings.ToUpper(npa.DSTransID),
		AuthenticationValue: nd.AuthenticationValue})
	if code, out := post(token, string(b)); code != http.StatusOK || out["result"] != "valid" || out["eci"] != "N1" {
		t.Fatalf("non-payment value: %d %v", code, out)
	}

	if code, out := post(token, `{"acctNumber":"4000110000000025","authenticationValue":"x"}`); code != http.StatusBadRequest ||
		!strings.Contains(toJSON(out), "authenticationValue") || !strings.Contains(toJSON(out), "acsTransID") {
		t.Fatalf("malformed: %d %v", code, out)
	}
	if code, _ := post("", `{}`); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := post("acsi_"+strings.Repeat("A", 43), `{}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if err := api.DisableClient(ctx, "auth-host"); err != nil {
		t.Fatal(err)
	}
	if code, _ := post(token, `{}`); code != http.StatusUnauthorized {
		t.Fatalf("disabled client: %d", code)
	}
	last := 0
	for range issuerapi.FailedTokens.Max + 1 {
		last, _ = post("acsi_"+strings.Repeat("B", 43), `{}`)
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("after %d wrong tokens: %d", issuerapi.FailedTokens.Max+1, last)
	}
	if code, out := post(second, `{"acctNumber":"4000110000000025","acsTransID":"`+uuid.NewString()+`","authenticationValue":"`+
		strings.Repeat("A", 28)+`"}`); code != http.StatusOK || out["result"] != "unknown_transaction" {
		t.Fatalf("a valid token from the locked address: %d %v", code, out)
	}
	for _, pan := range []string{"4000110000000025", "5200110000000020", "4000110000000033", "5200110000000038", "5200110000000061"} {
		if strings.Contains(seen.String(), pan) || strings.Contains(st.Logs.String(), pan) {
			t.Fatalf("a response or log line holds the card number %s...", pan[:6])
		}
	}
	if strings.Contains(st.Logs.String(), token) {
		t.Fatal("the log holds the token")
	}
}

// poster posts JSON bodies to url with a bearer token (none when empty) and keeps every response body
// in seen, for the leak checks.
func poster(t *testing.T, url string, seen *bytes.Buffer) func(tok, body string) (int, map[string]any) {
	return func(tok, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		seen.Write(raw)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Issue 16: the card management system changes cards over HTTP with its token: a block takes effect
// (and again changes nothing), the results show cards masked; a change the directory cannot take (an
// unknown card, a replacement to a number that exists) is refused with nothing applied; a reason that
// holds a card number is refused; without a token, 401.
func TestCardChangesOverHTTP(t *testing.T) {
	st := testenv.NewStack(t)
	ctx := context.Background()
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: audit.New(st.Pool, st.Clock), Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	api := issuerapi.New(issuerapi.Deps{Pool: st.Pool, Keys: st.HSM, Limits: limits.New(st.Pool, st.Clock),
		CardChanges: cardmgmt.New(cardmgmt.Deps{Pool: st.Pool, Cards: st.Cards, Registration: reg, Letters: st.Letters,
			Audit: audit.New(st.Pool, st.Clock)}), Audit: audit.New(st.Pool, st.Clock), Clock: st.Clock, Log: st.Log})
	e := server.New(server.Deps{Log: st.Log})
	e.Use(apidoctest.Validator(t, apidoctest.MustLoad("issuer")))
	api.Routes(e.Group("/issuer/v1"))
	srv := httptest.NewServer(e)
	defer srv.Close()
	token, err := api.AddClient(ctx, "card-management")
	if err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	post := poster(t, srv.URL+"/issuer/v1/cards/changes", &seen)
	block := `{"changes":[{"action":"block","acctNumber":"4000110000000025","reason":"lost"}]}`
	for n, changed := range []bool{true, false} {
		code, out := post(token, block)
		res, _ := out["results"].([]any)
		if code != http.StatusOK || len(res) != 1 || res[0].(map[string]any)["changed"] != changed ||
			res[0].(map[string]any)["card"] != "400011******0025" {
			t.Fatalf("block %d: %d %v", n, code, out)
		}
	}
	if card, _ := st.Cards.FindByPAN(ctx, "4000110000000025"); card.Status != cards.Blocked {
		t.Fatalf("status %s", card.Status)
	}
	// All or none: the first change would apply, the second cannot.
	code, out := post(token, `{"changes":[{"action":"block","acctNumber":"4000110000000033","reason":"lost"},
		{"action":"replace","acctNumber":"4000110000000041","newAcctNumber":"4000110000000058","expiry":"2031-01"}]}`)
	if code != http.StatusBadRequest || !strings.Contains(toJSON(out), "change 2") || !strings.Contains(toJSON(out), "newAcctNumber") {
		t.Fatalf("replacement to an existing number: %d %v", code, out)
	}
	if card, _ := st.Cards.FindByPAN(ctx, "4000110000000033"); card.Status != cards.Active {
		t.Fatal("the first change of a refused request was applied")
	}
	if code, out := post(token, `{"changes":[{"action":"close","acctNumber":"4000110000000991"}]}`); code != http.StatusNotFound {
		t.Fatalf("unknown card: %d %v", code, out)
	}
	if code, out := post(token, `{"changes":[{"action":"block","acctNumber":"4000110000000033","reason":"see 4000 1100 0000 0041"}]}`); code != http.StatusBadRequest ||
		!strings.Contains(toJSON(out), "reason") {
		t.Fatalf("reason with a card number: %d %v", code, out)
	}
	if code, out := post(token, `{"changes":[{"action":"renew","acctNumber":"4000110000000033"}]}`); code != http.StatusBadRequest ||
		!strings.Contains(toJSON(out), "expiry") {
		t.Fatalf("renew without expiry: %d %v", code, out)
	}
	if code, _ := post("", block); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	for _, pan := range []string{"4000110000000025", "4000110000000033", "4000110000000041", "4000110000000058"} {
		if strings.Contains(seen.String(), pan) || strings.Contains(st.Logs.String(), pan) {
			t.Fatalf("a response or log line holds %s...", pan[:6])
		}
	}
}
