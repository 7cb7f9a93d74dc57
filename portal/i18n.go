package portal

import (
	"net/http"
	"slices"
	"sort"

	"example.com/acs/internal/web"
)

// lang is the page language: German for the bank's customers by default, English on request.
type lang string

func (l lang) Code() string { return string(l) }

func (l lang) t(key string) string {
	m := messages[key]
	if s, ok := m[l]; ok {
		return s
	}
	if s, ok := m["de"]; ok {
		return s
	}
	return key
}

// pickLang follows an explicit ?lang= and then the browser's Accept-Language.
func pickLang(r *http.Request) lang { return lang(web.Lang(r, "")) }

var messages = map[string]map[lang]string{
	"title":               {"de": "Sicher online bezahlen", "en": "Secure online payments"},
	"intro":               {"de": "Registrieren Sie Ihre Karte für Mastercard Identity Check und Visa Secure.", "en": "Register your card for Mastercard Identity Check and Visa Secure."},
	"register":            {"de": "Karte registrieren", "en": "Register a card"},
	"activate":            {"de": "Registrierung mit ID-Code abschließen", "en": "Complete registration with your ID code"},
	"pan":                 {"de": "Kartennummer", "en": "Card number"},
	"expiry":              {"de": "Gültig bis (MM/JJ)", "en": "Valid thru (MM/YY)"},
	"name":                {"de": "Name wie auf der Karte", "en": "Name as on the card"},
	"dob":                 {"de": "oder Geburtsdatum (JJJJ-MM-TT)", "en": "or date of birth (YYYY-MM-DD)"},
	"next":                {"de": "Weiter", "en": "Continue"},
	"method":              {"de": "Verfahren wählen", "en": "Choose a method"},
	"method_app":          {"de": "App: Bestätigen Sie Zahlungen in der App Ihrer Bank. Die Registrierung dafür starten Sie in der App.", "en": "App: confirm payments in your bank's app. Start that registration in the app."},
	"method_mtan":         {"de": "mTAN: Sie erhalten für jede Zahlung eine SMS mit einer mTAN und beantworten Ihre Sicherheitsfrage.", "en": "mTAN: you receive an SMS with an mTAN for each payment and answer your security question."},
	"mobile":              {"de": "Mobilnummer", "en": "Mobile number"},
	"question":            {"de": "Sicherheitsfrage", "en": "Security question"},
	"answer":              {"de": "Antwort", "en": "Answer"},
	"price":               {"de": "Jede SMS kostet", "en": "Each SMS costs"},
	"accept_price":        {"de": "Ich habe die Preisvereinbarung gelesen und bestelle den SMS-Versand zu diesem Preis.", "en": "I have read the price agreement and order SMS delivery at this price."},
	"price_title":         {"de": "Preisvereinbarung", "en": "Price agreement"},
	"price_document":      {"de": "Die Bedingungen stehen in der Preisvereinbarung zum Ausdrucken oder Speichern:", "en": "The terms are in the price agreement, to print or save:"},
	"price_link":          {"de": "Preisvereinbarung öffnen", "en": "Open the price agreement"},
	"order_charged":       {"de": "Kostenpflichtig bestellen", "en": "Order with costs"},
	"order":               {"de": "Registrierung beantragen", "en": "Request registration"},
	"requested":           {"de": "Ihr ID-Code ist unterwegs", "en": "Your ID code is on its way"},
	"requested_text":      {"de": "Wir senden Ihnen den ID-Code per Brief (2 bis 4 Werktage). Er gilt 15 Tage. Mit ihm schließen Sie die Registrierung ab.", "en": "We send you the ID code by letter (2 to 4 working days). It is valid for 15 days. Use it to complete the registration."},
	"reads":               {"de": "Zugriffe auf Ihre Kartendaten in den letzten 13 Monaten", "en": "Reads of your card data in the last 13 months"},
	"id_code":             {"de": "ID-Code aus dem Brief", "en": "ID code from the letter"},
	"confirm":             {"de": "Mobilnummer bestätigen", "en": "Confirm your mobile number"},
	"confirm_text":        {"de": "Wir haben einen Code per SMS gesendet an", "en": "We sent a code by SMS to"},
	"code":                {"de": "Code aus der SMS", "en": "Code from the SMS"},
	"confirm_button":      {"de": "Bestätigen", "en": "Confirm"},
	"resend":              {"de": "Neuen Code senden", "en": "Send a new code"},
	"done":                {"de": "Registrierung abgeschlossen", "en": "Registration complete"},
	"done_text":           {"de": "Ihre Karte ist für sicheres Online-Bezahlen registriert.", "en": "Your card is registered for secure online payments."},
	"card":                {"de": "Karte", "en": "Card"},
	"problem":             {"de": "Bitte prüfen Sie Ihre Eingaben.", "en": "Please check what you entered."},
	"wl_link":             {"de": "Vertrauenswürdige Händler ansehen und entfernen", "en": "View and remove trusted merchants"},
	"wl_title":            {"de": "Vertrauenswürdige Händler", "en": "Trusted merchants"},
	"wl_intro":            {"de": "Bei Händlern auf dieser Liste können Zahlungen ohne Bestätigung erfolgen. Zum Ansehen und Ändern bestätigen Sie Ihre Identität mit einem Code per SMS und Ihrer Sicherheitsantwort.", "en": "Payments at merchants on this list may go through without confirmation. To view and change it, confirm your identity with a code by SMS and your security answer."},
	"wl_code_sent":        {"de": "Wir haben einen Code per SMS gesendet an", "en": "We sent a code by SMS to"},
	"wl_card":             {"de": "Karte", "en": "Card"},
	"wl_merchant":         {"de": "Händler", "en": "Merchant"},
	"wl_since":            {"de": "Seit", "en": "Since"},
	"wl_remove":           {"de": "Entfernen", "en": "Remove"},
	"wl_removed":          {"de": "Der Händler wurde entfernt. Die nächste Zahlung dort wird wieder bestätigt.", "en": "The merchant was removed. The next payment there will be confirmed again."},
	"wl_empty":            {"de": "Sie haben keine vertrauenswürdigen Händler.", "en": "You have no trusted merchants."},
	"level_title":         {"de": "Sicherheitsstufe", "en": "Security level"},
	"level_legend":        {"de": "Wann sollen Zahlungen mit dieser Karte bestätigt werden?", "en": "When should payments with this card be confirmed?"},
	"level_adaptive":      {"de": "Angepasst: Zahlungen mit geringem Risiko, kleine Beträge und vertrauenswürdige Händler ohne Bestätigung", "en": "Adaptive: low-risk payments, small amounts and trusted merchants without confirmation"},
	"level_always":        {"de": "Immer bestätigen: jede Zahlung, ohne Ausnahme", "en": "Always confirm: every payment, without exception"},
	"level_save":          {"de": "Sicherheitsstufe speichern", "en": "Save security level"},
	"level_set":           {"de": "Die Sicherheitsstufe wurde gespeichert.", "en": "The security level was saved."},
	"limit_step":          {"de": "Für diesen Schritt haben Sie 15 Minuten Zeit; danach beginnen Sie mit der Kartenprüfung neu.", "en": "You have 15 minutes for this step; after that you start again with the card check."},
	"limit_code":          {"de": "Der Code ist 4 Minuten gültig. Ist er abgelaufen, fordern Sie einen neuen an.", "en": "The code is valid for 4 minutes. If it has run out, request a new one."},
	"limit_card_page":     {"de": "Diese Seite können Sie 10 Minuten nach Ihrer Bestätigung nutzen; danach bestätigen Sie sich neu.", "en": "You can use this page for 10 minutes after confirming your identity; after that you confirm again."},
	"flow_expiring":       {"de": "Die Zeit für diesen Schritt läuft in 2 Minuten ab. Brauchen Sie länger?", "en": "The time for this step runs out in 2 minutes. Do you need longer?"},
	"flow_expiring_final": {"de": "Die Zeit für diese Seite läuft in 2 Minuten ab; danach beginnen Sie neu.", "en": "The time for this page runs out in 2 minutes; after that you start again."},
	"more_time":           {"de": "Mehr Zeit (15 Minuten)", "en": "More time (15 minutes)"},
	"more_time_given":     {"de": "Sie haben wieder 15 Minuten Zeit.", "en": "You have 15 minutes again."},
	"flow_expired":        {"de": "Die Zeit für diesen Schritt ist abgelaufen; bitte beginnen Sie erneut.", "en": "The time for this step has run out; please start again."},
	"code_expiring":       {"de": "Der Code läuft in 1 Minute ab. Danach fordern Sie einen neuen an.", "en": "The code runs out in 1 minute. After that, request a new one."},
	"code_expired":        {"de": "Der Code ist abgelaufen; fordern Sie einen neuen an.", "en": "The code has run out; request a new one."},
	"other_language":      {"de": "English", "en": "Deutsch"},
	"other_lang_code":     {"de": "en", "en": "de"},
}

