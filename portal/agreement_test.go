package portal_test

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"example.com/acs/internal/testenv"
	"example.com/acs/portal"
	"example.com/acs/registration"
)

// R-REG-6: the price is a document of its own, in the page's language, that the cardholder can print or
// save: a PDF naming the bank, the price per SMS, what is charged, and the version the registration
// keeps; the same terms give the same bytes.
func TestPriceAgreementDocument(t *testing.T) {
	fx := newFixture(t)
	r := fx.do(t, "GET", "/portal/price-agreement.pdf?lang=de", nil, "")
	if r.Code != 200 || r.Header().Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(r.Body.Bytes(), []byte("%PDF-")) ||
		!strings.Contains(r.Header().Get("Content-Disposition"), "SMS-Preisvereinbarung.pdf") {
		t.Fatalf("document: %d %v", r.Code, r.Header())
	}
	text, err := charmap.Windows1252.NewDecoder().String(testenv.PDFText(r.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	price := strings.Replace(fx.reg.PriceTerms().Amount.StringFixed(2), ".", ",", 1) + " EUR"
	for _, want := range []string{"Musterbank AG", "Preisvereinbarung für den SMS-Versand", price, "Kartenabrechnung", "Missbrauch",
		registration.PriceAgreementVersion} {
		if !strings.Contains(text, want) {
			t.Errorf("the agreement does not say %q:\n%s", want, text)
		}
	}
	again := fx.do(t, "GET", "/portal/price-agreement.pdf?lang=de", nil, "")
	if !bytes.Equal(again.Body.Bytes(), r.Body.Bytes()) {
		t.Error("the same terms gave different bytes")
	}
	en := fx.do(t, "GET", "/portal/price-agreement.pdf?"+url.Values{"lang": {"en"}}.Encode(), nil, "")
	if text := testenv.PDFText(en.Body.Bytes()); en.Code != 200 || !strings.Contains(text, "Price agreement for SMS delivery") ||
		!strings.Contains(text, fx.reg.PriceTerms().Amount.StringFixed(2)+" EUR") {
		t.Fatalf("English agreement: %d %s", en.Code, text)
	}
}

// The document version names the text: a changed text without a new version would leave registrations
// claiming to have accepted words they never saw (R-REG-6). When this fails, give the new text a new
// registration.PriceAgreementVersion and record the text's hash here.
func TestAgreementVersionNamesTheText(t *testing.T) {
	const version, textSHA256 = "SMS-PV-2026-12", "6ff74687e81077198e5be3ed42de55fc663191dc9575fb59a2f50935afe4ae1b"
	if got := portal.AgreementTextHash(); registration.PriceAgreementVersion != version || got != textSHA256 {
		t.Fatalf("price agreement %s has text %s; recorded: %s with %s", registration.PriceAgreementVersion, got, version, textSHA256)
	}
}
