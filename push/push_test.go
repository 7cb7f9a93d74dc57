package push_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/push"
	"example.com/acs/registration"
	"example.com/acs/sms"
)

// fakeFCM checks what Google's OAuth 2.0 token endpoint and FCM's HTTP v1 send endpoint check: the
// JWT bearer grant (RS256 signature with the service account's key, kid, iss, aud the token URL, the
// messaging scope, at most an hour), the access token on every send, the project in the path, a
// message for one token of at most 4096 bytes; a token it knows as gone is answered 404 UNREGISTERED.
type fakeFCM struct {
	t        *testing.T
	srv      *httptest.Server
	pub      *rsa.PublicKey
	keyID    string
	now      func() time.Time
	mu       sync.Mutex
	grants   int
	bodies   [][]byte
	gone     string
	accessed string
}

func newFakeFCM(t *testing.T, pub *rsa.PublicKey, keyID string, now func() time.Time) *fakeFCM {
	f := &fakeFCM{t: t, pub: pub, keyID: keyID, now: now}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /v1/projects/bank-app/messages:send", f.send)
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFCM) token(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	tok, err := jwt.ParseSigned(r.FormValue("assertion"), []jose.SignatureAlgorithm{jose.RS256})
	var c jwt.Claims
	var extra struct {
		Scope string `json:"scope"`
	}
	if err != nil || tok.Headers[0].KeyID != f.keyID || tok.Claims(f.pub, &c, &extra) != nil {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	now := f.now()
	if c.Issuer != "acs@bank-app.iam.gserviceaccount.com" || c.Validate(jwt.Expected{AnyAudience: jwt.Audience{f.srv.URL + "/token"}, Time: now}) != nil ||
		extra.Scope != "https://www.googleapis.com/auth/firebase.messaging" || c.Expiry.Time().Sub(c.IssuedAt.Time()) > time.Hour {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.grants++
	f.accessed = uuid.NewString()
	a := f.accessed
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": a, "expires_in": 3600, "token_type": "Bearer"})
}

func (f *fakeFCM) send(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	want := f.accessed
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+want || want == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var m struct {
		Message struct {
			Token string            `json:"token"`
			Data  map[string]string `json:"data"`
		} `json:"message"`
	}
	if len(body) > 4096 || json.Unmarshal(body, &m) != nil || m.Message.Token == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	if m.Message.Token == f.gone {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":404,"status":"NOT_FOUND","details":[{"errorCode":"UNREGISTERED"}]}}`))
		return
	}
	_, _ = w.Write([]byte(`{"name":"projects/bank-app/messages/1"}`))
}

// fakeAPNs checks what APNs checks: HTTP/2 only, the provider JWT (ES256 with the team key, kid, iss
// the team id, iat not older than an hour), the topic, push type and priority headers, a device token
// of 64 hex digits, a payload of at most 4096 bytes; a token it knows as gone is answered 410.
type fakeAPNs struct {
	srv    *httptest.Server
	pub    *ecdsa.PublicKey
	now    func() time.Time
	mu     sync.Mutex
	bodies [][]byte
	gone   string
}

func newFakeAPNs(t *testing.T, pub *ecdsa.PublicKey, now func() time.Time) *fakeAPNs {
	a := &fakeAPNs{pub: pub, now: now}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.srv.EnableHTTP2 = true
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAPNs) serve(w http.ResponseWriter, r *http.Request) {
	reason := func(status int, why string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"reason": why})
	}
	if r.ProtoMajor != 2 {
		reason(http.StatusBadRequest, "HTTP/2 required")
		return
	}
	tok, err := jwt.ParseSigned(strings.TrimPrefix(r.Header.Get("authorization"), "bearer "), []jose.SignatureAlgorithm{jose.ES256})
	var c jwt.Claims
	if err != nil || tok.Headers[0].KeyID != "KEY123ABCD" || tok.Claims(a.pub, &c) != nil || c.Issuer != "TEAM12345A" ||
		c.IssuedAt == nil || a.now().Sub(c.IssuedAt.Time()) > time.Hour {
		reason(http.StatusForbidden, "InvalidProviderToken")
		return
	}
	token := strings.TrimPrefix(r.URL.Path, "/3/device/")
	if len(token) != 64 || strings.Trim(token, "0123456789abcdef") != "" {
		reason(http.StatusBadRequest, "BadDeviceToken")
		return
	}
	if r.Header.Get("apns-topic") != "de.musterbank.app" || r.Header.Get("apns-push-type") != "alert" || r.Header.Get("apns-priority") != "10" {
		reason(http.StatusBadRequest, "MissingTopic")
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 4096 {
		reason(http.StatusRequestEntityTooLarge, "PayloadTooLarge")
		return
	}
	a.mu.Lock()
	a.bodies = append(a.bodies, body)
	a.mu.Unlock()
	if token == a.gone {
		reason(http.StatusGone, "Unregistered")
		return
	}
	w.Header().Set("apns-id", uuid.NewString())
}

func writeServiceAccount(t *testing.T, key *rsa.PrivateKey, tokenURL string) string {
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "bank-app", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "acs@bank-app.iam.gserviceaccount.com", "token_uri": tokenURL})
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The FCM client against the loopback FCM: it fetches one access token and keeps it, fetches a new
// one after an hour, and reports a token FCM calls unregistered as invalid.
func TestFCMClient(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	clock := func() time.Time { return now }
	f := newFakeFCM(t, &key.PublicKey, "k1", clock)
	c, err := push.LoadFCM(writeServiceAccount(t, key, f.srv.URL+"/token"), f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Client, c.Now = f.srv.Client(), clock
	m := push.Message{ConfirmationID: uuid.New()}
	for range 3 {
		if err := c.Send(context.Background(), "fcm-token-1", m); err != nil {
			t.Fatal(err)
		}
	}
	if f.grants != 1 {
		t.Fatalf("%d access tokens for 3 sends, want 1", f.grants)
	}
	now = now.Add(time.Hour)
	if err := c.Send(context.Background(), "fcm-token-1", m); err != nil || f.grants != 2 {
		t.Fatalf("after an hour: %v, %d grants", err, f.grants)
	}
	f.gone = "fcm-token-gone"
	if err := c.Send(context.Background(), "fcm-token-gone", m); !errors.Is(err, push.ErrTokenInvalid) {
		t.Fatalf("unregistered token: %v", err)
	}
	// A key the service account does not have: the token endpoint refuses, the send fails.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	bad, _ := push.LoadFCM(writeServiceAccount(t, other, f.srv.URL+"/token"), f.srv.URL)
	bad.Client, bad.Now = f.srv.Client(), clock
	if err := bad.Send(context.Background(), "fcm-token-1", m); err == nil {
		t.Fatal("a JWT signed with another key got an access token")
	}
}

// The APNs client against the loopback APNs (HTTP/2): the provider token verifies with the team key
// and is reused, the headers are what APNs wants, a token APNs calls unregistered is invalid.
func TestAPNsClient(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	clock := func() time.Time { return now }
	a := newFakeAPNs(t, &key.PublicKey, clock)
	c := &push.APNs{URL: a.srv.URL, Topic: "de.musterbank.app", KeyID: "KEY123ABCD", TeamID: "TEAM12345A", Key: key,
		Client: a.srv.Client(), Now: clock}
	token := strings.Repeat("ab", 32)
	m := push.Message{ConfirmationID: uuid.New()}
	if err := c.Send(context.Background(), token, m); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour) // the provider token must be renewed, or APNs refuses it
	if err := c.Send(context.Background(), token, m); err != nil {
		t.Fatalf("after two hours: %v", err)
	}
	a.gone = strings.Repeat("cd", 32)
	if err := c.Send(context.Background(), a.gone, m); !errors.Is(err, push.ErrTokenInvalid) {
		t.Fatalf("unregistered token: %v", err)
	}
	if err := c.Send(context.Background(), "../../admin", m); !errors.Is(err, push.ErrTokenInvalid) {
		t.Fatalf("a token with a path in it: %v", err)
	}
}

