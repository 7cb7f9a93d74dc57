package portal_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 18 (WCAG 3.1.2, 3.3.1, 3.3.3): a wrong field is named in the page's language and in the
// cardholder's words, marked on the field (aria-invalid, the message as its aria-describedby) and
// linked from the error summary, which takes the focus when the page loads; no internal field name or
// English text on a German page.
func TestFieldErrorsInThePagesLanguage(t *testing.T) {
	fx := newFixture(t)
	internal := []string{"pan:", "Luhn", "invalid request", "accept_price", "mobile_number", "id_code"}
	for _, tc := range []struct{ lang, label, msg string }{
		{"de", "Kartennummer", "keine gültige Kartennummer"},
		{"en", "Card number", "not a valid card number"},
	} {
		r := fx.do(t, "POST", "/portal/register?lang="+tc.lang, url.Values{"pan": {"4000 1100 0000 0018"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}, "")
		body := r.Body.String()
		if r.Code != 422 || !strings.Contains(body, `<a href="#pan">`+tc.label+": ") || !strings.Contains(body, tc.msg) {
			t.Fatalf("%s: %d %s", tc.lang, r.Code, body)
		}
		if !regexp.MustCompile(`id="pan"[^>]*aria-invalid="true" aria-describedby="pan-error"`).MatchString(body) ||
			!strings.Contains(body, `<p class="field-error" id="pan-error">`) || strings.Count(body, "autofocus") != 1 ||
			!strings.Contains(body, `id="error-summary" tabindex="-1" autofocus`) {
			t.Fatalf("%s: the field is not marked: %s", tc.lang, body)
		}
		for _, s := range internal {
			if strings.Contains(visible(body), s) {
				t.Errorf("%s page shows %q", tc.lang, s)
			}
		}
	}
	// A mismatch names no field: the summary takes the focus.
	r := fx.do(t, "POST", "/portal/register?lang=de", url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Someone Else"}}, "")
	if body := r.Body.String(); r.Code != 422 || !strings.Contains(body, `id="error-summary" tabindex="-1" autofocus`) ||
		!strings.Contains(body, "passen nicht zu unseren Daten") {
		t.Fatalf("mismatch: %d %s", r.Code, body)
	}
	// The method step: every field's problem in German, with the form's own labels.
	r = fx.do(t, "POST", "/portal/register?lang=de", url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}, "")
	flow := flowRE.FindStringSubmatch(r.Body.String())[1]
	for _, form := range []url.Values{
		{"flow": {flow}, "mobile": {"030 1234567"}, "question": {"birthplace"}, "answer": {"Kiel"}},
		{"flow": {flow}, "mobile": {"0151 12345678"}, "question": {"favourite_colour"}, "answer": {"Kiel"}},
		{"flow": {flow}, "mobile": {"0151 12345678"}, "question": {"birthplace"}, "answer": {"K"}},
		{"flow": {flow}, "mobile": {"0151 12345678"}, "question": {"birthplace"}, "answer": {"Kiel"}},
	} {
		r := fx.do(t, "POST", "/portal/register/mtan?lang=de", form, "")
		body := r.Body.String()
		if r.Code != 422 || !strings.Contains(body, `aria-invalid="true"`) {
			t.Fatalf("%v: %d %s", form, r.Code, body)
		}
		for _, s := range append(internal, "must be", "choose one", "is not a") {
			if strings.Contains(visible(body), s) {
				t.Errorf("%v: the German page shows %q", form, s)
			}
		}
	}
}

var tags = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]+>`)

// visible is the text of a page as a person sees it: no markup, no attribute values.
func visible(page string) string { return tags.ReplaceAllString(page, " ") }

// WCAG 2.2.1: a page with a time limit warns before it runs out and, for a step (not the strong
// authentication's card page), offers more time: POST /portal/flow/extend gives the token its 15
// minutes again for the same card and step, at most three times.
func TestMoreTime(t *testing.T) {
	fx := newFixture(t)
	r := fx.do(t, "POST", "/portal/register?lang=de", url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}, "")
	body := r.Body.String()
	if !strings.Contains(body, `id="time-warning"`) || !strings.Contains(body, `id="more-time"`) || !strings.Contains(body, "arm( 900 ,  true )") {
		t.Fatalf("the method page has no warning with more time: %s", body)
	}
	tok := flowRE.FindStringSubmatch(body)[1]
	for i := 0; i < 3; i++ {
		fx.Clock.Advance(14 * time.Minute)
		r := fx.do(t, "POST", "/portal/flow/extend", url.Values{"flow": {tok}}, "")
		var out map[string]any
		if err := json.Unmarshal(r.Body.Bytes(), &out); r.Code != 200 || err != nil || out["flow"] == nil {
			t.Fatalf("extension %d: %d %s", i+1, r.Code, r.Body)
		}
		tok = out["flow"].(string)
	}
	// Still the method step of the same card: the order goes through 42 minutes after the card check.
	r = fx.do(t, "POST", "/portal/register/mtan?lang=de", url.Values{"flow": {tok}, "mobile": {"0151 12345678"}, "question": {"birthplace"},
		"answer": {"Kiel"}, "accept_price": {"yes"}, "terms": {fx.reg.PriceTerms().ID()}}, "")
	if r.Code != 200 {
		t.Fatalf("order with the extended token: %d", r.Code)
	}
	if r := fx.do(t, "POST", "/portal/flow/extend", url.Values{"flow": {tok}}, ""); r.Code != 409 {
		t.Fatalf("a fourth extension: %d", r.Code)
	}
	if r := fx.do(t, "POST", "/portal/flow/extend", url.Values{"flow": {"forged"}}, ""); r.Code != 410 {
		t.Fatalf("a forged token: %d", r.Code)
	}
	// The card page's strong authentication is not extended.
	fx2 := newFixture(t)
	fx2.registerAnna(t)
	// The step-up page's limit is its code's 4 minutes, with no offer of more time (a new code is it).
	r = fx2.do(t, "POST", "/portal/whitelist", url.Values{"pan": {"4000110000000017"}, "expiry": {"09/29"}, "name": {"Anna Schmidt"}}, "en")
	if b := r.Body.String(); strings.Contains(b, `id="more-time"`) || !strings.Contains(b, "arm( 240 ,  false )") {
		t.Fatalf("step-up page: %s", b)
	}
	fx2.DeliverSMS(t)
	page, sca := fx2.sca(t)
	if strings.Contains(page, `id="more-time"`) || !strings.Contains(page, `id="time-warning"`) {
		t.Fatalf("card page: %s", page)
	}
	if r := fx2.do(t, "POST", "/portal/flow/extend", url.Values{"flow": {sca}}, ""); r.Code != 409 {
		t.Fatalf("extending the strong authentication: %d", r.Code)
	}
}
