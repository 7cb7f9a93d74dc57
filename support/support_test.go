package support_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/limits"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/support"
	"example.com/acs/whitelist"
)

const annaPAN = "4000110000000017"

type fixture struct {
	*testenv.Stack
	e                 *echo.Echo
	svc               *support.Service
	reg               *registration.Registrar
	agent, supervisor string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testenv.NewStack(t)
	fx := &fixture{Stack: st}
	au := audit.New(st.Pool, st.Clock)
	fx.reg = registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: au, Clock: st.Clock, Log: st.Log, SMSPrice: decimal.Zero, Currency: "EUR"})
	fx.svc = support.New(support.Deps{Pool: st.Pool, Keys: st.HSM, Cards: st.Cards, Letters: st.Letters, Registration: fx.reg,
		Audit: au, Clock: st.Clock, Log: st.Log, Limits: limits.New(st.Pool, st.Clock),
		Transactions: func(ctx context.Context, cardID uuid.UUID) (any, error) { return acs.History(ctx, st.Pool, cardID, 50) }})
	fx.e = server.New(server.Deps{Log: st.Log})
	fx.svc.Routes(fx.e.Group("/support/v1"))
	var err error
	if fx.agent, err = fx.svc.AddStaff(context.Background(), "mia", support.Agent); err != nil {
		t.Fatal(err)
	}
	if fx.supervisor, err = fx.svc.AddStaff(context.Background(), "sven", support.Supervisor); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) do(t *testing.T, token, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	fx.e.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out, rec.Body.String()
}

func (fx *fixture) cardID(t *testing.T) string {
	t.Helper()
	code, out, raw := fx.do(t, fx.agent, "POST", "/support/v1/cards/search", `{"pan":"4000 1100 0000 0017"}`)
	if code != 200 {
		t.Fatalf("search: %d %s", code, raw)
	}
	return out["cards"].([]any)[0].(map[string]any)["card_id"].(string)
}

func TestStaffTokens(t *testing.T) {
	fx := newFixture(t)
	for _, tok := range []string{"", "acss_wrong", fx.agent + "x", "Basic abc"} {
		if code, _, _ := fx.do(t, tok, "POST", "/support/v1/cards/search", `{"pan":"`+annaPAN+`"}`); code != 401 {
			t.Errorf("token %q: %d", tok, code)
		}
	}
	var dump string
	_ = fx.Pool.QueryRow(context.Background(), `SELECT json_agg(s)::text FROM staff s`).Scan(&dump)
	if strings.Contains(dump, fx.agent) || strings.Contains(dump, strings.TrimPrefix(fx.agent, "acss_")) {
		t.Fatal("the staff table holds a token")
	}
	if _, err := fx.svc.AddStaff(context.Background(), "mia", support.Agent); err == nil {
		t.Fatal("duplicate staff name accepted")
	}
	if _, err := fx.svc.AddStaff(context.Background(), "eve", "root"); err == nil {
		t.Fatal("unknown role accepted")
	}
}

