package acs_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"example.com/acs/dslink"
	"example.com/acs/internal/devpki"
)

// newMTLSFlowFixture is a flow fixture whose simulator plays the DS on a TLS listener that requires a
// client certificate from the development DS CA, and whose ACS presents the certificate of its HSM key.
func newMTLSFlowFixture(t *testing.T) *flowFixture {
	t.Helper()
	dir := t.TempDir()
	var files devpki.Files
	cfx := newChallengeFixtureLink(t, func(fx *challengeFixture) *dslink.Link {
		f, _, err := devpki.Ensure(dir, fx.HSM.DSClientSigner(), fx.HSM.Signer(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		files = f
		roots, err := dslink.LoadRoots(f.CA)
		if err != nil {
			t.Fatal(err)
		}
		client, err := dslink.ClientCertificate(f.ACSClient, fx.HSM.DSClientSigner())
		if err != nil {
			t.Fatal(err)
		}
		hosts := []string{"127.0.0.1:*"}
		l, err := dslink.New(dslink.Config{Roots: roots, Client: client, DSs: []dslink.DS{{Scheme: "visa", Hosts: hosts},
			{Scheme: "mastercard", Hosts: hosts}}})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
	fx := newFlowFixtureOn(t, cfx)
	cert, err := files.DSServer()
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := files.Roots()
	if err := fx.sim.ServeDS(cert, roots); err != nil {
		t.Fatal(err)
	}
	return fx
}

// 2.3.1 5.5.2.2, 6.1.3.2: the RReq goes to the DS named by the AReq's dsURL, over mutual TLS with the ACS
// as client, its private key in the HSM, the DS's certificate checked against the DS CA.
func TestRReqToTheDSOverMutualTLS(t *testing.T) {
	fx := newMTLSFlowFixture(t)
	ares, page, code := fx.challenge(t, nil, "de")
	done, _ := page.Submit("verify", map[string]string{"mtan": code, "answer": "Kiel"})
	cres, rreqs := fx.final(t, ares, done)
	if cres["transStatus"] != "Y" || len(rreqs) != 1 || rreqs[0].ClientCert != "dev ACS (DS client)" {
		t.Fatalf("RReq over mutual TLS: %v %+v", cres, rreqs)
	}
	if p := fx.sim.Problems(); len(p) != 0 {
		t.Fatalf("messages that fail the emv tables: %v", p)
	}
}

// An ACS without the client certificate cannot deliver to the DS: the handshake fails, the RReq stays
// queued for a retry (nothing is sent in clear instead).
func TestRReqWithoutClientCertificateIsRefusedByTheDS(t *testing.T) {
	dir := t.TempDir()
	var files devpki.Files
	cfx := newChallengeFixtureLink(t, func(fx *challengeFixture) *dslink.Link {
		files, _, _ = devpki.Ensure(dir, fx.HSM.DSClientSigner(), fx.HSM.Signer(), time.Now())
		roots, _ := dslink.LoadRoots(files.CA)
		l, _ := dslink.New(dslink.Config{Roots: roots, DSs: []dslink.DS{{Scheme: "visa", Hosts: []string{"127.0.0.1:*"}}}})
		return l
	})
	fx := newFlowFixtureOn(t, cfx)
	cert, _ := files.DSServer()
	roots, _ := files.Roots()
	if err := fx.sim.ServeDS(cert, roots); err != nil {
		t.Fatal(err)
	}
	ares, page, code := fx.challenge(t, nil, "de")
	done, _ := page.Submit("verify", map[string]string{"mtan": code, "answer": "Kiel"})
	if _, ok, _ := done.Final(); !ok {
		t.Fatal("the cardholder's page does not wait for the DS")
	}
	if n := len(fx.sim.RReqs(ares["threeDSServerTransID"].(string))); n != 0 {
		t.Fatalf("%d RReqs reached the DS without a client certificate", n)
	}
}

// No SSRF: an AReq whose dsURL or threeDSServerURL names a host that is not a configured DS never makes
// the ACS connect there; the RReq goes to the scheme's configured DS instead.
func TestAReqCannotSteerTheACS(t *testing.T) {
	rogue, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := rogue.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { rogue.Close() })
	// The simulator plays the one configured DS, on a port fixed in advance: the allow-list names exactly
	// that host and port, as a production one names the schemes' hosts.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simAddr := free.Addr().String()
	free.Close()
	dsURL := "http://" + simAddr + "/rreq"
	var link *dslink.Link
	cfx := newChallengeFixtureLink(t, func(*challengeFixture) *dslink.Link {
		l, err := dslink.New(dslink.Config{PlainLoopback: true, DSs: []dslink.DS{{Scheme: "visa", URL: dsURL}}})
		if err != nil {
			t.Fatal(err)
		}
		link = l
		return l
	})
	fx := newFlowFixtureAt(t, cfx, simAddr)
	roguePath := "http://" + rogue.Addr().String() + "/rreq"
	for _, u := range []string{roguePath, "http://[::1]:1/", "file:///etc/passwd", "http://user:pw@" + simAddr + "/rreq",
		"https://" + simAddr + ".evil.example/rreq"} {
		if link.Allowed(u) {
			t.Errorf("%s allowed", u)
		}
	}
	if _, err := link.Post(t.Context(), roguePath, []byte("{}"), nil); !errors.Is(err, dslink.ErrNotAllowed) {
		t.Fatalf("post to a host that is no DS: %v", err)
	}
	ares, page, code := fx.challenge(t, map[string]any{"dsURL": roguePath, "threeDSServerURL": roguePath}, "de")
	done, _ := page.Submit("verify", map[string]string{"mtan": code, "answer": "Kiel"})
	if _, rreqs := fx.final(t, ares, done); len(rreqs) != 1 {
		t.Fatalf("the configured DS got %d RReqs", len(rreqs))
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the ACS connected to the host the AReq named %d times", n)
	}
}

// Issue 13: the step that ends a challenge queues its RReq claimed by its own process and sends it before
// the final CRes page (2.3.1 5.8.2), without a statement to claim it: the DS has it once when the page
// is shown, the row is delivered with one attempt, and a delivery pass run afterwards (every process
// runs one each second) finds nothing to send, neither at once nor after the claim's lease.
func TestTheStepDeliversItsClaimedRReqOnce(t *testing.T) {
	fx := newFlowFixture(t)
	ctx := context.Background()
	ares, page, code := fx.challenge(t, nil, "de")
	done, err := page.Submit("verify", map[string]string{"mtan": code, "answer": "Kiel"})
	if err != nil {
		t.Fatal(err)
	}
	id := ares["threeDSServerTransID"].(string)
	if n := len(fx.sim.RReqs(id)); n != 1 {
		t.Fatalf("%d RReqs at the final page, want 1", n)
	}
	var state string
	var attempts int
	if err := fx.Pool.QueryRow(ctx, `SELECT state, attempts FROM acs_results WHERE acs_trans_id = $1`, ares["acsTransID"]).
		Scan(&state, &attempts); err != nil || state != "delivered" || attempts != 1 {
		t.Fatalf("acs_results: %s, %d attempts, %v", state, attempts, err)
	}
	for _, wait := range []time.Duration{0, time.Minute} {
		fx.Clock.Advance(wait)
		if n, err := fx.results.DeliverDue(ctx); n != 0 || err != nil {
			t.Fatalf("after %v a delivery pass sent %d (%v)", wait, n, err)
		}
	}
	if cres, rreqs := fx.final(t, ares, done); cres["transStatus"] != "Y" || len(rreqs) != 1 {
		t.Fatalf("final CRes %v, %d RReqs", cres["transStatus"], len(rreqs))
	}
}
