package apidoctest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"example.com/acs/apidoc"
	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/appapi"
	"example.com/acs/apperr"
	"example.com/acs/cardmgmt"
	"example.com/acs/cards"
	"example.com/acs/issuerapi"
	"example.com/acs/server"
	"example.com/acs/support"
)

// Every document loads and validates as OpenAPI 3.0.3, and names the prefix its API is mounted at.
func TestDocumentsAreValid(t *testing.T) {
	want := map[string]string{"app": "/app/v1", "support": "/support/v1", "issuer": "/issuer/v1"}
	for _, name := range apidoc.Names {
		doc, err := apidoctest.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if doc.OpenAPI != "3.0.3" || apidoctest.Prefix(doc) != want[name] {
			t.Errorf("%s: openapi %q, server %q", name, doc.OpenAPI, apidoctest.Prefix(doc))
		}
	}
	if _, err := apidoctest.Load("portal"); err == nil {
		t.Error("an unknown document loaded")
	}
}

// apis registers the real route groups on e as the server does (cmd/acs serve). Registering needs no
// dependency; the issuer API's optional routes need their services to be there.
func apis(e *echo.Echo) {
	appapi.New(appapi.Deps{}).Routes(e.Group("/app/v1"))
	support.New(support.Deps{}).Routes(e.Group("/support/v1"))
	issuerapi.New(issuerapi.Deps{CardChanges: cardmgmt.New(cardmgmt.Deps{}), Cards: &cards.Directory{}}).Routes(e.Group("/issuer/v1"))
}

// Issue 16: every route of the three APIs is documented, and every documented operation is served. A
// route added without its documentation fails here.
func TestEveryRouteIsDocumented(t *testing.T) {
	e := echo.New()
	apis(e)
	for _, name := range apidoc.Names {
		doc := apidoctest.MustLoad(name)
		if err := apidoctest.CheckRoutes(e, apidoctest.Prefix(doc), doc); err != nil {
			t.Error(err)
		}
	}
}

// CheckRoutes names a route served without documentation and an operation documented but not served,
// with Echo's :param written as {param}.
func TestCheckRoutesNamesTheDifferences(t *testing.T) {
	e := echo.New()
	apis(e)
	g := e.Group("/support/v1")
	g.POST("/cards/:id/shred", func(echo.Context) error { return nil })
	doc := apidoctest.MustLoad("support")
	err := apidoctest.CheckRoutes(e, "/support/v1", doc)
	if err == nil || !strings.Contains(err.Error(), "served but not documented: POST /cards/{id}/shred") {
		t.Fatalf("an undocumented route: %v", err)
	}
	e = echo.New()
	support.New(support.Deps{}).Routes(e.Group("/support/v1"))
	doc.Paths.Value("/outreach/{kind}").Get = nil
	doc.Paths.Value("/cards/{id}").Post = doc.Paths.Value("/cards/{id}/block").Post
	err = apidoctest.CheckRoutes(e, "/support/v1", doc)
	if err == nil || !strings.Contains(err.Error(), "served but not documented: GET /outreach/{kind}") ||
		!strings.Contains(err.Error(), "documented but not served: POST /cards/{id}") {
		t.Fatalf("differences: %v", err)
	}
	if err := apidoctest.CheckRoutes(e, "/app/v1", apidoctest.MustLoad("support")); err == nil {
		t.Fatal("a document checked against another prefix")
	}
}

// The server serves the documents as YAML, byte for byte, and as JSON.
func TestServed(t *testing.T) {
	e := echo.New()
	apidoc.Routes(e.Group("/api-docs"))
	for _, name := range apidoc.Names {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/api-docs/"+name+".yaml", nil))
		raw, _ := apidoc.Raw(name)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), apidoc.MIMEYAML) || !bytes.Equal(rec.Body.Bytes(), raw) {
			t.Errorf("%s.yaml: %d %s", name, rec.Code, rec.Header().Get("Content-Type"))
		}
		rec = httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/api-docs/"+name+".json", nil))
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 || doc["openapi"] != "3.0.3" || doc["paths"] == nil {
			t.Errorf("%s.json: %d %v", name, rec.Code, err)
		}
	}
}

