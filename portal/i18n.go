package portal

import (
	"net/http"

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
	"title":           {"de": "Sicher online bezahlen", "en": "Secure online payments"},
	"intro":           {"de": "Registrieren Sie Ihre Karte für Mastercard Identity Check und Visa Secure.", "en": "Register your card for Mastercard Identity Check and Visa Secure."},
	"register":        {"de": "Karte registrieren", "en": "Register a card"},
	"activate":        {"de": "Registrierung mit ID-Code abschließen", "en": "Complete registration with your ID code"},
	"pan":             {"de": "Kartennummer", "en": "Card number"},
	"expiry":          {"de": "Gültig bis (MM/JJ)", "en": "Valid thru (MM/YY)"},
	"name":            {"de": "Name wie auf der Karte", "en": "Name as on the card"},
	"dob":             {"de": "oder Geburtsdatum (JJJJ-MM-TT)", "en": "or date of birth (YYYY-MM-DD)"},
	"next":            {"de": "Weiter", "en": "Continue"},
	"method":          {"de": "Verfahren wählen", "en": "Choose a method"},
	"method_app":      {"de": "App: Bestätigen Sie Zahlungen in der App Ihrer Bank. Die Registrierung dafür starten Sie in der App.", "en": "App: confirm payments in your bank's app. Start that registration in the app."},
	"method_mtan":     {"de": "mTAN: Sie erhalten für jede Zahlung eine SMS mit einer mTAN und beantworten Ihre Sicherheitsfrage.", "en": "mTAN: you receive an SMS with an mTAN for each payment and answer your security question."},
	"mobile":          {"de": "Mobilnummer", "en": "Mobile number"},
	"question":        {"de": "Sicherheitsfrage", "en": "Security question"},
	"answer":          {"de": "Antwort", "en": "Answer"},
	"price":           {"de": "Jede SMS kostet", "en": "Each SMS costs"},
	"accept_price":    {"de": "Ich bestelle den SMS-Versand zu diesem Preis (kostenpflichtig bestellen).", "en": "I order SMS delivery at this price (order with costs)."},
	"order":           {"de": "Registrierung beantragen", "en": "Request registration"},
	"requested":       {"de": "Ihr ID-Code ist unterwegs", "en": "Your ID code is on its way"},
	"requested_text":  {"de": "Wir senden Ihnen den ID-Code per Brief (2 bis 4 Werktage). Er gilt 15 Tage. Mit ihm schließen Sie die Registrierung ab.", "en": "We send you the ID code by letter (2 to 4 working days). It is valid for 15 days. Use it to complete the registration."},
	"reads":           {"de": "Zugriffe auf Ihre Kartendaten in den letzten 13 Monaten", "en": "Reads of your card data in the last 13 months"},
	"id_code":         {"de": "ID-Code aus dem Brief", "en": "ID code from the letter"},
	"confirm":         {"de": "Mobilnummer bestätigen", "en": "Confirm your mobile number"},
	"confirm_text":    {"de": "Wir haben einen Code per SMS gesendet an", "en": "We sent a code by SMS to"},
	"code":            {"de": "Code aus der SMS", "en": "Code from the SMS"},
	"confirm_button":  {"de": "Bestätigen", "en": "Confirm"},
	"resend":          {"de": "Neuen Code senden", "en": "Send a new code"},
	"done":            {"de": "Registrierung abgeschlossen", "en": "Registration complete"},
	"done_text":       {"de": "Ihre Karte ist für sicheres Online-Bezahlen registriert.", "en": "Your card is registered for secure online payments."},
	"card":            {"de": "Karte", "en": "Card"},
	"problem":         {"de": "Bitte prüfen Sie Ihre Eingaben.", "en": "Please check what you entered."},
	"wl_link":         {"de": "Vertrauenswürdige Händler ansehen und entfernen", "en": "View and remove trusted merchants"},
	"wl_title":        {"de": "Vertrauenswürdige Händler", "en": "Trusted merchants"},
	"wl_intro":        {"de": "Bei Händlern auf dieser Liste können Zahlungen ohne Bestätigung erfolgen. Zum Ansehen und Ändern bestätigen Sie Ihre Identität mit einem Code per SMS und Ihrer Sicherheitsantwort.", "en": "Payments at merchants on this list may go through without confirmation. To view and change it, confirm your identity with a code by SMS and your security answer."},
	"wl_code_sent":    {"de": "Wir haben einen Code per SMS gesendet an", "en": "We sent a code by SMS to"},
	"wl_card":         {"de": "Karte", "en": "Card"},
	"wl_merchant":     {"de": "Händler", "en": "Merchant"},
	"wl_since":        {"de": "Seit", "en": "Since"},
	"wl_remove":       {"de": "Entfernen", "en": "Remove"},
	"wl_removed":      {"de": "Der Händler wurde entfernt. Die nächste Zahlung dort wird wieder bestätigt.", "en": "The merchant was removed. The next payment there will be confirmed again."},
	"wl_empty":        {"de": "Sie haben keine vertrauenswürdigen Händler.", "en": "You have no trusted merchants."},
	"other_language":  {"de": "English", "en": "Deutsch"},
	"other_lang_code": {"de": "en", "en": "de"},
}
