package portal_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Issue 18 (WCAG 3.1.2, 3.3.1, 3.3.3): a wrong field is named in the page's language and in the
// cardholder's words, marked on the field (aria-invalid, the message as its aria-describedby, focus on
// it when the page loads) and linked from the error summary; no internal field name or English text
// on a German page.
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
		if !regexp.MustCompile(`id="pan"[^>]*aria-invalid="true" aria-describedby="pan-error" autofocus`).MatchString(body) ||
			!strings.Contains(body, `<p class="field-error" id="pan-error">`) {
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
