package acs

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"testing"
)

// 2.3.1 6.1.3.1: with the DS link's mutual TLS ended in the ACS, an AReq is taken only over a
// connection whose client certificate the server verified, and, where names are configured, only from
// a certificate issued to a DS (the DS CA also certifies 3DS Servers and ACSs).
func TestFromDS(t *testing.T) {
	verified := func(cn string, dns ...string) *tls.ConnectionState {
		leaf := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
		return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}, PeerCertificates: []*x509.Certificate{leaf}}
	}
	for _, tc := range []struct {
		name  string
		names []string
		state *tls.ConnectionState
		want  bool
	}{
		{"plain http", nil, nil, false},
		{"TLS without a certificate", nil, &tls.ConnectionState{}, false},
		{"a certificate given but not verified", nil, &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}, false},
		{"verified, no names configured", nil, verified("any"), true},
		{"verified, the DS's common name", []string{"ds.visa.example"}, verified("ds.visa.example"), true},
		{"verified, the DS's DNS name", []string{"ds.visa.example"}, verified("x", "DS.VISA.EXAMPLE"), true},
		{"verified, a 3DS Server's certificate", []string{"ds.visa.example"}, verified("3ds-server.merchant.example"), false},
	} {
		h := &Handler{d: HandlerDeps{RequireDSCertificate: true, DSCertificateNames: tc.names}}
		r := httptest.NewRequest(http.MethodPost, "/3ds/areq", nil)
		r.TLS = tc.state
		if got := h.fromDS(r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
