package appapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/appapi"
	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/push"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/whitelist"
)

type fixture struct {
	*testenv.Stack
	e   *echo.Echo
	wl  *whitelist.List
	reg *registration.Registrar
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testenv.NewStack(t)
	au := audit.New(st.Pool, st.Clock)
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: au, Clock: st.Clock, Log: st.Log, SMSPrice: decimal.Zero, Currency: "EUR"})
	e := server.New(server.Deps{Log: st.Log})
	e.Use(apidoctest.Validator(t, apidoctest.MustLoad("app")))
	wl := whitelist.New(st.Pool, st.Clock)
	// The push service keeps tokens only here (no sender): enough for POST /push-token.
	appapi.New(appapi.Deps{Pool: st.Pool, Registrar: reg, Clock: st.Clock, Log: st.Log, Whitelist: wl,
		Push: push.New(push.Deps{Pool: st.Pool, Keys: st.Keys, Log: st.Log}, nil)}).Routes(e.Group("/app/v1"))
	return &fixture{Stack: st, e: e, wl: wl, reg: reg}
}

func newKey(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return k, der
}

// request builds a signed request; sign may be nil for an unsigned one.
func (fx *fixture) request(t *testing.T, path string, body any, sign *ecdsa.PrivateKey, at time.Time) *http.Request {
	t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if sign != nil {
		if err := appapi.Sign(req, b, sign, at); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

func (fx *fixture) send(req *http.Request) (int, map[string]any) {
	rec := httptest.NewRecorder()
	fx.e.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func registerBody(der []byte) appapi.RegisterRequest {
	return appapi.RegisterRequest{PAN: "4000110000000017", ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt",
		DeviceKey: der, Platform: "ios", OSVersion: "17.4", PIN: "4821", OfflineSecret: make([]byte, 32)}
}

// R-REG-7: the app registers with a request signed by the key it binds, and activates with a request
// signed by the same key; other keys, replays and stale timestamps are refused.
func TestSignedRegistration(t *testing.T) {
	fx := newFixture(t)
	key, der := newKey(t)
	other, _ := newKey(t)
	now := fx.Clock.Now()

	if code, _ := fx.send(fx.request(t, "/app/v1/registrations", registerBody(der), nil, now)); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	if code, _ := fx.send(fx.request(t, "/app/v1/registrations", registerBody(der), other, now)); code != 401 {
		t.Fatalf("signed by another key: %d", code)
	}
	if code, _ := fx.send(fx.request(t, "/app/v1/registrations", registerBody(der), key, now.Add(-6*time.Minute))); code != 401 {
		t.Fatalf("stale timestamp: %d", code)
	}
	req := fx.request(t, "/app/v1/registrations", registerBody(der), key, now)
	body, _ := json.Marshal(registerBody(der))
	replay := httptest.NewRequest("POST", "/app/v1/registrations", bytes.NewReader(body))
	replay.Header = req.Header.Clone()
	code, out := fx.send(req)
	if code != 201 || out["card"] != "400011******0017" || out["em_cert_id"] == "" {
		t.Fatalf("register: %d %v", code, out)
	}
	if code, out := fx.send(replay); code != 401 || !strings.Contains(out["message"].(string), "replay") {
		t.Fatalf("replay: %d %v", code, out)
	}
	cardID := out["card_id"].(string)
	idCode := fx.PrintLetters(t)

	act := map[string]string{"card_id": cardID, "id_code": idCode}
	if code, _ := fx.send(fx.request(t, "/app/v1/registrations/activate", act, other, now)); code != 401 {
		t.Fatalf("activation signed by another key: %d", code)
	}
	code, res := fx.send(fx.request(t, "/app/v1/registrations/activate", act, key, now))
	if code != 200 || res["state"] != "active" || res["em_cert_id"] != out["em_cert_id"] {
		t.Fatalf("activate: %d %v", code, res)
	}
}

func TestHostileBodies(t *testing.T) {
	fx := newFixture(t)
	key, der := newKey(t)
	now := fx.Clock.Now()
	for name, tc := range map[string]struct {
		body  any
		field string
	}{
		"no device key": {appapi.RegisterRequest{PAN: "4000110000000017", ExpiryMonth: 9, ExpiryYear: 2029, Name: "A", Platform: "ios", OSVersion: "17", PIN: "4821"}, "device_key"},
		"bad key":       {func() appapi.RegisterRequest { r := registerBody(der); r.DeviceKey = []byte("x"); return r }(), "device_key"},
		"PIN letters":   {func() appapi.RegisterRequest { r := registerBody(der); r.PIN = "48a1"; return r }(), "pin"},
		"month 13":      {func() appapi.RegisterRequest { r := registerBody(der); r.ExpiryMonth = 13; return r }(), "expiry_month"},
		"unknown field": {map[string]any{"pan": "4000110000000017", "admin": true}, "admin"},
	} {
		code, out := fx.send(fx.request(t, "/app/v1/registrations", tc.body, key, now))
		f, _ := out["fields"].(map[string]any)
		if code != 400 || f[tc.field] == nil {
			t.Errorf("%s: %d %v", name, code, out)
		}
	}
	code, _ := fx.send(fx.request(t, "/app/v1/registrations/activate", map[string]string{"card_id": "0b7f5c2e-0000-4000-8000-000000000000", "id_code": "X"}, key, now))
	if code != 404 {
		t.Errorf("activation of an unknown card: %d", code)
	}
}

// R-WL-3: the list only for the card's active device; removing needs the PIN and touches only the card's
// own entries; five wrong PINs lock the app.
// activeApp registers Anna's card in the app with a new device key and activates it with the letter's
// code, as the app does; it returns the device key and the card id.
func (fx *fixture) activeApp(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, der := newKey(t)
	now := fx.Clock.Now()
	_, out := fx.send(fx.request(t, "/app/v1/registrations", registerBody(der), key, now))
	cardID := out["card_id"].(string)
	if code, res := fx.send(fx.request(t, "/app/v1/registrations/activate", map[string]string{"card_id": cardID, "id_code": fx.PrintLetters(t)}, key, now)); code != 200 {
		t.Fatalf("activation: %d %v", code, res)
	}
	return key, cardID
}

func TestWhitelistInTheApp(t *testing.T) {
	fx := newFixture(t)
	key, cardID := fx.activeApp(t)
	other, _ := newKey(t)
	now := fx.Clock.Now()
	card, _ := fx.Cards.FindByPAN(context.Background(), "4000110000000017")
	testenv.TrustMerchant(t, fx.Pool, fx.wl, card.ID, "Beispiel-Shop", "M-1")
	jonas, _ := fx.Cards.FindByPAN(context.Background(), "4000110000000025")
	testenv.TrustMerchant(t, fx.Pool, fx.wl, jonas.ID, "Jonas' Shop", "M-9")
	jonasEntries, _ := fx.wl.List(context.Background(), jonas.ID)

	list := map[string]string{"card_id": cardID}
	if code, _ := fx.send(fx.request(t, "/app/v1/whitelist", list, other, now)); code != 401 {
		t.Fatalf("another device: %d", code)
	}
	if code, _ := fx.send(fx.request(t, "/app/v1/whitelist", map[string]string{"card_id": jonas.ID.String()}, key, now)); code != 401 {
		t.Fatalf("another card's list: %d", code)
	}
	code, res := fx.send(fx.request(t, "/app/v1/whitelist", list, key, now))
	entries, _ := res["entries"].([]any)
	if code != 200 || len(entries) != 1 {
		t.Fatalf("list: %d %v", code, res)
	}
	entry := entries[0].(map[string]any)["id"].(string)
	remove := func(id, pin string) (int, map[string]any) {
		return fx.send(fx.request(t, "/app/v1/whitelist/remove", map[string]string{"card_id": cardID, "entry_id": id, "pin": pin}, key, now))
	}
	if code, res := remove(jonasEntries[0].ID.String(), "4821"); code != 404 {
		t.Fatalf("another card's entry: %d %v", code, res)
	}
	if code, res := remove(entry, "48a1"); code != 400 || res["fields"].(map[string]any)["pin"] == nil {
		t.Fatalf("malformed PIN: %d %v", code, res)
	}
	if code, res := remove(entry, "4821"); code != 200 || len(res["entries"].([]any)) != 0 {
		t.Fatalf("remove: %d %v", code, res)
	}
	for i := 1; i < registration.MaxPINFailures; i++ {
		if code, _ := remove(entry, "1111"); code != 400 {
			t.Fatalf("wrong PIN %d: %d", i, code)
		}
	}
	if code, _ := remove(entry, "1111"); code != 423 {
		t.Fatalf("fifth wrong PIN: %d", code)
	}
	if code, _ := remove(entry, "4821"); code != 423 {
		t.Fatalf("right PIN after the lock: %d", code)
	}
	if left, _ := fx.wl.List(context.Background(), jonas.ID); len(left) != 1 {
		t.Fatal("another card's entry removed")
	}
}

// Issue 12 (found by the fault runs): while the database is away, a signed app request is answered 503
// (the app tries again), never 401 "not signed by the device key", which tells the app its key is wrong.
func TestDeviceKeyLookupFailureIsUnavailable(t *testing.T) {
	st := testenv.NewStack(t)
	down, err := pgxpool.New(context.Background(), "postgres://app@127.0.0.1:1/acs?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	reg := registration.New(registration.Deps{Pool: down, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: audit.New(down, st.Clock), Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	e := server.New(server.Deps{Log: st.Log})
	appapi.New(appapi.Deps{Pool: down, Registrar: reg, Clock: st.Clock, Log: st.Log, Whitelist: whitelist.New(down, st.Clock)}).
		Routes(e.Group("/app/v1"))
	fx := &fixture{Stack: st, e: e}
	key, _ := newKey(t)
	code, out := fx.send(fx.request(t, "/app/v1/whitelist", map[string]string{"card_id": "0b7f5c2e-0000-4000-8000-000000000000"}, key,
		st.Clock.Now()))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("device key lookup without a database: %d %v, want 503", code, out)
	}
}

// Replay protection keeps each nonce at least twice the timestamp window; the old ones are removed
// about once a minute per process, not at every signed request (issue 13), and never lost to it: a
// nonce within the window is still refused after a purge.
func TestOldNoncesArePurged(t *testing.T) {
	fx := newFixture(t)
	key, der := newKey(t)
	ctx := context.Background()
	count := func() (n int) {
		if err := fx.Pool.QueryRow(ctx, `SELECT count(*) FROM app_nonces`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := fx.request(t, "/app/v1/registrations", registerBody(der), key, fx.Clock.Now())
	if code, out := fx.send(first); code != 201 {
		t.Fatalf("register: %d %v", code, out)
	}
	fx.Clock.Advance(6 * time.Minute)
	recent := fx.request(t, "/app/v1/registrations", registerBody(der), key, fx.Clock.Now())
	body, _ := json.Marshal(registerBody(der))
	replay := httptest.NewRequest("POST", "/app/v1/registrations", bytes.NewReader(body))
	replay.Header = recent.Header.Clone()
	fx.send(recent)
	if n := count(); n != 2 {
		t.Fatalf("%d nonces stored, want 2", n)
	}
	// Past twice the window of the first nonce: the next signed request removes it, not the recent one.
	fx.Clock.Advance(2*appapi.Window - 6*time.Minute + 30*time.Second)
	fx.send(fx.request(t, "/app/v1/registrations", registerBody(der), key, fx.Clock.Now()))
	if n := count(); n != 2 {
		t.Fatalf("%d nonces stored after the purge, want 2 (the recent one and the new one)", n)
	}
	if code, out := fx.send(replay); code != 401 || !strings.Contains(out["message"].(string), "replay") {
		t.Fatalf("a replay within the window after a purge: %d %v", code, out)
	}
}

// The app registers its push token for a card with a signed request (issue 14); it is stored encrypted
// with the card's active registration. Unsigned, for a card without an app registration, or with an
// unknown platform it is refused.
func TestPushTokenRegistration(t *testing.T) {
	fx := newFixture(t)
	key, der := newKey(t)
	now := fx.Clock.Now()
	code, out := fx.send(fx.request(t, "/app/v1/registrations", registerBody(der), key, now))
	if code != 201 {
		t.Fatalf("register: %d %v", code, out)
	}
	cardID := out["card_id"].(string)
	body := map[string]string{"card_id": cardID, "platform": "android", "token": "fcm-registration-token"}
	// Not active yet: no device key of an active registration signed it.
	if code, _ := fx.send(fx.request(t, "/app/v1/push-token", body, key, now)); code != 401 {
		t.Fatalf("before activation: %d", code)
	}
	if code, _ := fx.send(fx.request(t, "/app/v1/registrations/activate", map[string]string{"card_id": cardID, "id_code": fx.PrintLetters(t)},
		key, now)); code != 200 {
		t.Fatalf("activate: %d", code)
	}
	if code, _ := fx.send(fx.request(t, "/app/v1/push-token", body, nil, now)); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	bad := map[string]string{"card_id": cardID, "platform": "symbian", "token": "x"}
	if code, out := fx.send(fx.request(t, "/app/v1/push-token", bad, key, now)); code != 400 || out["fields"] == nil {
		t.Fatalf("unknown platform: %d %v", code, out)
	}
	if code, out := fx.send(fx.request(t, "/app/v1/push-token", body, key, now)); code != 204 {
		t.Fatalf("push token: %d %v", code, out)
	}
	var enc []byte
	if err := fx.Pool.QueryRow(context.Background(), `SELECT t.token_enc FROM app_push_tokens t JOIN registrations r ON r.id = t.registration_id
		WHERE r.card_id = $1`, cardID).Scan(&enc); err != nil || strings.Contains(string(enc), "fcm-registration-token") {
		t.Fatalf("stored: %v", err)
	}
}

// Issue 16, R-X-1: the cardholder sets the card's security level in the app, confirmed with the PIN;
// the same level again changes nothing; a wrong PIN or an unknown level is refused.
func TestSecurityLevelInTheApp(t *testing.T) {
	fx := newFixture(t)
	key, cardID := fx.activeApp(t)
	now := fx.Clock.Now()
	set := func(level, pin string) (int, map[string]any) {
		return fx.send(fx.request(t, "/app/v1/security-level", map[string]string{"card_id": cardID, "security_level": level, "pin": pin}, key, now))
	}
	if code, res := set("always_confirm", "4821"); code != 200 || res["changed"] != true {
		t.Fatalf("set: %d %v", code, res)
	}
	if code, res := set("always_confirm", "4821"); code != 200 || res["changed"] != false {
		t.Fatalf("set again: %d %v", code, res)
	}
	if code, _ := set("adaptive", "1111"); code != 400 {
		t.Fatalf("wrong PIN: %d", code)
	}
	if code, res := set("paranoid", "4821"); code != 400 || res["fields"].(map[string]any)["security_level"] == nil {
		t.Fatalf("unknown level: %d %v", code, res)
	}
	card, _ := fx.Cards.FindByPAN(context.Background(), "4000110000000017")
	reg, err := fx.reg.Active(context.Background(), card.ID)
	if err != nil || reg.SecurityLevel != registration.AlwaysConfirm {
		t.Fatalf("stored: %+v %v", reg, err)
	}
}
