package acs

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"net/url"

	"example.com/acs/emv"
	"example.com/acs/registration"
)

// The app channel's HTML UI (acsUiType 05, EMV 3DS 2.3.1 Req 160-165): for an SDK that renders only
// HTML, the CRes carries a whole, self-contained page (acsHTML, base64url): no external reference, its
// style inline, responsive. Its form submits by a location change to HTTPS://EMV3DS/challenge, which
// the SDK catches and sends on unchanged as challengeHTMLDataEntry (Req 393, 413): here
// "mtan=…&answer=…&action=verify", "action=resend", "action=continue" or "action=cancel".

const uiTypeHTML = "05"

// sdkHTMLAction is where the page's form goes; the SDK intercepts it (Req 164).
const sdkHTMLAction = "HTTPS://EMV3DS/challenge"

var appHTML = template.Must(template.New("app").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;padding:16px;color:#1a1a1a;background:#fff;font-size:16px}
h1{font-size:1.25rem;margin:0 0 12px}
dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:0 0 12px}dt{font-weight:600}dd{margin:0}
.note{background:#eef4ff;padding:8px;border-radius:4px}.alert{color:#a00000;font-weight:600}
label{display:block;margin:12px 0 4px;font-weight:600}input{font-size:1.1rem;padding:8px;width:100%;box-sizing:border-box}
button{font-size:1rem;padding:10px 16px;margin:12px 8px 0 0;border-radius:4px;border:1px solid #003a8c}
button.primary{background:#003a8c;color:#fff}button:focus,input:focus{outline:3px solid #ffbf47;outline-offset:2px}
</style></head><body>
<h1>{{.Title}}</h1>
<dl><dt>Händler</dt><dd>{{.Merchant}}</dd><dt>Betrag</dt><dd>{{.Amount}}</dd></dl>
<p class="note">{{.Check}}</p>
{{if .Notice}}<p class="alert" role="alert">{{.Notice}}</p>{{end}}
<form action="` + sdkHTMLAction + `" method="get">
{{if .OOB}}<p>{{.AppConfirm}}</p>
<button class="primary" type="submit" name="action" value="continue">{{.Done}}</button>
{{else}}<p>{{.SentTo}}</p>
<label for="mtan">{{.MTANLabel}}</label>
<input id="mtan" name="mtan" inputmode="numeric" autocomplete="one-time-code" maxlength="8" required>
<label for="answer">{{.AnswerLabel}}</label>
<input id="answer" name="answer" type="password" autocomplete="off" maxlength="100" required>
<button class="primary" type="submit" name="action" value="verify">{{.Confirm}}</button>
<button type="submit" name="action" value="resend" formnovalidate>{{.Resend}}</button>
{{end}}<button type="submit" name="action" value="cancel" formnovalidate>{{.Cancel}}</button>
</form></body></html>`))

// htmlCRes is the CRes of the HTML UI: the page as the challenge stands.
func htmlCRes(m *emv.Message, v *View, notice string) {
	lang := screenLang(v.BrowserLanguage)
	var buf bytes.Buffer
	notes := map[string]string{}
	if notice != "" && notice != noticeAskAnswer {
		notes["text"] = tr(lang, notice)
	}
	_ = appHTML.Execute(&buf, map[string]any{"Lang": lang, "Title": tr(lang, "title"), "Merchant": v.Merchant,
		"Amount": FormatAmount(v.Amount, v.Currency), "Check": tr(lang, "check"), "Notice": notes["text"],
		"OOB": v.Method == registration.MethodApp, "AppConfirm": tr(lang, "app_confirm"), "Done": tr(lang, "app_done"),
		"SentTo": tr(lang, "sent_to") + " " + v.MobileHint + ".", "MTANLabel": tr(lang, "mtan"),
		"AnswerLabel": tr(lang, "answer") + ": " + question(v.QuestionKey, lang), "Confirm": tr(lang, "confirm"),
		"Resend": tr(lang, "resend"), "Cancel": tr(lang, "cancel")})
	m.Set("acsHTML", base64.RawURLEncoding.EncodeToString(buf.Bytes()))
}

// htmlEntry reads challengeHTMLDataEntry, the page's form as the SDK passed it on.
func htmlEntry(m *emv.Message) url.Values {
	q, err := url.ParseQuery(m.Str("challengeHTMLDataEntry"))
	if err != nil {
		return url.Values{}
	}
	return q
}
