package portal_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
)

// registerAnna gives Anna's card an active mTAN registration (answer "Kiel") and two trusted merchants.
func (fx *fixture) registerAnna(t *testing.T) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	card, err := fx.reg.VerifyCard(ctx, registration.HolderData{PAN: "4000110000000017", ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "+4915112345678", Question: "birthplace", Answer: "Kiel",
		AcceptPrice: true, Terms: fx.reg.PriceTerms().ID()}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodMTAN, fx.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), regexp.MustCompile(`[0-9]{6}`).FindString(fx.DeliverSMS(t))); err != nil {
		t.Fatal(err)
	}
	testenv.TrustMerchant(t, fx.Pool, fx.wl, card.ID, "Beispiel-Shop", "M-1")
	testenv.TrustMerchant(t, fx.Pool, fx.wl, card.ID, "Buchladen <am Markt>", "M-2")
	return card.ID
}

var entryRE = regexp.MustCompile(`name="entry" value="([^"]+)"`)

// R-WL-3, PSD2 RTS Art. 13: the list is shown and changed only after card check, SMS code and security
// answer; one message whichever is wrong; a removal is effective at once; the token of the step-up
// alone cannot remove anything.
func TestWhitelistInThePortal(t *testing.T) {
	fx := newFixture(t)
	cardID := fx.registerAnna(t)
	card := url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}
	r := fx.do(t, "POST", "/portal/whitelist", card, "en")
	m := flowRE.FindStringSubmatch(r.Body.String())
	if r.Code != 200 || m == nil || !strings.Contains(r.Body.String(), "49151******78") || !strings.Contains(r.Body.String(), "In which city") {
		t.Fatalf("card check: %d %s", r.Code, r.Body)
	}
	sms := fx.DeliverSMS(t)
	code := regexp.MustCompile(`[0-9]{6}`).FindString(sms)
	if !strings.Contains(sms, "vertrauenswürdige Händler") || !strings.Contains(sms, "Sicherheitsstufe") {
		t.Fatalf("SMS: %q", sms)
	}
	stepUpFlow := m[1]
	if r := fx.do(t, "POST", "/portal/whitelist/remove", url.Values{"flow": {stepUpFlow}, "entry": {uuid.NewString()}}, "en"); r.Code != 410 {
		t.Fatalf("remove with the step-up's token: %d", r.Code)
	}
	wrongAnswer := fx.do(t, "POST", "/portal/whitelist/verify", url.Values{"flow": {stepUpFlow}, "code": {code}, "answer": {"Hamburg"}}, "en")
	wrongCode := fx.do(t, "POST", "/portal/whitelist/verify", url.Values{"flow": {stepUpFlow}, "code": {"000000"}, "answer": {"Kiel"}}, "en")
	msg := regexp.MustCompile(`role="alert"[^>]*><p>([^<]*)`)
	a, b := msg.FindStringSubmatch(wrongAnswer.Body.String()), msg.FindStringSubmatch(wrongCode.Body.String())
	if wrongAnswer.Code != 422 || a == nil || b == nil || a[1] != b[1] {
		t.Fatalf("wrong entries: %d %q %q", wrongAnswer.Code, a, b)
	}
	r = fx.do(t, "POST", "/portal/whitelist/verify", url.Values{"flow": {stepUpFlow}, "code": {code}, "answer": {"kiel"}}, "en")
	body := r.Body.String()
	entries := entryRE.FindAllStringSubmatch(body, -1)
	if r.Code != 200 || len(entries) != 2 || !strings.Contains(body, "Beispiel-Shop") || !strings.Contains(body, "Buchladen &lt;am Markt&gt;") {
		t.Fatalf("list: %d %s", r.Code, body)
	}
	if again := fx.do(t, "POST", "/portal/whitelist/verify", url.Values{"flow": {stepUpFlow}, "code": {code}, "answer": {"Kiel"}}, "en"); again.Code == 200 {
		t.Fatal("the code worked twice")
	}
	sca := flowRE.FindStringSubmatch(body)[1]
	r = fx.do(t, "POST", "/portal/whitelist/remove", url.Values{"flow": {sca}, "entry": {entries[0][1]}}, "en")
	if r.Code != 200 || !strings.Contains(r.Body.String(), "was removed") || len(entryRE.FindAllString(r.Body.String(), -1)) != 1 {
		t.Fatalf("remove: %d %s", r.Code, r.Body)
	}
	left, _ := fx.wl.List(context.Background(), cardID)
	if len(left) != 1 {
		t.Fatalf("left: %+v", left)
	}
	// The authentication lasts 10 minutes.
	fx.Clock.Advance(10*time.Minute + time.Second)
	if r := fx.do(t, "POST", "/portal/whitelist/remove", url.Values{"flow": {sca}, "entry": {entries[1][1]}}, "en"); r.Code != 410 {
		t.Fatalf("stale authentication: %d", r.Code)
	}
	for _, secret := range []string{"4000110000000017", "+4915112345678", "Kiel", code} {
		if strings.Contains(body, secret) || strings.Contains(fx.Logs.String(), secret) {
			t.Fatalf("%q shown or logged", secret)
		}
	}
}

// A card that is not registered has no list to manage.
func TestWhitelistUnregisteredCard(t *testing.T) {
	fx := newFixture(t)
	r := fx.do(t, "POST", "/portal/whitelist", url.Values{"pan": {"4000110000000025"}, "expiry": {"03/28"}, "name": {"Jonas Müller"}}, "en")
	if r.Code == 200 || !strings.Contains(r.Body.String(), "not registered") {
		t.Fatalf("unregistered card: %d %s", r.Code, r.Body)
	}
}