// german translates the messages of the domain packages that a portal page can show; the domain speaks
// English (its messages are also the JSON APIs'), the bank's customers read German first.
var german = map[string]string{
	"the SMS price agreement must be accepted":                        "Bitte bestätigen Sie den kostenpflichtigen SMS-Versand.",
	"must be 3 to 64 characters":                                      "muss 3 bis 64 Zeichen lang sein",
	"the code is not correct":                                         "Der Code ist nicht korrekt.",
	"the code or the answer to your security question is not correct": "Der Code oder die Antwort auf Ihre Sicherheitsfrage ist nicht korrekt.",
	"must be a month and a four-digit year":                           "Monat und Jahr wie auf der Karte (MM/JJ)",
	"the ID code is not correct":                                      "Der ID-Code ist nicht korrekt.",
	"is not a mobile number; SMS need a mobile phone":                 "ist keine Mobilnummer; SMS brauchen ein Mobiltelefon",
	"is not a valid phone number; enter it like +49 151 23456789":     "ist keine gültige Telefonnummer; bitte so eingeben: +49 151 23456789",
	"enter the name on the card or your date of birth":                "Geben Sie den Namen auf der Karte oder Ihr Geburtsdatum ein.",
	"choose one of the offered questions":                             "Wählen Sie eine der angebotenen Fragen.",
	"this card confirms in the app; make the change there":            "Diese Karte wird in der App bestätigt; ändern Sie die Liste dort.",
	"this card has expired; register your replacement card":           "Diese Karte ist abgelaufen; registrieren Sie Ihre Folgekarte.",
	"this card is blocked and cannot be registered":                   "Diese Karte ist gesperrt und kann nicht registriert werden.",
	"this code can no longer be used; request a new code":             "Dieser Code ist nicht mehr gültig; fordern Sie einen neuen an.",
	"the ID code has expired; request a new letter":                   "Der ID-Code ist abgelaufen; fordern Sie einen neuen Brief an.",
	"the code has expired; request a new code":                        "Der Code ist abgelaufen; fordern Sie einen neuen an.",
	"this form has expired; please start again":                       "Dieses Formular ist abgelaufen; bitte beginnen Sie erneut.",
	"the data you entered do not match our records for this card":     "Ihre Angaben passen nicht zu unseren Daten dieser Karte.",
	"too many wrong ID codes; request a new letter":                   "Zu viele falsche ID-Codes; fordern Sie einen neuen Brief an.",
	"too many wrong codes; request a new code":                        "Zu viele falsche Codes; fordern Sie einen neuen an.",
	"too many wrong entries; request a new code":                      "Zu viele falsche Eingaben; fordern Sie einen neuen Code an.",
	"no mobile number of this card is waiting for confirmation":       "Für diese Karte wartet keine Mobilnummer auf Bestätigung.",
	"no registration of this card is waiting for an ID code":          "Für diese Karte wartet keine Registrierung auf einen ID-Code.",
	"too many codes were sent for this number; please call us":        "Für diese Nummer wurden zu viele Codes gesendet; bitte rufen Sie uns an.",
	"the registration waiting for this card's ID code is for the app: activate it in the app; if you did not start it, please call us": "Die Registrierung, auf die dieser ID-Code wartet, ist für die App: Schließen Sie sie in der App ab. Falls Sie sie nicht begonnen haben, rufen Sie uns bitte an.",
	"the registration waiting for this card's ID code is for mTAN: activate it in the portal; if you did not start it, please call us": "Die Registrierung, auf die dieser ID-Code wartet, ist für mTAN: Schließen Sie sie im Portal ab. Falls Sie sie nicht begonnen haben, rufen Sie uns bitte an.",
	"a registration of this card is already under way and waits for its ID-code letter; if you did not start it, please call us":       "Für diese Karte läuft bereits eine Registrierung, die auf ihren ID-Code-Brief wartet. Falls Sie sie nicht begonnen haben, rufen Sie uns bitte an.",
	"no valid ID code letter for this card; request a new letter":                                                                      "Für diese Karte gibt es keinen gültigen ID-Code-Brief; fordern Sie einen neuen an.",
	"this card is not registered for secure online payments":                                                                           "Diese Karte ist nicht für sicheres Online-Bezahlen registriert.",
	"no such confirmation; request a new code":                                                                                         "Diese Bestätigung gibt es nicht; fordern Sie einen neuen Code an.",
	"another registration of this card was started at the same moment":                                                                 "Gleichzeitig wurde eine andere Registrierung dieser Karte begonnen.",
	"unknown entry": "unbekannter Eintrag",
	"this confirmation method is locked after 5 wrong entries in a row; please call us to unlock it":         "Dieses Verfahren ist nach 5 falschen Eingaben in Folge gesperrt; bitte rufen Sie uns an, um es zu entsperren.",
	"the code or the answer to your security question is not correct; one more wrong entry locks the method": "Der Code oder die Antwort auf Ihre Sicherheitsfrage ist nicht korrekt; eine weitere falsche Eingabe sperrt das Verfahren.",
	"too many SMS were sent for this card; please try again later or call us":                                "Für diese Karte wurden zu viele SMS gesendet; bitte versuchen Sie es später erneut oder rufen Sie uns an.",
	"enough letters were requested for this card today; please try again tomorrow":                           "Für diese Karte wurden heute genug Briefe angefordert; bitte versuchen Sie es morgen erneut.",
	"this form cannot be extended; please start again":                                                       "Dieses Formular kann nicht verlängert werden; bitte beginnen Sie erneut.",
	"invalid request":                                       "Bitte prüfen Sie die markierten Angaben.",
	"fails the Luhn check":                                  "Das ist keine gültige Kartennummer; bitte prüfen Sie die Ziffern.",
	"must be 13 to 19 digits":                               "Geben Sie die 13 bis 19 Ziffern von der Karte ein.",
	"is not a Visa or Mastercard number":                    "Hier können nur Visa- und Mastercard-Karten registriert werden.",
	"too many attempts; please try again later or call us":  "Zu viele Versuche; bitte versuchen Sie es später erneut oder rufen Sie uns an.",
	"the price agreement has changed; please read it again": "Die Preisvereinbarung hat sich geändert; bitte lesen Sie sie erneut.",
	"must be adaptive or always_confirm":                    "Wählen Sie eine der beiden Stufen.",
}

