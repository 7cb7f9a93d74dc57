package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
	"example.com/acs/hsm"
	"example.com/acs/internal/devpki"
	"example.com/acs/internal/testenv"
	"example.com/acs/server"
)

func get(t *testing.T, h http.Handler, target string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec, body
}

func quietLog(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestHealthAndReadiness(t *testing.T) {
	pool := testenv.DB(t)
	h := testenv.HSM(t)
	e := server.New(server.Deps{Log: quietLog(&bytes.Buffer{}), Checks: map[string]server.Checker{"database": pool, "hsm": h}})
	if rec, body := get(t, e, "/healthz"); rec.Code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", rec.Code, body)
	}
	rec, body := get(t, e, "/readyz")
	if rec.Code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz: %d %v", rec.Code, body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("X-Request-Id") == "" {
		t.Fatalf("headers: %v", rec.Header())
	}
}

// R-KEY-1: with the HSM gone, readiness is 503 and names the HSM; the process keeps running.
func TestReadyzWhenTokenRemoved(t *testing.T) {
	if !testenv.InChild(t) {
		return
	}
	cfg, remove := testenv.RemovableToken(t)
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	pool := testenv.DB(t)
	e := server.New(server.Deps{Log: quietLog(&bytes.Buffer{}), Checks: map[string]server.Checker{"database": pool, "hsm": h}})
	if rec, _ := get(t, e, "/readyz"); rec.Code != 200 {
		t.Fatalf("before removal: %d", rec.Code)
	}
	remove()
	rec, body := get(t, e, "/readyz")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("after removal: %d %v", rec.Code, body)
	}
	checks := body["checks"].(map[string]any)
	if checks["hsm"] != "unavailable" || checks["database"] != "ok" {
		t.Fatalf("checks: %v", checks)
	}
}

type failing struct{}

func (failing) Ping(context.Context) error { return errors.New("down") }

