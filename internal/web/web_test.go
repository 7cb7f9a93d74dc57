package web

import (
	"net/http/httptest"
	"testing"
)

func TestLang(t *testing.T) {
	for _, tc := range []struct{ query, header, fallback, want string }{
		{"", "", "", "de"},
		{"", "en-GB,en;q=0.9", "", "en"},
		{"", "fr-FR, en;q=0.5", "", "en"},
		{"", "fr-FR", "en-US", "en"},
		{"", "", "de-AT", "de"},
		{"lang=en", "de-DE", "", "en"},
		{"lang=xx", "en", "", "en"},
	} {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.header != "" {
			r.Header.Set("Accept-Language", tc.header)
		}
		if got := Lang(r, tc.fallback); got != tc.want {
			t.Errorf("%+v: %s", tc, got)
		}
	}
	if a, b := Nonce(), Nonce(); a == b || len(a) != 22 {
		t.Fatalf("nonces %q %q", a, b)
	}
}
