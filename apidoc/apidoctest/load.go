// Package apidoctest keeps the published API documents (package apidoc) true to the handlers, in tests:
// Load validates a document as OpenAPI 3 with kin-openapi, CheckRoutes compares its paths and methods
// with the routes an Echo instance serves (a route added without its documentation fails the suite),
// and Validator checks every request and response of a package's tests against it (openapi3filter).
package apidoctest

import (
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"example.com/acs/apidoc"
)

// Load parses document name and validates it as OpenAPI 3 (references resolved, schemas well formed,
// examples matching their schemas).
func Load(name string) (*openapi3.T, error) {
	raw, err := apidoc.Raw(name)
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("apidoc: %s: %w", name, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("apidoc: %s: %w", name, err)
	}
	return doc, nil
}

// MustLoad is Load for documents the tests have proved valid; it panics on an error.
func MustLoad(name string) *openapi3.T {
	doc, err := Load(name)
	if err != nil {
		panic(err)
	}
	return doc
}

// Prefix returns the path the document's API is mounted at: its first server's URL (/app/v1).
func Prefix(doc *openapi3.T) string {
	if len(doc.Servers) == 0 {
		return ""
	}
	return strings.TrimSuffix(doc.Servers[0].URL, "/")
}
