// Package web holds the small pieces the server-rendered pages (portal, challenge pages) share: the
// choice of page language and the per-response nonce their Content-Security-Policy names.
package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// Lang picks German or English: an explicit ?lang= first, then the browser's Accept-Language, then
// fallback (for example the browserLanguage an AReq reported), and German, the bank's language, last.
func Lang(r *http.Request, fallback string) string {
	if q := r.URL.Query().Get("lang"); q == "en" || q == "de" {
		return q
	}
	tags := strings.Split(r.Header.Get("Accept-Language"), ",")
	tags = append(tags, fallback)
	for _, part := range tags {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "de"):
			return "de"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "de"
}

// Nonce returns 128 random bits in base64url: no "+" or "/", so templates leave it as it is.
func Nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
