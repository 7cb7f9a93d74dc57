package portal_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/limits"
	"example.com/acs/portal"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/whitelist"
)

type fixture struct {
	*testenv.Stack
	e   *echo.Echo
	reg *registration.Registrar
	wl  *whitelist.List
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testenv.NewStack(t)
	au := audit.New(st.Pool, st.Clock)
	price := decimal.RequireFromString("0.09")
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Limits: limits.New(st.Pool, st.Clock),
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: au, Clock: st.Clock, Log: st.Log, SMSPrice: price, Currency: "EUR"})
	e := server.New(server.Deps{Log: st.Log})
	wl := whitelist.New(st.Pool, st.Clock)
	portal.New(portal.Deps{Registrar: reg, Cards: st.Cards, Audit: au, Keys: st.Keys, Clock: st.Clock, Log: st.Log,
		Issuer: "Musterbank AG", Whitelist: wl}).Routes(e.Group("/portal"))
	return &fixture{Stack: st, e: e, reg: reg, wl: wl}
}

func (fx *fixture) do(t *testing.T, method, path string, form url.Values, acceptLang string) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	if acceptLang != "" {
		req.Header.Set("Accept-Language", acceptLang)
	}
	rec := httptest.NewRecorder()
	fx.e.ServeHTTP(rec, req)
	return rec
}

var termsRE = regexp.MustCompile(`name="terms" value="([^"]+)"`)

var flowRE = regexp.MustCompile(`name="flow" value="([^"]+)"`)

func TestLanguagesAndHeaders(t *testing.T) {
	fx := newFixture(t)
	de := fx.do(t, "GET", "/portal/register", nil, "de-DE,de;q=0.9,en;q=0.8")
	en := fx.do(t, "GET", "/portal/register", nil, "en-GB,en;q=0.9")
	if de.Code != 200 || !strings.Contains(de.Body.String(), "Kartennummer") || !strings.Contains(en.Body.String(), "Card number") {
		t.Fatalf("languages: %d", de.Code)
	}
	if q := fx.do(t, "GET", "/portal/register?lang=en", nil, "de"); !strings.Contains(q.Body.String(), "Card number") {
		t.Fatal("?lang=en ignored")
	}
	csp := de.Header().Get("Content-Security-Policy")
	nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
	if nonce == nil || !strings.Contains(de.Body.String(), `<style nonce="`+nonce[1]+`">`) || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	if de.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("portal pages may be cached")
	}
}