func TestErrorHandlerLeaksNothing(t *testing.T) {
	logs := &bytes.Buffer{}
	e := server.New(server.Deps{Log: quietLog(logs), Checks: map[string]server.Checker{"database": failing{}}})
	e.GET("/invalid", func(echo.Context) error { return apperr.Field("acctNumber", "fails the Luhn check") })
	e.GET("/locked", func(echo.Context) error { return apperr.New(apperr.Locked, "registration locked") })
	e.GET("/boom", func(echo.Context) error {
		return errors.New(`ERROR: relation "issuer_cards" does not exist (SQLSTATE 42P01)`)
	})
	e.GET("/panic", func(echo.Context) error { panic("nil map") })

	if rec, body := get(t, e, "/readyz"); rec.Code != 503 || body["status"] != "unavailable" {
		t.Fatalf("readyz with a failing check: %d %v", rec.Code, body)
	}
	rec, body := get(t, e, "/invalid")
	if rec.Code != 400 || body["fields"].(map[string]any)["acctNumber"] != "fails the Luhn check" {
		t.Fatalf("invalid: %d %v", rec.Code, body)
	}
	if rec, _ := get(t, e, "/locked"); rec.Code != http.StatusLocked {
		t.Fatalf("locked: %d", rec.Code)
	}
	for _, path := range []string{"/boom", "/panic"} {
		rec, body = get(t, e, path)
		if rec.Code != 500 || body["message"] != "internal error" || body["request_id"] == "" {
			t.Fatalf("%s: %d %v", path, rec.Code, body)
		}
		if strings.Contains(rec.Body.String(), "SQLSTATE") || strings.Contains(rec.Body.String(), "nil map") {
			t.Fatalf("%s: internals in the response: %s", path, rec.Body)
		}
	}
	if rec, body := get(t, e, "/no/such/4000110000000017"); rec.Code != 404 || body["error"] != "http_404" {
		t.Fatalf("unknown route: %d %v", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/healthz", strings.NewReader(strings.Repeat("x", 70<<10))))
	if rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("oversized body: %d", rec.Code)
	}
	// Neither the access log nor the metrics keep a path a client made up.
	rec, _ = get(t, e, "/metrics")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `url="unmatched"`) {
		t.Fatalf("metrics: %d", rec.Code)
	}
	for where, text := range map[string]string{"metrics": rec.Body.String(), "logs": logs.String()} {
		if strings.Contains(text, "4000110000000017") {
			t.Errorf("%s hold a card number from a request path", where)
		}
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile
}

// R-KEY-3: TLS 1.2 or newer; and SIGTERM (here: the context) lets the request in flight finish.
func TestRunTLSAndGracefulShutdown(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	e := server.New(server.Deps{Log: quietLog(&bytes.Buffer{}), TLS: true})
	release, started := make(chan struct{}), make(chan struct{})
	e.GET("/slow", func(c echo.Context) error {
		close(started)
		<-release
		return c.String(200, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, e, quietLog(&bytes.Buffer{}), server.Options{
			Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ShutdownTimeout: 5 * time.Second,
			Ready: func(a net.Addr) { addrc <- a },
		})
	}()
	addr := (<-addrc).String()

	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + addr + "/healthz"); err == nil {
		t.Fatal("TLS 1.1 handshake accepted")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS over TLS")
	}

	slow := make(chan string, 1)
	go func() {
		r, err := client.Get("https://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		slow <- string(b)
	}()
	<-started // the request is in flight
	cancel()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if got := <-slow; got != "finished" {
		t.Fatalf("in-flight request: %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// Issue 12: a keep-alive connection idle when SIGTERM comes is not closed under a request the client is
// sending on it (the fault runs saw that request reset); within the grace it is answered, with
// Connection: close. Before, Shutdown closed the idle connection at once and the request failed.
func TestShutdownAnswersOnIdleConnections(t *testing.T) {
	e := server.New(server.Deps{Log: quietLog(&bytes.Buffer{})})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, e, quietLog(&bytes.Buffer{}), server.Options{Listen: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second,
			Ready: func(a net.Addr) { addrc <- a }})
	}()
	addr := (<-addrc).String()
	// One connection, kept alive: the second request can only come over the first one's connection.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	get := func() (*http.Response, error) {
		r, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return r, err
	}
	if _, err := get(); err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(200 * time.Millisecond) // shutting down: the listener is closed, the connection idle
	r, err := get()
	if err != nil {
		t.Fatalf("a request on the idle connection during shutdown: %v", err)
	}
	if r.StatusCode != http.StatusOK || !r.Close {
		t.Fatalf("answer: %d, close %v; want 200 and Connection: close", r.StatusCode, r.Close)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// 2.3.1 6.1.3.1: with a client CA configured, a DS's client certificate issued by that CA is verified;
// a browser that gives none still connects (the AReq handler refuses it, the challenge pages do not).
func TestRunVerifiesClientCertificates(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pki, _, err := devpki.Ensure(dir, key, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := server.New(server.Deps{Log: quietLog(&bytes.Buffer{}), TLS: true})
	e.GET("/who", func(c echo.Context) error {
		if tl := c.Request().TLS; tl != nil && len(tl.VerifiedChains) > 0 {
			return c.String(200, tl.PeerCertificates[0].Subject.CommonName)
		}
		return c.String(200, "nobody")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	go func() {
		_ = server.Run(ctx, e, quietLog(&bytes.Buffer{}), server.Options{Listen: "127.0.0.1:0", CertFile: pki.DS, KeyFile: pki.DSKey,
			ClientCAFile: pki.CA, ShutdownTimeout: time.Second, Ready: func(a net.Addr) { addrc <- a }})
	}()
	addr := (<-addrc).String()
	roots, _ := pki.Roots()
	ds, _ := pki.DSServer() // the development DS certificate serves as a client certificate too
	get := func(certs []tls.Certificate) string {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		r, err := c.Get("https://" + addr + "/who")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	if got := get(nil); got != "nobody" {
		t.Fatalf("without a certificate: %q", got)
	}
	if got := get([]tls.Certificate{ds}); got != "dev Directory Server" {
		t.Fatalf("with the DS's certificate: %q", got)
	}
}

// Issue 12: the access log and /metrics record the status the client got, and a caller's request id is
// kept only when it is a short id.
func TestLogAndMetricsTellTheTruth(t *testing.T) {
	var logs bytes.Buffer
	e := server.New(server.Deps{Log: quietLog(&logs)})
	e.GET("/denied", func(echo.Context) error { return apperr.New(apperr.Unauthorized, "no") })
	for _, id := range []string{"ok-id-1", strings.Repeat("x", 100_000), "bad\x01id"} {
		req := httptest.NewRequest(http.MethodGet, "/denied", nil)
		req.Header.Set("X-Request-ID", id)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", rec.Code)
		}
		got := rec.Header().Get("X-Request-ID")
		if (id == "ok-id-1") != (got == id) || len(got) > 64 || got == "" {
			t.Errorf("request id %q answered as %q", id[:min(len(id), 10)], got[:min(len(got), 10)])
		}
	}
	if !strings.Contains(logs.String(), `"status":401`) || strings.Contains(logs.String(), `"status":200`) {
		t.Fatalf("access log: %s", logs.String())
	}
	if strings.Contains(logs.String(), strings.Repeat("x", 100)) {
		t.Fatal("a caller's long request id reached the log")
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `code="401",host="",method="GET",url="/denied"`) || strings.Contains(rec.Body.String(), `code="500",host="",method="GET",url="/denied"`) {
		t.Fatalf("metrics: %s", rec.Body.String())
	}
}

// Issue 12: while the database or the HSM is away, a request is answered 503 (retry), never 500.
func TestDependencyDownIs503(t *testing.T) {
	e := server.New(server.Deps{Log: quietLog(&bytes.Buffer{})})
	errs := map[string]error{
		"/db-shutdown": &pgconn.PgError{Code: "57P01"},
		"/db-conn":     fmt.Errorf("read: %w", &pgconn.PgError{Code: "08006"}),
		"/hsm":         fmt.Errorf("sign: %w", hsm.ErrUnavailable),
		"/net":         &net.OpError{Op: "dial", Err: errors.New("connection refused")},
	}
	for path, err := range errs {
		e.GET(path, func(echo.Context) error { return err })
	}
	e.GET("/bug", func(echo.Context) error { return errors.New("a bug") })
	for path := range errs {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/bug", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("a bug: %d", rec.Code)
	}
}
