package server_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"example.com/acs/server"
)

// Issue 18: a browser that meets an error gets a page in its language with the request id, never JSON
// or an internal message; an API client still gets the JSON.
func TestBrowsersGetAnErrorPage(t *testing.T) {
	logs := &bytes.Buffer{}
	e := server.New(server.Deps{Log: quietLog(logs)})
	e.POST("/portal/boom", func(echo.Context) error {
		return errors.New(`ERROR: relation "issuer_cards" does not exist (SQLSTATE 42P01)`)
	})
	for _, tc := range []struct{ path, lang, want string }{
		{"/portal/boom", "de-DE,de;q=0.9", "Ein Fehler ist bei uns aufgetreten"},
		{"/portal/boom?lang=en", "de", "Something went wrong on our side"},
		{"/portal/no-such-step", "de", "Diese Seite gibt es nicht"},
	} {
		req := httptest.NewRequest(http.MethodPost, tc.path, nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		req.Header.Set("Accept-Language", tc.lang)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		body := rec.Body.String()
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(body, tc.want) ||
			!strings.Contains(body, `<html lang="`) || !strings.Contains(body, rec.Header().Get(echo.HeaderXRequestID)) {
			t.Fatalf("%s: %d %s %s", tc.path, rec.Code, rec.Header(), body)
		}
		for _, internal := range []string{"SQLSTATE", "internal error", "http_404", "{"} {
			if strings.Contains(body, internal) {
				t.Errorf("%s: the page shows %q", tc.path, internal)
			}
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/portal/boom", nil)
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("the portal's error page may be framed: %s", rec.Header().Get("Content-Security-Policy"))
	}
	req = httptest.NewRequest(http.MethodPost, "/portal/boom", nil)
	req.Header.Set("Accept", "application/json")
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || rec.Code != 500 {
		t.Fatalf("API client: %d %s", rec.Code, rec.Header())
	}
}
