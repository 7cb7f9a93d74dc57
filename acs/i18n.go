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
	"title":                 {"de": "Zahlung bestätigen", "en": "Confirm your payment"},
	"ended":                 {"de": "Dieser Vorgang ist beendet.", "en": "This transaction has ended."},
	"too_many_sms":          {"de": "Für Ihre Karte wurden gerade zu viele SMS gesendet. Bitte versuchen Sie es später erneut.", "en": "Too many SMS were sent for your card just now. Please try again later."},
	"no_more_mtan":          {"de": "Für diesen Kauf kann keine weitere mTAN gesendet werden.", "en": "No further mTAN can be sent for this purchase."},
	"title_npa":             {"de": "Karte bestätigen", "en": "Confirm your card"},
	"what":                  {"de": "Vorgang", "en": "What"},
	"what_npa":              {"de": "Ihre Karte beim Händler hinterlegen – keine Zahlung", "en": "Store your card with the merchant – no payment"},
	"merchant":              {"de": "Händler", "en": "Merchant"},
	"amount":                {"de": "Betrag", "en": "Amount"},
	"date":                  {"de": "Datum", "en": "Date"},
	"check":                 {"de": "Prüfen Sie Händler und Betrag. Nur für genau diesen Kauf gilt Ihre Bestätigung.", "en": "Check merchant and amount. Your confirmation is valid for exactly this purchase."},
	"sent_to":               {"de": "Ihre mTAN wurde per SMS gesendet an", "en": "Your mTAN was sent by SMS to"},
	"mtan":                  {"de": "mTAN aus der SMS", "en": "mTAN from the SMS"},
	"answer":                {"de": "Antwort auf Ihre Sicherheitsfrage", "en": "Answer to your security question"},
	"confirm":               {"de": "Bestätigen", "en": "Confirm"},
	"error_ref":             {"de": "Fehlercode für den Kundenservice", "en": "Error code for customer service"},
	"resend":                {"de": "Neue mTAN senden", "en": "Send a new mTAN"},
	"mtan_until":            {"de": "Die mTAN ist 4 Minuten gültig, bis", "en": "The mTAN is valid for 4 minutes, until"},
	"deadline_until":        {"de": "Für diese Bestätigung haben Sie 10 Minuten Zeit, bis", "en": "You have 10 minutes for this confirmation, until"},
	"oclock":                {"de": "Uhr", "en": ""},
	"mtan_expiring":         {"de": "Ihre mTAN läuft in 1 Minute ab. Mit „Neue mTAN senden“ erhalten Sie eine neue.", "en": "Your mTAN runs out in 1 minute. “Send a new mTAN” gives you a new one."},
	"deadline_expiring":     {"de": "Diese Bestätigung endet in 2 Minuten; danach wird der Kauf abgebrochen.", "en": "This confirmation ends in 2 minutes; after that the purchase is cancelled."},
	"cancel":                {"de": "Abbrechen", "en": "Cancel"},
	"resent":                {"de": "Eine neue mTAN ist unterwegs. Die vorherige ist ungültig.", "en": "A new mTAN is on its way. The previous one is no longer valid."},
	"wrong":                 {"de": "Die mTAN oder die Antwort auf Ihre Sicherheitsfrage ist nicht korrekt.", "en": "The mTAN or the answer to your security question is not correct."},
	"tries_left":            {"de": "Verbleibende Versuche", "en": "Tries left"},
	"expired_mtan":          {"de": "Die mTAN ist abgelaufen (sie gilt 4 Minuten). Fordern Sie eine neue an.", "en": "The mTAN has expired (it is valid for 4 minutes). Request a new one."},
	"action":                {"de": "Bitte wählen Sie eine Aktion.", "en": "Please choose an action."},
	"app_confirm":           {"de": "Bitte bestätigen Sie die Zahlung in der App Ihrer Bank. Prüfen Sie dort Händler, Betrag und Datum.", "en": "Please confirm the payment in your bank's app. Check merchant, amount and date there."},
	"app_wait":              {"de": "Diese Seite geht von selbst weiter, sobald Sie in der App geantwortet haben.", "en": "This page moves on by itself once you have answered in the app."},
	"app_not_yet":           {"de": "Wir haben Ihre Antwort in der App noch nicht erhalten.", "en": "We have not received your answer in the app yet."},
	"app_done":              {"de": "Ich habe in der App geantwortet", "en": "I have answered in the app"},
	"offline_link":          {"de": "Mein Telefon hat keine Datenverbindung", "en": "My phone has no data connection"},
	"offline_steps":         {"de": "Öffnen Sie die App, wählen Sie „Offline-Passwort“, geben Sie Ihre App-PIN, die Challenge-Nummer und den Betrag ein, und tragen Sie das angezeigte Passwort hier ein.", "en": "Open the app, choose \"offline password\", enter your app PIN, the challenge number and the amount, and type the password it shows here."},
	"offline_challenge":     {"de": "Challenge-Nummer", "en": "Challenge number"},
	"offline_password":      {"de": "Offline-Passwort aus der App", "en": "Offline password from the app"},
	"wrong_offline":         {"de": "Das Passwort ist nicht korrekt.", "en": "The password is not correct."},
	"refused":               {"de": "Diese Zahlung kann nicht bestätigt werden.", "en": "This payment cannot be confirmed."},
	"refused_note":          {"de": "Bitte kehren Sie zum Händler zurück und versuchen Sie es erneut.", "en": "Please return to the merchant and try again."},
	"expired":               {"de": "Diese Seite ist abgelaufen.", "en": "This page has expired."},
	"returning":             {"de": "Sie werden zum Händler zurückgeleitet …", "en": "Returning you to the merchant …"},
	"continue":              {"de": "Weiter zum Händler", "en": "Continue to the merchant"},
	"result_Y":              {"de": "Zahlung bestätigt.", "en": "Payment confirmed."},
	"result_N":              {"de": "Die Zahlung wurde nicht bestätigt.", "en": "The payment was not confirmed."},
	"result_cancel":         {"de": "Sie haben den Vorgang abgebrochen.", "en": "You cancelled."},
	"result_identification": {"de": "Identifikation fehlgeschlagen.", "en": "Identification failed."},
	"result_declined":       {"de": "Sie haben die Zahlung in der App abgelehnt.", "en": "You declined the payment in the app."},
	"result_time":           {"de": "Die Zeit für die Bestätigung ist abgelaufen.", "en": "The time to confirm has run out."},
	"trust":                 {"de": "Diesem Händler vertrauen: künftige Zahlungen hier können ohne Bestätigung erfolgen (gilt nur, wenn Sie jetzt bestätigen).", "en": "Trust this merchant: future payments here may go through without confirmation (only if you confirm now)."},
	"other":                 {"de": "English", "en": "Deutsch"},
}