// R-REG-1..3, R-REG-6, R-REG-9: register with mTAN in the portal, activate with the letter's code,
// confirm the number by SMS; no page ever shows the card number or a secret.
func TestMTANRegistrationThroughThePortal(t *testing.T) {
	fx := newFixture(t)
	card := url.Values{"pan": {"4000 1100 0000 0017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}
	var pages []string

	r := fx.do(t, "POST", "/portal/register", card, "de")
	pages = append(pages, r.Body.String())
	m := flowRE.FindStringSubmatch(r.Body.String())
	if r.Code != 200 || m == nil || !strings.Contains(r.Body.String(), "400011******0017") {
		t.Fatalf("card check: %d %s", r.Code, r.Body)
	}
	mtan := url.Values{"flow": {m[1]}, "mobile": {"0151 12345678"}, "question": {"birthplace"}, "answer": {"Lübeck"}}
	r = fx.do(t, "POST", "/portal/register/mtan", mtan, "de")
	if r.Code != 422 || !strings.Contains(r.Body.String(), "Bitte bestätigen Sie den kostenpflichtigen SMS-Versand") {
		t.Fatalf("price agreement not required: %d", r.Code)
	}
	mtan.Set("accept_price", "yes")
	terms := termsRE.FindStringSubmatch(pages[0])
	if terms == nil || !strings.Contains(pages[0], "Kostenpflichtig bestellen") || !strings.Contains(pages[0], "/portal/price-agreement.pdf?lang=de") {
		t.Fatalf("the method page shows no price agreement to accept: %s", pages[0])
	}
	// Terms other than those shown are refused (a price changed between page and order).
	mtan.Set("terms", "SMS-PV-1999;0.01;EUR")
	if r = fx.do(t, "POST", "/portal/register/mtan", mtan, "de"); r.Code != 422 || !strings.Contains(r.Body.String(), "Preisvereinbarung hat sich geändert") {
		t.Fatalf("other terms: %d", r.Code)
	}
	mtan.Set("terms", html.UnescapeString(terms[1]))
	r = fx.do(t, "POST", "/portal/register/mtan", mtan, "de")
	pages = append(pages, r.Body.String())
	if r.Code != 200 || !strings.Contains(r.Body.String(), "ID-Code ist unterwegs") || !strings.Contains(r.Body.String(), "13 Monaten: 2") {
		t.Fatalf("request: %d %s", r.Code, r.Body)
	}

	code := fx.PrintLetters(t)
	act := url.Values{"pan": card["pan"], "expiry": card["expiry"], "name": card["name"], "id_code": {"ZZZZZ-ZZZZZ"}}
	if r = fx.do(t, "POST", "/portal/activate", act, "en"); r.Code != 422 {
		t.Fatalf("wrong ID code: %d", r.Code)
	}
	act.Set("id_code", strings.ToLower(code))
	r = fx.do(t, "POST", "/portal/activate", act, "en")
	pages = append(pages, r.Body.String())
	m = flowRE.FindStringSubmatch(r.Body.String())
	if r.Code != 200 || m == nil || !strings.Contains(r.Body.String(), "49151******78") {
		t.Fatalf("activation: %d %s", r.Code, r.Body)
	}
	smsCode := regexp.MustCompile(`[0-9]{6}`).FindString(fx.DeliverSMS(t))
	r = fx.do(t, "POST", "/portal/activate/confirm", url.Values{"flow": {m[1]}, "code": {smsCode}}, "en")
	pages = append(pages, r.Body.String())
	if r.Code != 200 || !strings.Contains(r.Body.String(), "Registration complete") {
		t.Fatalf("confirmation: %d %s", r.Code, r.Body)
	}
	for i, p := range pages {
		for _, secret := range []string{"4000110000000017", "4000 1100 0000 0017", "15112345678", "Lübeck", code, smsCode} {
			if strings.Contains(p, secret) {
				t.Errorf("page %d shows %q", i, secret)
			}
		}
	}
}

func TestMismatchAndExpiredFlow(t *testing.T) {
	fx := newFixture(t)
	r := fx.do(t, "POST", "/portal/register", url.Values{"pan": {"4000110000000017"}, "expiry": {"08/29"},
		"name": {`<script>alert(1)</script>`}}, "en")
	if r.Code != 422 || !strings.Contains(r.Body.String(), "do not match") {
		t.Fatalf("mismatch: %d", r.Code)
	}
	if strings.Contains(r.Body.String(), "<script>alert") || !strings.Contains(r.Body.String(), "&lt;script&gt;") {
		t.Fatal("typed name not escaped")
	}
	r = fx.do(t, "POST", "/portal/register", url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}, "en")
	flow := flowRE.FindStringSubmatch(r.Body.String())[1]
	fx.Clock.Advance(16 * time.Minute)
	r = fx.do(t, "POST", "/portal/register/mtan", url.Values{"flow": {flow}, "mobile": {"+4915112345678"}, "question": {"birthplace"},
		"answer": {"Kiel"}, "accept_price": {"yes"}, "terms": {fx.reg.PriceTerms().ID()}}, "en")
	if r.Code != http.StatusGone {
		t.Fatalf("expired flow: %d", r.Code)
	}
	for _, bad := range []string{"", "not-base64!", strings.Repeat("A", 2000), flow[:len(flow)-4] + "AAAA"} {
		r = fx.do(t, "POST", "/portal/register/mtan", url.Values{"flow": {bad}}, "en")
		if r.Code != http.StatusGone {
			t.Errorf("forged flow %q: %d", bad[:min(len(bad), 10)], r.Code)
		}
	}
}

// Issue 12, R-REG-3/R-REG-4: a card check's flow token opens the choice of method only. An attacker who
// ran his own card check (a card dump) cannot use his token for the cardholder's number confirmation:
// that step opens only with the token the cardholder's activation gave, for that registration.
func TestFlowTokenOpensOnlyItsStep(t *testing.T) {
	fx := newFixture(t)
	card := url.Values{"pan": {"4000 1100 0000 0017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}
	r := fx.do(t, "POST", "/portal/register", card, "de")
	own := flowRE.FindStringSubmatch(r.Body.String())[1]
	r = fx.do(t, "POST", "/portal/register/mtan", url.Values{"flow": {own}, "mobile": {"0151 12345678"}, "question": {"birthplace"},
		"answer": {"Lübeck"}, "accept_price": {"yes"}, "terms": {fx.reg.PriceTerms().ID()}}, "de")
	if r.Code != 200 {
		t.Fatalf("request: %d", r.Code)
	}
	code := fx.PrintLetters(t)
	act := url.Values{"pan": card["pan"], "expiry": card["expiry"], "name": card["name"], "id_code": {code}}
	if r = fx.do(t, "POST", "/portal/activate", act, "de"); r.Code != 200 {
		t.Fatalf("activation: %d", r.Code)
	}
	// The attacker's card check, and the SMS code he does not have: his token is refused at this step
	// whatever he types, and the cardholder's tries are untouched.
	attacker := flowRE.FindStringSubmatch(fx.do(t, "POST", "/portal/register", card, "de").Body.String())[1]
	for _, path := range []string{"/portal/activate/confirm", "/portal/activate/resend"} {
		if r = fx.do(t, "POST", path, url.Values{"flow": {attacker}, "code": {"000000"}}, "de"); r.Code != http.StatusGone {
			t.Fatalf("%s with a card-check token: %d", path, r.Code)
		}
	}
	var failures, sent int
	_ = fx.Pool.QueryRow(t.Context(), `SELECT confirm_failures, confirm_sent FROM registrations WHERE state = 'confirming'`).Scan(&failures, &sent)
	if failures != 0 || sent != 1 {
		t.Fatalf("the attacker's posts counted: %d failures, %d codes sent", failures, sent)
	}
}

// Issue 12: card checks are limited per card and per client address, and an unknown card number is
// answered like a known one's mismatch, in no less time (CheckFloor). Past five wrong checks of a card
// in a day, even the right data is refused; past twenty from one address in an hour, any card.
func TestCardCheckLimits(t *testing.T) {
	fx := newFixture(t)
	wrong := url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}, "date_of_birth": {"1900-01-01"}}
	right := url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}
	for i := 0; i < registration.CardCheckPerCard.Max; i++ {
		start := time.Now()
		if r := fx.do(t, "POST", "/portal/register", wrong, "en"); r.Code != 422 {
			t.Fatalf("wrong check %d: %d", i, r.Code)
		}
		if took := time.Since(start); took < registration.CheckFloor {
			t.Fatalf("a check took %v, less than the floor", took)
		}
	}
	if r := fx.do(t, "POST", "/portal/register", right, "en"); r.Code != http.StatusTooManyRequests {
		t.Fatalf("the right data after five wrong: %d", r.Code)
	}
	// Unknown card numbers, from one address: the per-client limit (the per-card one cannot see them).
	unknown := url.Values{"pan": {"4000110000000991"}, "expiry": {"09/29"}, "name": {"X"}}
	for i := registration.CardCheckPerCard.Max; i < registration.CardCheckPerClient.Max; i++ {
		if r := fx.do(t, "POST", "/portal/register", unknown, "en"); r.Code != 422 {
			t.Fatalf("unknown card %d: %d", i, r.Code)
		}
	}
	other := url.Values{"pan": {"4000110000000025"}, "expiry": {"03/28"}, "name": {"Jonas Müller"}}
	if r := fx.do(t, "POST", "/portal/register", other, "en"); r.Code != http.StatusTooManyRequests {
		t.Fatalf("another card from the same address: %d", r.Code)
	}
	fx.Clock.Advance(time.Hour)
	if r := fx.do(t, "POST", "/portal/register", other, "en"); r.Code != 200 {
		t.Fatalf("the next hour: %d", r.Code)
	}
}
