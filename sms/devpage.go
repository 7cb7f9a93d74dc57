package sms

import (
	"html/template"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
)

var devInboxPage = template.Must(template.New("inbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>SMS inbox (development)</title></head>
<body><h1>SMS inbox</h1><p>What the development gateway "sent", newest first. Development configuration only.</p>
<table border="1" cellpadding="6"><tr><th>time</th><th>to</th><th>text</th></tr>
{{range .}}<tr><td>{{.At.Format "15:04:05"}}</td><td>{{.To}}</td><td>{{.Body}}</td></tr>{{else}}<tr><td colspan="3">no messages yet</td></tr>{{end}}
</table></body></html>`))

type devMessage struct {
	At       time.Time
	To, Body string
}

// Handler shows the newest messages of the development gateway. Mount it only when the
// configured gateway is "dev": it shows message texts, which hold mTANs.
func (d *DevInbox) Handler(c echo.Context) error {
	rows, err := d.Pool.Query(c.Request().Context(), `SELECT sent_at, to_masked, body FROM dev_sms_inbox ORDER BY id DESC LIMIT 50`)
	if err != nil {
		return err
	}
	msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (devMessage, error) {
		var m devMessage
		return m, r.Scan(&m.At, &m.To, &m.Body)
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return devInboxPage.Execute(c.Response(), msgs)
}
