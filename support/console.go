package support

import (
	_ "embed"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"example.com/acs/internal/web"
)

// The staff console (/support/console): one page that talks to the staff JSON API with the token the
// agent pastes. The token stays in the tab (sessionStorage) and travels as a bearer header, never as a
// cookie, so the page grants nothing by itself; every value from the API is set as text, not HTML.

//go:embed console/console.html
var consoleHTML string

var consoleTmpl = template.Must(template.New("console").Parse(consoleHTML))

// Console serves the staff console page.
func Console(c echo.Context) error {
	nonce := web.Nonce()
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+
		"'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return consoleTmpl.Execute(c.Response(), nonce)
}
