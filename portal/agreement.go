package portal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/labstack/echo/v4"

	"example.com/acs/registration"
)

// The SMS price agreement (R-REG-6): when the issuer charges for SMS, the price is not a line in the
// form but a document of its own that the cardholder can print or save, accepted with a checkbox and
// the button "Kostenpflichtig bestellen" (the wording German law asks of an order button that commits
// to pay, § 312j (3) BGB). The registration keeps the terms and the document version accepted.

// agreementText is the document in each language, by paragraph; %[1]s is the bank, %[2]s the price.
var agreementText = map[lang][]string{
	"de": {
		"Preisvereinbarung für den SMS-Versand (mTAN-Verfahren)",
		"Mit dem mTAN-Verfahren bestätigen Sie Zahlungen im Internet mit einem Code, den %[1]s Ihnen per SMS an Ihre registrierte Mobilnummer sendet, zusammen mit der Antwort auf Ihre Sicherheitsfrage.",
		"Preis: Für jede SMS, die wir Ihnen im mTAN-Verfahren senden, berechnen wir %[2]s. Das sind die SMS mit einer mTAN für eine Zahlung, eine neu angeforderte mTAN, der Code zur Bestätigung Ihrer Mobilnummer und der Code zum Verwalten Ihrer vertrauenswürdigen Händler.",
		"Abrechnung: Die SMS eines Monats werden einzeln mit Datum, Uhrzeit und Zweck auf Ihrer nächsten Kartenabrechnung aufgeführt und belastet. SMS, die nachweislich durch Missbrauch Dritter ausgelöst wurden, berechnen wir nicht.",
		"Alternative: Das App-Verfahren ist kostenlos. Sie können jederzeit dorthin wechseln; dazu registrieren Sie Ihre Karte in der App neu.",
		"Laufzeit: Die Vereinbarung gilt, solange Ihre Karte im mTAN-Verfahren registriert ist. Eine Preisänderung teilen wir Ihnen vorher mit; sie gilt erst, wenn Sie ihr zustimmen.",
	},
	"en": {
		"Price agreement for SMS delivery (mTAN method)",
		"With the mTAN method you confirm payments on the internet with a code that %[1]s sends by SMS to your registered mobile number, together with the answer to your security question.",
		"Price: for each SMS we send you in the mTAN method we charge %[2]s. These are the SMS with an mTAN for a payment, an mTAN requested again, the code that confirms your mobile number, and the code for managing your trusted merchants.",
		"Billing: each month's SMS are listed one by one with date, time and purpose on your next card statement and charged there. SMS shown to have been caused by someone else's abuse are not charged.",
		"Alternative: the app method is free. You can change to it at any time by registering your card in the app again.",
		"Term: the agreement applies as long as your card is registered for the mTAN method. We tell you of a price change in advance; it applies only once you agree to it.",
	},
}

// agreementDate is when the version's text was issued: the document's date, and its PDF creation date,
// so that the same terms give the same bytes.
var agreementDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// AgreementPDF renders the price agreement for terms in language l.
func AgreementPDF(issuer string, terms registration.PriceTerms, l lang) ([]byte, error) {
	text, ok := agreementText[l]
	if !ok {
		text = agreementText["de"]
	}
	price := formatPrice(terms, l)
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCatalogSort(true) // the same terms give the same bytes (fpdf otherwise orders some objects by map)
	pdf.SetCreationDate(agreementDate)
	pdf.SetModificationDate(agreementDate)
	pdf.SetTitle(text[0], true)
	pdf.SetAuthor(issuer, true)
	tr := pdf.UnicodeTranslatorFromDescriptor("") // core fonts are Windows-1252: ä, ö, ü, ß, €
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 14)
	pdf.CellFormat(0, 8, tr(issuer), "", 1, "R", false, 0, "")
	pdf.Ln(8)
	pdf.SetFont("Helvetica", "B", 13)
	pdf.MultiCell(0, 7, tr(text[0]), "", "L", false)
	pdf.Ln(4)
	pdf.SetFont("Helvetica", "", 11)
	for _, para := range text[1:] {
		pdf.MultiCell(0, 5.5, tr(fmt.Sprintf(para, issuer, price)), "", "L", false)
		pdf.Ln(3)
	}
	pdf.Ln(6)
	pdf.SetFont("Helvetica", "", 9)
	pdf.CellFormat(0, 5, tr(fmt.Sprintf("%s · %s", terms.Version, agreementDate.Format("02.01.2006"))), "", 1, "L", false, 0, "")
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, fmt.Errorf("portal: price agreement: %w", err)
	}
	return b.Bytes(), nil
}

// formatPrice writes the price per SMS as the page's language does: "0,09 EUR", "0.09 EUR".
func formatPrice(terms registration.PriceTerms, l lang) string {
	s := terms.Amount.StringFixed(2)
	if l == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " " + terms.Currency
}

// agreement serves the price agreement in force (GET /portal/price-agreement.pdf); 404 when SMS are free.
func (p *Portal) agreement(c echo.Context) error {
	if !p.d.Registrar.Charged() {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	l := pickLang(c.Request())
	terms := p.d.Registrar.PriceTerms()
	key := terms.ID() + ";" + string(l)
	// The same terms give the same bytes: made once per language, not at every (unauthenticated) GET.
	b, ok := p.agreements.Load(key)
	if !ok {
		pdf, err := AgreementPDF(p.d.Issuer, terms, l)
		if err != nil {
			return err
		}
		b, _ = p.agreements.LoadOrStore(key, pdf)
	}
	name := "SMS-Preisvereinbarung.pdf"
	if l == "en" {
		name = "SMS-price-agreement.pdf"
	}
	c.Response().Header().Set("Content-Disposition", `inline; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "application/pdf", b.([]byte))
}

// AgreementTextHash is the SHA-256 of the agreement's text in every language, for the test that keeps
// the version and the text together.
func AgreementTextHash() string {
	h := sha256.New()
	for _, l := range []lang{"de", "en"} {
		for _, p := range agreementText[l] {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