// fields are the domain's field names as the pages know them: the id of the input that holds the value
// and its label in each language; a problem is shown at that input and in the summary as its label,
// never as the internal name.
var fields = map[string]struct {
	id     string
	de, en string
}{
	"pan":            {"pan", "Kartennummer", "Card number"},
	"expiry":         {"expiry", "Gültig bis", "Valid until"},
	"name":           {"name", "Name auf der Karte", "Name on the card"},
	"date_of_birth":  {"date_of_birth", "Geburtsdatum", "Date of birth"},
	"mobile_number":  {"mobile", "Mobilnummer", "Mobile number"},
	"question":       {"question", "Sicherheitsfrage", "Security question"},
	"answer":         {"answer", "Antwort", "Answer"},
	"accept_price":   {"accept_price", "Preisvereinbarung", "Price agreement"},
	"id_code":        {"id_code", "ID-Code", "ID code"},
	"code":           {"code", "Code", "Code"},
	"security_level": {"level_adaptive", "Sicherheitsstufe", "Security level"},
	"entry":          {"", "Eintrag", "Entry"},
}

// english rewords the domain's messages that speak of the data rather than to the cardholder.
var english = map[string]string{
	"invalid request":                       "Please check the entries marked below.",
	"fails the Luhn check":                  "this is not a valid card number; please check the digits",
	"must be 13 to 19 digits":               "enter the 13 to 19 digits printed on the card",
	"is not a Visa or Mastercard number":    "only Visa and Mastercard cards can be registered here",
	"must be adaptive or always_confirm":    "choose one of the two levels",
	"must be a month and a four-digit year": "enter the month and year as printed on the card (MM/YY)",
}

