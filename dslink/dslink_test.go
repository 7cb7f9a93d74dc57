package dslink_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/acs/dslink"
)

func link(t *testing.T, plain bool, dss ...dslink.DS) *dslink.Link {
	t.Helper()
	l, err := dslink.New(dslink.Config{PlainLoopback: plain, DSs: dss})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The RReq goes to the AReq's dsURL only when it names a host of the card scheme's own DS; otherwise to
// that DS's configured URL. Another scheme's DS is not the card's (a Mastercard result never goes to
// Visa), and nothing else is ever a target.
func TestTargetIsTheSchemesDS(t *testing.T) {
	l := link(t, false, dslink.DS{Scheme: "visa", URL: "https://ds.visa.example/rreq", Hosts: []string{"ds2.visa.example:8443"}},
		dslink.DS{Scheme: "mastercard", URL: "https://ds.mc.example/rreq"})
	for _, tc := range []struct{ scheme, dsURL, want string }{
		{"visa", "https://ds2.visa.example:8443/results", "https://ds2.visa.example:8443/results"},
		{"visa", "https://ds.visa.example/other", "https://ds.visa.example/other"},
		{"mastercard", "https://ds.visa.example/rreq", "https://ds.mc.example/rreq"},
		{"visa", "https://evil.example/rreq", "https://ds.visa.example/rreq"},
		{"visa", "http://ds.visa.example/rreq", "https://ds.visa.example/rreq"}, // plain http: never off loopback
		{"visa", "https://ds2.visa.example:9443/rreq", "https://ds.visa.example/rreq"},
		{"visa", "", "https://ds.visa.example/rreq"},
	} {
		got, err := l.Target(tc.scheme, tc.dsURL)
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %q %v, want %q", tc.scheme, tc.dsURL, got, err, tc.want)
		}
	}
	if _, err := l.Target("amex", "https://ds.visa.example/rreq"); !errors.Is(err, dslink.ErrNotAllowed) {
		t.Errorf("a scheme without a DS: %v", err)
	}
}

// URL tricks do not widen the allow-list.
func TestAllowedRefusesTricks(t *testing.T) {
	l := link(t, true, dslink.DS{Scheme: "visa", URL: "https://ds.visa.example/rreq", Hosts: []string{"127.0.0.1:9000"}})
	for _, u := range []string{"https://ds.visa.example.evil.example/", "https://evil.example#@ds.visa.example/",
		"https://user@ds.visa.example/", "https://ds.visa.example:8443/", "ftp://ds.visa.example/", "//ds.visa.example/",
		"http://ds.visa.example/", "http://127.0.0.1:9001/", "https://[::ffff:127.0.0.1]:9000/", "https://127.0.0.1.nip.io:9000/"} {
		if l.Allowed(u) {
			t.Errorf("%s allowed", u)
		}
	}
	for _, u := range []string{"https://ds.visa.example/rreq", "https://DS.VISA.EXAMPLE:443/x", "http://127.0.0.1:9000/rreq"} {
		if !l.Allowed(u) {
			t.Errorf("%s refused", u)
		}
	}
}

// A configured URL the link could never call is refused at start-up, not at the first RReq.
func TestNewRefusesUncallableURL(t *testing.T) {
	if _, err := dslink.New(dslink.Config{DSs: []dslink.DS{{Scheme: "visa", URL: "http://ds.visa.example/rreq"}}}); err == nil {
		t.Fatal("plain http to a remote DS accepted")
	}
}

// Redirects are not followed: a DS's redirect cannot lead the ACS off the allow-list.
func TestPostFollowsNoRedirect(t *testing.T) {
	var hit bool
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer other.Close()
	ds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	}))
	defer ds.Close()
	l := link(t, true, dslink.DS{Scheme: "visa", URL: ds.URL + "/rreq"})
	resp, err := l.Post(context.Background(), ds.URL+"/rreq", []byte("{}"), nil)
	if err != nil || resp.Status != http.StatusTemporaryRedirect || hit {
		t.Fatalf("redirect: %+v %v, followed %v", resp, err, hit)
	}
}
