package portal_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"example.com/acs/registration"
)

// sca walks the portal's strong authentication (card check, SMS code, security answer) for Anna's card
// and returns the page that manages the card and its authenticated flow token.
func (fx *fixture) sca(t *testing.T) (string, string) {
	t.Helper()
	card := url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}
	r := fx.do(t, "POST", "/portal/whitelist", card, "en")
	m := flowRE.FindStringSubmatch(r.Body.String())
	if r.Code != 200 || m == nil {
		t.Fatalf("card check: %d %s", r.Code, r.Body)
	}
	code := regexp.MustCompile(`[0-9]{6}`).FindString(fx.DeliverSMS(t))
	r = fx.do(t, "POST", "/portal/whitelist/verify", url.Values{"flow": {m[1]}, "code": {code}, "answer": {"Kiel"}}, "en")
	if r.Code != 200 {
		t.Fatalf("verify: %d %s", r.Code, r.Body)
	}
	return r.Body.String(), flowRE.FindStringSubmatch(r.Body.String())[1]
}

var readsRE = regexp.MustCompile(`last 13 months: ([0-9]+)`)

// R-X-1: an mTAN cardholder sets "always confirm" in the portal after the strong authentication (the
// card's method confirms the change); the step-up's token alone cannot; the choice is stored and
// audited. R-REG-9: the same page shows the 13-month count of reads of the card's issuer data.
func TestSecurityLevelInThePortal(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	cardID := fx.registerAnna(t)
	body, sca := fx.sca(t)
	if !strings.Contains(body, `value="adaptive" checked`) {
		t.Fatalf("level shown: %s", body)
	}
	// The registration (check, request, letter, activation) and the card check of the step-up.
	reads := readsRE.FindStringSubmatch(body)
	if reads == nil || reads[1] != "5" {
		t.Fatalf("reads shown: %v", reads)
	}
	// A token without the strong authentication (the card check's) is refused.
	r := fx.do(t, "POST", "/portal/whitelist", url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}, "en")
	stepUp := flowRE.FindStringSubmatch(r.Body.String())[1]
	if r := fx.do(t, "POST", "/portal/whitelist/security-level", url.Values{"flow": {stepUp}, "security_level": {"adaptive"}}, "en"); r.Code != 410 {
		t.Fatalf("level with the step-up's token: %d", r.Code)
	}
	if r := fx.do(t, "POST", "/portal/whitelist/security-level", url.Values{"flow": {sca}, "security_level": {"paranoid"}}, "de"); r.Code != 422 ||
		!strings.Contains(r.Body.String(), "Sicherheitsstufe") {
		t.Fatalf("unknown level: %d %s", r.Code, r.Body)
	}
	r = fx.do(t, "POST", "/portal/whitelist/security-level", url.Values{"flow": {sca}, "security_level": {"always_confirm"}}, "en")
	if r.Code != 200 || !strings.Contains(r.Body.String(), "was saved") || !strings.Contains(r.Body.String(), `value="always_confirm" checked`) {
		t.Fatalf("set: %d %s", r.Code, r.Body)
	}
	reg, err := fx.reg.Active(ctx, cardID)
	if err != nil || reg.SecurityLevel != registration.AlwaysConfirm {
		t.Fatalf("stored: %+v %v", reg, err)
	}
	// The authentication bounds the whole session: pages refreshed within it do not extend it (10 min).
	sca = flowRE.FindStringSubmatch(r.Body.String())[1]
	fx.Clock.Advance(9 * time.Minute)
	r = fx.do(t, "POST", "/portal/whitelist/security-level", url.Values{"flow": {sca}, "security_level": {"always_confirm"}}, "en")
	if r.Code != 200 {
		t.Fatalf("within the session: %d", r.Code)
	}
	refreshed := flowRE.FindStringSubmatch(r.Body.String())[1]
	fx.Clock.Advance(2 * time.Minute)
	if r := fx.do(t, "POST", "/portal/whitelist/security-level", url.Values{"flow": {refreshed}, "security_level": {"adaptive"}}, "en"); r.Code != 410 {
		t.Fatalf("11 minutes after the authentication: %d", r.Code)
	}
	var actor string
	if err := fx.Pool.QueryRow(ctx, `SELECT actor FROM audit_log WHERE action = 'registration.security_level' AND card_id = $1`, cardID).Scan(&actor); err != nil || actor != "cardholder:portal" {
		t.Fatalf("audited: %q %v", actor, err)
	}
}

// A card page authenticated for the mTAN registration changes nothing once the card has another active
// registration (moved to the app: its settings change there, with the device's signature).
func TestCardPageBoundToTheRegistration(t *testing.T) {
	fx := newFixture(t)
	cardID := fx.registerAnna(t)
	_, sca := fx.sca(t)
	if _, err := fx.Pool.Exec(context.Background(), `UPDATE registrations SET state = 'replaced', closed_at = now() WHERE card_id = $1`, cardID); err != nil {
		t.Fatal(err)
	}
	if r := fx.do(t, "POST", "/portal/whitelist/security-level", url.Values{"flow": {sca}, "security_level": {"adaptive"}}, "en"); r.Code == 200 {
		t.Fatalf("changed a registration that is no longer active: %d", r.Code)
	}
}