// R-SUP-2: find a card by number (never echoed) or last 4 + name; see its state without secrets.
func TestSearchAndView(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	code, out, raw := fx.do(t, fx.agent, "POST", "/support/v1/cards/search", `{"pan":"`+annaPAN+`"}`)
	if code != 200 || strings.Contains(raw, annaPAN) || !strings.Contains(raw, "400011******0017") {
		t.Fatalf("search by number: %d %s", code, raw)
	}
	id := out["cards"].([]any)[0].(map[string]any)["card_id"].(string)
	code, out, _ = fx.do(t, fx.agent, "POST", "/support/v1/cards/search", `{"last4":"0017","holder_name":"anna schmidt"}`)
	if code != 200 || len(out["cards"].([]any)) != 1 {
		t.Fatalf("search by last 4 and name: %d %v", code, out)
	}
	code, out, _ = fx.do(t, fx.agent, "POST", "/support/v1/cards/search", `{"last4":"0017","holder_name":"Someone Else"}`)
	if code != 200 || len(out["cards"].([]any)) != 0 {
		t.Fatalf("wrong name: %d %v", code, out)
	}

	// A registration in progress, with a mobile number, a security answer and an ID code.
	card, err := fx.reg.VerifyCard(ctx, registration.HolderData{PAN: annaPAN, ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "+4915112345678", Question: "birthplace", Answer: "Lübeck"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.Letters.Batch(ctx, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	testenv.TrustMerchant(t, fx.Pool, whitelist.New(fx.Pool, fx.Clock), card.ID, "Beispiel-Shop", "M-1")
	code, out, raw = fx.do(t, fx.agent, "GET", "/support/v1/cards/"+id, "")
	if code != 200 {
		t.Fatalf("view: %d %s", code, raw)
	}
	// R-AUTH-7: each transaction with its decision and reasons.
	txs, _ := out["transactions"].([]any)
	if len(txs) != 1 {
		t.Fatalf("transactions: %s", raw)
	}
	if tx := txs[0].(map[string]any); tx["merchant"] != "Beispiel-Shop" || tx["currency"] != "EUR" || tx["final_trans_status"] != "Y" ||
		tx["reasons"].([]any)[0] != "challenge_succeeded" {
		t.Fatalf("transaction: %v", tx)
	}
	reg := out["registration"].(map[string]any)
	if reg["method"] != "mtan" || reg["state"] != "pending" || reg["mobile"] != "+49151******78" {
		t.Fatalf("registration: %v", reg)
	}
	if len(out["letters"].([]any)) != 1 || out["issuer_data_reads_13_months"].(float64) != 1 || out["status"] != "active" {
		t.Fatalf("view: %s", raw)
	}
	for _, secret := range []string{annaPAN, "15112345678", "Lübeck", "luebeck", fx.Codes()[0], strings.ReplaceAll(fx.Codes()[0], "-", "")} {
		if strings.Contains(raw, secret) || strings.Contains(fx.Logs.String(), secret) {
			t.Errorf("view or logs show %q", secret)
		}
	}
}

// R-SUP-1, R-SUP-3: a new letter with a reason supersedes the open one; the action is audited.
func TestNewLetter(t *testing.T) {
	fx := newFixture(t)
	id := fx.cardID(t)
	if code, out, _ := fx.do(t, fx.agent, "POST", "/support/v1/cards/"+id+"/letters", `{}`); code != 400 || out["fields"].(map[string]any)["reason"] == nil {
		t.Fatalf("no reason: %d %v", code, out)
	}
	for i := 0; i < 2; i++ {
		if code, _, raw := fx.do(t, fx.agent, "POST", "/support/v1/cards/"+id+"/letters", `{"reason":"letter lost in the post"}`); code != 201 {
			t.Fatalf("new letter: %d %s", code, raw)
		}
	}
	_, out, _ := fx.do(t, fx.agent, "GET", "/support/v1/cards/"+id, "")
	ls := out["letters"].([]any)
	if len(ls) != 2 || ls[0].(map[string]any)["state"] != "requested" || ls[1].(map[string]any)["state"] != "superseded" ||
		ls[0].(map[string]any)["requested_by"] != "staff:mia" {
		t.Fatalf("letters: %v", ls)
	}
	found := false
	for _, e := range out["audit_trail"].([]any) {
		m := e.(map[string]any)
		details, _ := m["details"].(map[string]any)
		if m["action"] == "letter.request" && m["actor"] == "staff:mia" && m["card"] == "400011******0017" &&
			details["reason"] == "letter lost in the post" && m["at"] != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("audit trail: %v", out["audit_trail"])
	}
}

func deviceKey(t *testing.T) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return der
}

// R-REG-10, R-SUP-2: a supervisor blocks a card; its registration ends and its open letter is void.
func TestBlock(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	id := fx.cardID(t)
	card, _ := fx.reg.VerifyCard(ctx, registration.HolderData{PAN: annaPAN, ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"})
	if _, err := fx.reg.RequestApp(ctx, card, registration.AppRequest{DeviceKey: deviceKey(t), Platform: "ios", OSVersion: "17.4", PIN: "4821", OfflineSecret: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.Letters.Batch(ctx, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodApp, fx.Codes()[0]); err != nil {
		t.Fatal(err)
	}
	fx.Clock.Advance(time.Minute)
	if _, err := fx.Letters.Request(ctx, card.ID, "spare", "test"); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := fx.do(t, fx.agent, "POST", "/support/v1/cards/"+id+"/block", `{"reason":"card stolen"}`); code != 403 {
		t.Fatalf("agent blocked a card: %d", code)
	}
	if code, _, raw := fx.do(t, fx.supervisor, "POST", "/support/v1/cards/"+id+"/block", `{"reason":"card stolen"}`); code != 200 {
		t.Fatalf("block: %d %s", code, raw)
	}
	_, out, _ := fx.do(t, fx.agent, "GET", "/support/v1/cards/"+id, "")
	if out["status"] != "blocked" || out["registration"] != nil {
		t.Fatalf("after block: %v %v", out["status"], out["registration"])
	}
	if st := out["letters"].([]any)[0].(map[string]any)["state"]; st != "superseded" {
		t.Fatalf("open letter after block: %v", st)
	}
	if code, _, _ := fx.do(t, fx.agent, "POST", "/support/v1/cards/"+id+"/letters", `{"reason":"x"}`); code != 409 {
		t.Fatalf("letter for a blocked card: %d", code)
	}
}

// Hostile input gets a 4xx naming the field, never a 500.
func TestHostileInput(t *testing.T) {
	fx := newFixture(t)
	for _, tc := range []struct {
		method, path, body, field string
		status                    int
	}{
		{"GET", "/support/v1/cards/not-a-uuid", "", "card_id", 400},
		{"GET", "/support/v1/cards/0b7f5c2e-0000-4000-8000-000000000000", "", "", 404},
		{"POST", "/support/v1/cards/search", `{"pan":"4000110000000017","admin":true}`, "admin", 400},
		{"POST", "/support/v1/cards/search", `{"pan":`, "body", 400},
		{"POST", "/support/v1/cards/search", `{"pan":17}`, "pan", 400},
		{"POST", "/support/v1/cards/search", `{}`, "pan", 400},
		{"POST", "/support/v1/cards/search", `{"pan":"4000110000000018"}`, "", 404},
		{"POST", "/support/v1/cards/search", `{"last4":"00a7","holder_name":"x"}`, "last4", 400},
		{"POST", "/support/v1/cards/search", `{"last4":"0017"}`, "holder_name", 400},
	} {
		code, out, raw := fx.do(t, fx.agent, tc.method, tc.path, tc.body)
		if code != tc.status {
			t.Errorf("%s %s %s: %d %s", tc.method, tc.path, tc.body, code, raw)
			continue
		}
		if tc.field != "" {
			if f, _ := out["fields"].(map[string]any); f[tc.field] == nil {
				t.Errorf("%s: fields %v lack %q", tc.body, out["fields"], tc.field)
			}
		}
		if strings.Contains(raw, "4000110000000018") {
			t.Errorf("a card number was echoed: %s", raw)
		}
	}
	req := httptest.NewRequest("POST", "/support/v1/cards/search", strings.NewReader(`{"pan":"4000110000000017"}`))
	req.Header.Set("Authorization", "Bearer "+fx.agent)
	rec := httptest.NewRecorder()
	fx.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("no content type: %d", rec.Code)
	}
}

// The staff console is a page without data: it needs no token to load and grants nothing; its script
// runs only with the response's nonce and talks to this server only.
func TestConsolePage(t *testing.T) {
	e := echo.New()
	e.GET("/support/console", support.Console)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/support/console", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if rec.Code != 200 || !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(rec.Body.String(), `<script nonce="`) || strings.Contains(rec.Body.String(), "innerHTML") {
		t.Fatalf("console: %d %s", rec.Code, csp)
	}
}

// Issue 12, PCI DSS 8.3.9, 8.3.4, 8.2.6: staff tokens expire after TokenTTL, rotation makes the old
// token useless at once, a disabled member is out at once (both audited), and past FailedLogins wrong
// tokens from one address every token from it is refused for the window.
func TestStaffTokenLifecycle(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	search := func(tok string) int {
		code, _, _ := fx.do(t, tok, "POST", "/support/v1/cards/search", `{"pan":"`+annaPAN+`"}`)
		return code
	}
	fresh, err := fx.svc.RotateStaff(ctx, "mia")
	if err != nil {
		t.Fatal(err)
	}
	if search(fx.agent) != 401 || search(fresh) != 200 {
		t.Fatal("rotation: the old token works or the new one does not")
	}
	fx.Clock.Advance(support.TokenTTL)
	if search(fresh) != 401 {
		t.Fatal("an expired token works")
	}
	if err := fx.svc.DisableStaff(ctx, "sven"); err != nil {
		t.Fatal(err)
	}
	if search(fx.supervisor) != 401 {
		t.Fatal("a disabled member's token works")
	}
	var audited int
	_ = fx.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('staff.rotate', 'staff.disable')`).Scan(&audited)
	if audited != 2 {
		t.Fatalf("%d audit entries", audited)
	}
	good, _ := fx.svc.AddStaff(ctx, "lea", support.Agent)
	fx.Clock.Advance(support.FailedLogins.Window) // a window of its own for the guesses
	for i := 0; i < support.FailedLogins.Max; i++ {
		if code := search("acss_guess"); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code := search(good); code != http.StatusTooManyRequests {
		t.Fatalf("a valid token from a locked address: %d", code)
	}
	fx.Clock.Advance(support.FailedLogins.Window)
	if code := search(good); code != 200 {
		t.Fatalf("after the window: %d", code)
	}
}
