package apidoctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
)

// TB is the part of testing.TB the Validator reports to.
type TB interface {
	Errorf(format string, args ...any)
}

// uuidPattern is the canonical text form of a UUID, in either case: what format uuid means in these
// documents (kin-openapi knows no uuid format of its own).
const uuidPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// Options are the openapi3filter options the Validator checks with. The handlers check credentials
// themselves (a request without them must get their 401, not the filter's), so the filter accepts any;
// defaults are never written into a request (an app request's body is signed); a response status that
// the document does not list is a violation.
func Options() *openapi3filter.Options {
	o := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults:   true,
		IncludeResponseStatus: true,
		MultiError:            true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(uuidPattern)),
		},
	}
	// The pointer and the reason, and for allOf, anyOf and oneOf what did not match within them; not
	// kin-openapi's dump of the whole schema.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		msg := err.Reason
		if p := err.JSONPointer(); len(p) > 0 {
			msg = "/" + strings.Join(p, "/") + ": " + msg
		}
		switch {
		case err.Origin == nil:
		case err.SchemaField == "allOf" || err.SchemaField == "oneOf" || err.SchemaField == "not":
			msg += " (" + err.Origin.Error() + ")"
		case err.Reason == "":
			msg += err.Origin.Error()
		}
		return msg
	})
	return o
}

// Validator returns Echo middleware that checks every request below the document's server URL, and the
// response it got, against doc, and reports each violation to t (t.Errorf, so the test fails) naming
// the method, path, status and what does not match:
//
//   - a request served by a route the document lacks, or a documented operation the server did not
//     route (answered 404 or 405);
//   - a request the document refuses (body, path or query parameters) that the server accepted with a
//     2xx or 3xx: the document is stricter than the handler. Tests send malformed requests on purpose;
//     those the server refuses with a 4xx are as documented. A request the document accepts may still
//     be refused (a wrong PIN is a 400);
//   - a response whose status the operation does not list, or whose body does not match its schema.
//
// It works wherever it is in the chain (e.Use after server.New, or e.Pre): a handler's error is turned
// into its response here, through the Echo instance's error handler, so that the response checked is
// the one the client gets. Mount it in tests only.
func Validator(t TB, doc *openapi3.T) echo.MiddlewareFunc {
	prefix := Prefix(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Errorf("apidoc: router for %s: %v", prefix, err)
	}
	opts := Options()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if prefix == "" || (req.URL.Path != prefix && !strings.HasPrefix(req.URL.Path, prefix+"/")) {
				return next(c)
			}
			var body []byte
			if req.Body != nil && req.Body != http.NoBody {
				var rerr error
				body, rerr = io.ReadAll(req.Body)
				if rerr != nil {
					// The body limit ended it: the handler gets the same error; there is nothing to check.
					req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
					return next(c)
				}
				req.Body = io.NopCloser(bytes.NewReader(body))
			}
			// The request as it came, for the check after the handler has read (and maybe changed) it.
			sent := req.Clone(context.Background())

			w := &capture{ResponseWriter: c.Response().Writer}
			c.Response().Writer = w
			if err := next(c); err != nil {
				c.Error(err)
			}
			c.Response().Writer = w.ResponseWriter

			status := c.Response().Status
			where := fmt.Sprintf("%s %s -> %d", sent.Method, sent.URL.Path, status)
			if v := check(c, doc, router, opts, prefix, sent, body, status, c.Response().Header(), w.buf.Bytes()); v != "" {
				t.Errorf("apidoc: %s: %s", where, v)
			}
			return nil
		}
	}
}

// check returns what in the exchange violates doc, or "".
func check(c echo.Context, doc *openapi3.T, router routers.Router, opts *openapi3filter.Options, prefix string,
	req *http.Request, body []byte, status int, header http.Header, respBody []byte) string {
	route, params := servedRoute(c, doc, prefix, req.Method)
	if route == nil {
		if c.Path() != "" && servedBy(c, req.Method) {
			return fmt.Sprintf("served by the route %s %s, which the document does not have", req.Method, Template(prefix, c.Path()))
		}
		if router != nil {
			if r, _, err := router.FindRoute(req); err == nil {
				return fmt.Sprintf("the document has %s %s, the server has no such route", r.Method, r.Path)
			}
		}
		return "" // neither has it: a test of an unknown route
	}
	if len(doc.Servers) > 0 {
		route.Server = doc.Servers[0]
	}
	ctx := context.Background()
	req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && status < 400 {
		return fmt.Sprintf("the document refuses the request, the server accepted it: %v", err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Sprintf("the response does not match the document: %v; body: %s", err, clip(respBody))
	}
	return ""
}

// servedRoute returns the document's operation for the route Echo served the request with, and the
// route's path parameters; nil when Echo served no route of its own (unknown path, wrong method) or
// the document lacks it.
func servedRoute(c echo.Context, doc *openapi3.T, prefix, method string) (*routers.Route, map[string]string) {
	if c.Path() == "" || !servedBy(c, method) {
		return nil, nil
	}
	tpl := Template(prefix, c.Path())
	item := doc.Paths.Value(tpl)
	if item == nil {
		return nil, nil
	}
	op := item.GetOperation(method)
	if op == nil {
		return nil, nil
	}
	params := map[string]string{}
	for i, name := range c.ParamNames() {
		if i < len(c.ParamValues()) {
			params[name] = c.ParamValues()[i]
		}
	}
	return &routers.Route{Spec: doc, Path: tpl, PathItem: item, Method: method, Operation: op}, params
}

// servedBy reports whether c's route is one the Echo instance registered for method, not its stand-in
// for unknown paths or methods.
func servedBy(c echo.Context, method string) bool {
	for _, r := range c.Echo().Routes() {
		if r.Method == method && r.Path == c.Path() {
			return true
		}
	}
	return false
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// capture keeps a copy of the response body on its way to the client.
type capture struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *capture) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *capture) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *capture) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