// Fallbacks for a message no table words for the page's language: a German page never shows English.
var unknownMessage = map[lang]string{
	"de": "Das hat nicht geklappt. Bitte prüfen Sie Ihre Angaben oder rufen Sie uns an.",
	"en": "That did not work. Please check your entries or call us.",
}
var unknownField = map[lang]string{"de": "Bitte prüfen Sie diese Angabe.", "en": "Please check this entry."}

// fieldError is one field's problem as a page shows it.
type fieldError struct{ ID, Label, Msg string }

// word returns msg in l: the table's words, else (for German) the fallback.
func word(l lang, msg, fallback string) string {
	if l == "de" {
		if g, ok := german[msg]; ok {
			return g
		}
		return fallback
	}
	if e, ok := english[msg]; ok {
		return e
	}
	return msg
}

// fieldOrder is the order the forms ask in; a field not listed comes after them.
var fieldOrder = []string{"pan", "expiry", "name", "date_of_birth", "mobile_number", "question", "answer", "accept_price",
	"id_code", "code", "security_level", "entry"}

// localize returns the summary message and the field problems as a page in l shows them, in the forms'
// order.
func localize(l lang, msg string, problems map[string]string) (string, []fieldError) {
	summary := word(l, msg, unknownMessage["de"])
	var rest []string
	for name := range problems {
		if !slices.Contains(fieldOrder, name) {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	var out []fieldError
	for _, name := range append(append([]string{}, fieldOrder...), rest...) {
		m, ok := problems[name]
		if !ok {
			continue
		}
		f, known := fields[name]
		label := f.en
		if l == "de" {
			label = f.de
		}
		if !known {
			label = map[lang]string{"de": "Eingabe", "en": "Entry"}[l]
		}
		out = append(out, fieldError{ID: f.id, Label: label, Msg: word(l, m, unknownField["de"])})
	}
	return summary, out
}
