package server

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"example.com/acs/internal/web"
)

// A person's browser that meets an error (the portal's database away, a form posted to a route that
// does not exist) gets a page in its language, in words a cardholder understands, with the request id
// to give the bank's service: never the JSON the APIs answer, nor an internal message (issue 18).
// Browsers ask for text/html when they navigate or post a form; the APIs' clients do not.

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html")
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title></head>
<body>
<main>
<h1>{{.Title}}</h1>
<p role="alert">{{.Text}}</p>
<p>{{.Ref}} <code>{{.RequestID}}</code></p>
</main>
</body>
</html>
`))

var errorWords = map[string]map[string]string{
	"de": {
		"title":       "Das hat nicht geklappt",
		"unavailable": "Der Dienst ist kurz nicht erreichbar. Bitte versuchen Sie es in einigen Minuten noch einmal.",
		"client":      "Diese Seite gibt es nicht, oder das Formular ist abgelaufen. Bitte beginnen Sie noch einmal.",
		"internal":    "Ein Fehler ist bei uns aufgetreten. Bitte versuchen Sie es später noch einmal oder rufen Sie uns an.",
		"ref":         "Nummer für unseren Kundenservice:",
	},
	"en": {
		"title":       "That did not work",
		"unavailable": "The service is briefly unavailable. Please try again in a few minutes.",
		"client":      "This page does not exist, or the form has expired. Please start again.",
		"internal":    "Something went wrong on our side. Please try again later or call us.",
		"ref":         "Reference for our customer service:",
	},
}

// writeErrorPage answers the error as a page.
func writeErrorPage(c echo.Context, status int, requestID string) error {
	lang := web.Lang(c.Request(), "")
	w := errorWords[lang]
	if w == nil {
		w = errorWords["de"]
	}
	text := w["internal"]
	switch {
	case status == http.StatusServiceUnavailable:
		text = w["unavailable"]
	case status < 500:
		text = w["client"]
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	// Only the challenge is framed (by the merchant's checkout); the portal's and the console's error
	// pages are framed by nobody, as their own pages are.
	ancestors := "'none'"
	if strings.HasPrefix(c.Request().URL.Path, "/3ds/challenge") {
		ancestors = "'self' https:"
	}
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors "+ancestors+"; base-uri 'none'; form-action 'none'")
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return errorPage.Execute(c.Response(), map[string]string{"Lang": lang, "Title": w["title"], "Text": text, "Ref": w["ref"],
		"RequestID": requestID})
}
