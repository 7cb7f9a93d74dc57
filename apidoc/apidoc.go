// Package apidoc owns the published contracts of the ACS's JSON APIs (issue 16): the OpenAPI 3.0.3
// documents of the app API (/app/v1, package appapi), the support API (/support/v1, package support)
// and the issuer API (/issuer/v1, package issuerapi), embedded in the binary and served at
// /api-docs/{app,support,issuer}.{yaml,json}. What keeps the documents true to the handlers is in
// apidoctest, for tests only (it links kin-openapi, which the service does not need).
//
// The handlers are the truth: a document describes what they accept and answer, status by status,
// with the one error shape of package server (errorBody) and the kind each status carries.
package apidoc

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

//go:embed app.yaml support.yaml issuer.yaml
var files embed.FS

// Names are the documents, each named after its API.
var Names = []string{"app", "support", "issuer"}

// Raw returns the YAML text of document name as it is served.
func Raw(name string) ([]byte, error) {
	if !known(name) {
		return nil, fmt.Errorf("apidoc: no document %q", name)
	}
	return files.ReadFile(name + ".yaml")
}

func known(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

// MIMEYAML is the content type the YAML documents are served with (RFC 9512).
const MIMEYAML = "application/yaml"

// Routes mounts GET /{name}.yaml and /{name}.json for every document on g (the server mounts it at
// /api-docs). The JSON form is made here, once, from the YAML; it panics if an embedded document does
// not parse, which apidoctest's tests rule out.
func Routes(g *echo.Group) {
	for _, name := range Names {
		raw, err := Raw(name)
		if err != nil {
			panic(err)
		}
		var tree any
		if err := yaml.Unmarshal(raw, &tree); err != nil {
			panic(fmt.Errorf("apidoc: %s: %w", name, err))
		}
		js, err := json.Marshal(tree)
		if err != nil {
			panic(fmt.Errorf("apidoc: %s as JSON: %w", name, err))
		}
		g.GET("/"+name+".yaml", func(c echo.Context) error {
			return c.Blob(http.StatusOK, MIMEYAML+"; charset=utf-8", raw)
		})
		g.GET("/"+name+".json", func(c echo.Context) error {
			return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, js)
		})
	}
}
