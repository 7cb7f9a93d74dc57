package apidoctest

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
)

// Template turns an Echo route path below prefix into the document's path template:
// /support/v1/cards/:id/sms/:sms/abuse becomes /cards/{id}/sms/{sms}/abuse. A catch-all * becomes
// {*}, which no document uses, so that such a route is reported rather than silently matched.
func Template(prefix, path string) string {
	p := strings.TrimPrefix(path, prefix)
	parts := strings.Split(p, "/")
	for i, s := range parts {
		switch {
		case strings.HasPrefix(s, ":"):
			parts[i] = "{" + s[1:] + "}"
		case s == "*":
			parts[i] = "{*}"
		}
	}
	return strings.Join(parts, "/")
}

// CheckRoutes compares the routes e serves below prefix with the operations doc documents, and
// fails naming every route that is served but not documented, and every documented operation that is
// not served. The document's server URL must be prefix. Echo's stand-ins for unmatched paths of a
// group with middleware (method echo.RouteNotFound) are not routes.
func CheckRoutes(e *echo.Echo, prefix string, doc *openapi3.T) error {
	prefix = strings.TrimSuffix(prefix, "/")
	var problems []string
	if got := Prefix(doc); got != prefix {
		problems = append(problems, fmt.Sprintf("the document's server URL is %q, the API is mounted at %q", got, prefix))
	}
	served := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || (r.Path != prefix && !strings.HasPrefix(r.Path, prefix+"/")) {
			continue
		}
		served[r.Method+" "+Template(prefix, r.Path)] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	var undocumented, missing []string
	for r := range served {
		if !documented[r] {
			undocumented = append(undocumented, r)
		}
	}
	for r := range documented {
		if !served[r] {
			missing = append(missing, r)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(missing)
	for _, r := range undocumented {
		problems = append(problems, "served but not documented: "+r)
	}
	for _, r := range missing {
		problems = append(problems, "documented but not served: "+r)
	}
	if len(problems) > 0 {
		return errors.New("apidoc: " + prefix + ": " + strings.Join(problems, "; "))
	}
	return nil
}
