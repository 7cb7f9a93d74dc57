package demo_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"

	"example.com/acs/demo"
	"example.com/acs/server"
)

// Hostile or mistaken input to the demo shop gets a clear answer, never a 500. (The happy paths run in
// a real browser: cmd/acs/e2e_test.go.)
func TestHostileInput(t *testing.T) {
	e := server.New(server.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	demo.New(demo.Deps{PublicURL: "http://127.0.0.1:1", PhoneState: filepath.Join(t.TempDir(), "none.json"), Clock: clockwork.NewFakeClock()}).
		Routes(e.Group("/demo"))
	do := func(method, path string, form url.Values, body string) *httptest.ResponseRecorder {
		var req *http.Request
		switch {
		case form != nil:
			req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			req = httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	if r := do("GET", "/demo", nil, ""); r.Code != 200 || !strings.Contains(r.Header().Get("Content-Security-Policy"), "script-src 'nonce-") ||
		!strings.Contains(r.Body.String(), "4000110000000017") {
		t.Fatalf("checkout: %d", r.Code)
	}
	for _, f := range []url.Values{
		{"card": {"4000110000000017"}, "merchant": {"M-000123"}, "amount": {"abc"}},
		{"card": {"4000110000000017"}, "merchant": {"M-000123"}, "amount": {"-5"}},
		{"card": {"9999"}, "merchant": {"M-000123"}, "amount": {"5"}},
		{"card": {"4000110000000017"}, "merchant": {"<script>"}, "amount": {"5"}},
	} {
		if r := do("POST", "/demo/pay", f, ""); r.Code != http.StatusUnprocessableEntity || strings.Contains(r.Body.String(), "<script>") {
			t.Errorf("pay %v: %d", f, r.Code)
		}
	}
	if r := do("POST", "/demo/notify", url.Values{"cres": {"!!"}}, ""); r.Code != 400 {
		t.Errorf("bad cres: %d", r.Code)
	}
	if r := do("POST", "/demo/rreq", nil, "not json"); r.Code != 200 || !strings.Contains(r.Body.String(), `"messageType":"Erro"`) {
		t.Errorf("bad rreq: %d %s", r.Code, r.Body)
	}
	if r := do("GET", "/demo/order/nope", nil, ""); r.Code != 404 {
		t.Errorf("unknown order: %d", r.Code)
	}
	if r := do("GET", "/demo/phone", nil, ""); r.Code != 404 || !strings.Contains(r.Body.String(), "acs demo seed") {
		t.Errorf("phone without its file: %d %s", r.Code, r.Body)
	}
	if r := do("POST", "/demo/phone/answer", url.Values{"id": {"x"}}, ""); r.Code >= 500 {
		t.Errorf("answer: %d", r.Code)
	}
}