// recorder is a TB that keeps what it is told.
type recorder struct {
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.errs
	r.errs = nil
	return out
}

// The Validator reports a response that does not match its schema, a status the operation does not
// list, a request the document refuses but the server accepted, and a route the document lacks; it
// lets pass what matches, and malformed requests the server refuses. A handler's error is checked as
// the response the server's error handler makes of it.
func TestValidatorReportsViolations(t *testing.T) {
	rec := &recorder{}
	e := server.New(server.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.Use(apidoctest.Validator(rec, apidoctest.MustLoad("app")))
	g := e.Group("/app/v1")
	var answer func(c echo.Context) error
	g.POST("/security-level", func(c echo.Context) error { return answer(c) })
	g.POST("/undocumented", func(c echo.Context) error { return c.NoContent(204) })
	send := func(path, body string) int {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		return w.Code
	}
	good := `{"card_id":"0b7f5c2e-0000-4000-8000-000000000000","security_level":"adaptive","pin":"4821"}`
	for _, tc := range []struct {
		name, path, body string
		answer           func(c echo.Context) error
		want             string // in the report; "" for none
	}{
		{"as documented", "/app/v1/security-level", good, func(c echo.Context) error {
			return c.JSON(200, map[string]any{"security_level": "adaptive", "changed": true})
		}, ""},
		{"an error as documented", "/app/v1/security-level", good, func(c echo.Context) error {
			return apperr.Field("pin", "the PIN is not correct")
		}, ""},
		{"a malformed request refused", "/app/v1/security-level", `{"card_id":"x"}`, func(c echo.Context) error {
			return apperr.Field("card_id", "has the wrong type")
		}, ""},
		{"a field of the wrong type", "/app/v1/security-level", good, func(c echo.Context) error {
			return c.JSON(200, map[string]any{"security_level": "adaptive", "changed": "yes"})
		}, "/changed"},
		{"a status not listed", "/app/v1/security-level", good, func(c echo.Context) error {
			return apperr.New(apperr.Conflict, "no")
		}, "-> 409: the response does not match the document: status is not supported"},
		{"an error of another kind than its status says", "/app/v1/security-level", good, func(c echo.Context) error {
			return c.JSON(400, map[string]any{"error": "not_found", "message": "x"})
		}, "/error"},
		{"a refused request accepted", "/app/v1/security-level", `{"card_id":"0b7f5c2e-0000-4000-8000-000000000000","security_level":"paranoid","pin":"4821"}`,
			func(c echo.Context) error {
				return c.JSON(200, map[string]any{"security_level": "paranoid", "changed": true})
			}, "the document refuses the request, the server accepted it"},
		{"an undocumented route", "/app/v1/undocumented", `{}`, nil, "served by the route POST /undocumented, which the document does not have"},
		{"a documented route not served", "/app/v1/whitelist", `{"card_id":"0b7f5c2e-0000-4000-8000-000000000000"}`, nil,
			"the document has POST /whitelist, the server has no such route"},
		{"an unknown route of neither", "/app/v1/nothing", `{}`, nil, ""},
	} {
		answer = tc.answer
		code := send(tc.path, tc.body)
		errs := rec.take()
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s (%d): reported %v", tc.name, code, errs)
		case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0], tc.want) || !strings.Contains(errs[0], "POST "+tc.path)):
			t.Errorf("%s (%d): reported %v, want %q", tc.name, code, errs, tc.want)
		}
	}
	// The handler reads the body the Validator read, unchanged.
	var got []byte
	answer = func(c echo.Context) error {
		got, _ = io.ReadAll(c.Request().Body)
		return c.JSON(200, map[string]any{"security_level": "adaptive", "changed": false})
	}
	if send("/app/v1/security-level", good); string(got) != good {
		t.Fatalf("the handler read %q", got)
	}
	if errs := rec.take(); len(errs) > 0 {
		t.Fatal(errs)
	}
}