// The service: the app's token is stored encrypted per registration; a push carries the confirmation's
// id and nothing about the purchase (no card number, amount or merchant: it passes Google and Apple);
// a token the service reports invalid is dropped; a registration without a token is not pushed to.
func TestServicePushesNoPurchaseData(t *testing.T) {
	st := testenv.NewStack(t)
	ctx := context.Background()
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: audit.New(st.Pool, st.Clock), Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	card, err := reg.VerifyCard(ctx, registration.HolderData{PAN: "5200110000000012", ExpiryMonth: 5, ExpiryYear: 2029, Name: "Noah Schröder"})
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&dk.PublicKey)
	if _, err := reg.RequestApp(ctx, card, registration.AppRequest{DeviceKey: der, Platform: "ios", OSVersion: "17", PIN: "4821",
		OfflineSecret: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	r, err := reg.Activate(ctx, card.ID, registration.MethodApp, st.PrintLetters(t))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := newFakeAPNs(t, &key.PublicKey, time.Now)
	s := push.New(push.Deps{Pool: st.Pool, Keys: st.Keys, Log: st.Log, Senders: map[push.Platform]push.Sender{
		push.IOS: &push.APNs{URL: a.srv.URL, Topic: "de.musterbank.app", KeyID: "KEY123ABCD", TeamID: "TEAM12345A", Key: key,
			Client: a.srv.Client(), Now: time.Now}}}, nil)
	m := push.Message{ConfirmationID: uuid.New()}
	if err := s.Push(ctx, r.ID, m); err != nil || len(a.bodies) != 0 {
		t.Fatalf("no token yet: %v, %d pushes", err, len(a.bodies))
	}
	token := strings.Repeat("ef", 32)
	if err := s.SetToken(ctx, r.ID, push.IOS, token, time.Now()); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := st.Pool.QueryRow(ctx, `SELECT token_enc FROM app_push_tokens WHERE registration_id = $1`, r.ID).Scan(&stored); err != nil ||
		strings.Contains(string(stored), token) {
		t.Fatalf("the token is stored in clear or not at all: %v", err)
	}
	if err := s.Push(ctx, r.ID, m); err != nil || len(a.bodies) != 1 {
		t.Fatalf("push: %v, %d pushes", err, len(a.bodies))
	}
	var payload map[string]any
	if err := json.Unmarshal(a.bodies[0], &payload); err != nil {
		t.Fatal(err)
	}
	if len(payload) != 3 || payload["confirmation_id"] != m.ConfirmationID.String() || payload["type"] != "confirmation" {
		t.Fatalf("payload %s", a.bodies[0])
	}
	for _, secret := range []string{"5200", "0012", "49,90", "49.90", "EUR", "978", "Beispiel", "Noah"} {
		if strings.Contains(string(a.bodies[0]), secret) {
			t.Errorf("the push payload holds %q: %s", secret, a.bodies[0])
		}
	}
	a.gone = token
	if err := s.Push(ctx, r.ID, m); !errors.Is(err, push.ErrTokenInvalid) {
		t.Fatalf("gone token: %v", err)
	}
	var n int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM app_push_tokens WHERE registration_id = $1`, r.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the invalid token was kept: %d %v", n, err)
	}
}
