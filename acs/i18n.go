package acs

import "embed"

//go:embed templates/*.html
var templateFS embed.FS

// tr returns the challenge pages' text in German or English.
func tr(lang, key string) string {
	m := texts[key]
	if s, ok := m[lang]; ok {
		return s
	}
	if s, ok := m["de"]; ok {
		return s
	}
	return key
}

var texts = map[string]map[string]string{
	"title":         {"de": "Zahlung bestätigen", "en": "Confirm your payment"},
	"merchant":      {"de": "Händler", "en": "Merchant"},
	"amount":        {"de": "Betrag", "en": "Amount"},
	"date":          {"de": "Datum", "en": "Date"},
	"check":         {"de": "Prüfen Sie Händler und Betrag. Nur für genau diesen Kauf gilt Ihre Bestätigung.", "en": "Check merchant and amount. Your confirmation is valid for exactly this purchase."},
	"sent_to":       {"de": "Ihre mTAN wurde per SMS gesendet an", "en": "Your mTAN was sent by SMS to"},
	"mtan":          {"de": "mTAN aus der SMS", "en": "mTAN from the SMS"},
	"answer":        {"de": "Antwort auf Ihre Sicherheitsfrage", "en": "Answer to your security question"},
	"confirm":       {"de": "Bestätigen", "en": "Confirm"},
	"resend":        {"de": "Neue mTAN senden", "en": "Send a new mTAN"},
	"cancel":        {"de": "Abbrechen", "en": "Cancel"},
	"resent":        {"de": "Eine neue mTAN ist unterwegs. Die vorherige ist ungültig.", "en": "A new mTAN is on its way. The previous one is no longer valid."},
	"wrong":         {"de": "Die mTAN oder die Antwort auf Ihre Sicherheitsfrage ist nicht korrekt.", "en": "The mTAN or the answer to your security question is not correct."},
	"tries_left":    {"de": "Verbleibende Versuche", "en": "Tries left"},
	"expired_mtan":  {"de": "Die mTAN ist abgelaufen (sie gilt 4 Minuten). Fordern Sie eine neue an.", "en": "The mTAN has expired (it is valid for 4 minutes). Request a new one."},
	"action":        {"de": "Bitte wählen Sie eine Aktion.", "en": "Please choose an action."},
	"app_pending":   {"de": "Diese Karte ist für die Bestätigung in der App registriert. Die Bestätigung in der App ist auf diesem System noch nicht verfügbar; brechen Sie den Kauf ab oder versuchen Sie es später erneut.", "en": "This card is registered for confirmation in the app. Confirmation in the app is not available on this system yet; cancel the purchase or try again later."},
	"refused":       {"de": "Diese Zahlung kann nicht bestätigt werden.", "en": "This payment cannot be confirmed."},
	"refused_note":  {"de": "Bitte kehren Sie zum Händler zurück und versuchen Sie es erneut.", "en": "Please return to the merchant and try again."},
	"expired":       {"de": "Diese Seite ist abgelaufen.", "en": "This page has expired."},
	"returning":     {"de": "Sie werden zum Händler zurückgeleitet …", "en": "Returning you to the merchant …"},
	"continue":      {"de": "Weiter zum Händler", "en": "Continue to the merchant"},
	"result_Y":      {"de": "Zahlung bestätigt.", "en": "Payment confirmed."},
	"result_N":      {"de": "Die Zahlung wurde nicht bestätigt.", "en": "The payment was not confirmed."},
	"result_cancel": {"de": "Sie haben den Vorgang abgebrochen.", "en": "You cancelled."},
	"result_time":   {"de": "Die Zeit für die Bestätigung ist abgelaufen.", "en": "The time to confirm has run out."},
	"trust":         {"de": "Diesem Händler vertrauen: künftige Zahlungen hier können ohne Bestätigung erfolgen (gilt nur, wenn Sie jetzt bestätigen).", "en": "Trust this merchant: future payments here may go through without confirmation (only if you confirm now)."},
	"other":         {"de": "English", "en": "Deutsch"},
}
