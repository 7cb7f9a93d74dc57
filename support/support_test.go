package support_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp/totp"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/apperr"
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
	agent, supervisor string // open sessions
	enrolled          map[string]support.Enrolment
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testenv.NewStack(t)
	fx := &fixture{Stack: st}
	au := audit.New(st.Pool, st.Clock)
	fx.reg = registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: au, Clock: st.Clock, Log: st.Log, SMSPrice: decimal.Zero, Currency: "EUR"})
	fx.svc = support.New(support.Deps{Pool: st.Pool, Keys: st.HSM, Cards: st.Cards, Letters: st.Letters, Registration: fx.reg,
		Audit: au, Clock: st.Clock, Log: st.Log, Limits: limits.New(st.Pool, st.Clock), Data: st.Keys, Issuer: "Musterbank AG",
		Whitelist:    whitelist.New(st.Pool, st.Clock),
		Transactions: func(ctx context.Context, cardID uuid.UUID) (any, error) { return acs.History(ctx, st.Pool, cardID, 50) }})
	fx.e = server.New(server.Deps{Log: st.Log})
	fx.e.Use(apidoctest.Validator(t, apidoctest.MustLoad("support")))
	fx.svc.Routes(fx.e.Group("/support/v1"))
	fx.enrolled = map[string]support.Enrolment{}
	fx.agent = fx.addAndSignIn(t, "mia", support.Agent)
	fx.supervisor = fx.addAndSignIn(t, "sven", support.Supervisor)
	return fx
}

// addAndSignIn makes a staff member and signs them in through the API, as the console does.
func (fx *fixture) addAndSignIn(t *testing.T, name string, role support.Role) string {
	t.Helper()
	en, err := fx.svc.AddStaff(context.Background(), name, role)
	if err != nil {
		t.Fatal(err)
	}
	fx.enrolled[name] = en
	return fx.signIn(t, name)
}

// code is the member's authenticator app's code now.
func (fx *fixture) code(t *testing.T, name string) string {
	t.Helper()
	c, err := totp.GenerateCode(fx.enrolled[name].OTPSecret, fx.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (fx *fixture) signIn(t *testing.T, name string) string {
	t.Helper()
	fx.Clock.Advance(30 * time.Second) // a code works once: the next sign-in needs the next step
	code, out, raw := fx.do(t, fx.enrolled[name].Token, "POST", "/support/v1/session", `{"otp":"`+fx.code(t, name)+`"}`)
	if code != 201 {
		t.Fatalf("sign-in of %s: %d %s", name, code, raw)
	}
	return out["session"].(string)
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
	// The long-lived token alone opens nothing but the sign-in.
	for _, tok := range []string{"", "acss_wrong", fx.agent + "x", "Basic abc", fx.enrolled["mia"].Token} {
		if code, _, _ := fx.do(t, tok, "POST", "/support/v1/cards/search", `{"pan":"`+annaPAN+`"}`); code != 401 {
			t.Errorf("token %q: %d", tok, code)
		}
	}
	var dump string
	_ = fx.Pool.QueryRow(context.Background(), `SELECT json_agg(s)::text FROM staff s`).Scan(&dump)
	if strings.Contains(dump, fx.agent) || strings.Contains(dump, strings.TrimPrefix(fx.agent, "acss_")) {
		t.Fatal("the staff table holds a token")
	}
	if strings.Contains(dump, fx.enrolled["mia"].OTPSecret) || strings.Contains(dump, fx.enrolled["mia"].Token[5:]) {
		t.Fatal("the staff table holds a TOTP secret or token in clear")
	}
	_ = fx.Pool.QueryRow(context.Background(), `SELECT json_agg(s)::text FROM staff_sessions s`).Scan(&dump)
	if strings.Contains(dump, fx.agent[5:]) {
		t.Fatal("the sessions table holds a session token")
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
	if len(out["letters"].([]any)) != 1 || out["issuer_data_reads_13_months"].(float64) != 3 /* check, request, letter (R-REG-9) */ || out["status"] != "active" {
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
	cardID := fx.activeApp(t)
	fx.Clock.Advance(time.Minute)
	if _, err := fx.Letters.Request(ctx, cardID, "spare", "test"); err != nil {
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
// token and its sessions useless at once, a disabled member is out at once (both audited), and past
// FailedLogins wrong tokens from one address every token from it is refused for the window.
func TestStaffTokenLifecycle(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	search := func(tok string) int {
		code, _, _ := fx.do(t, tok, "POST", "/support/v1/cards/search", `{"pan":"`+annaPAN+`"}`)
		return code
	}
	old := fx.enrolled["mia"].Token
	fresh, err := fx.svc.RotateStaff(ctx, "mia")
	if err != nil {
		t.Fatal(err)
	}
	if search(fx.agent) != 401 {
		t.Fatal("a session outlived its token's rotation")
	}
	fx.Clock.Advance(30 * time.Second)
	if code, _, _ := fx.do(t, old, "POST", "/support/v1/session", `{"otp":"`+fx.code(t, "mia")+`"}`); code != 401 {
		t.Fatalf("the rotated token still signs in: %d", code)
	}
	fx.enrolled["mia"] = support.Enrolment{Token: fresh, OTPSecret: fx.enrolled["mia"].OTPSecret}
	if search(fx.signIn(t, "mia")) != 200 {
		t.Fatal("the new token does not sign in")
	}
	sven := fx.signIn(t, "sven")
	if err := fx.svc.DisableStaff(ctx, "sven"); err != nil {
		t.Fatal(err)
	}
	if search(sven) != 401 {
		t.Fatal("a disabled member's session works")
	}
	fx.Clock.Advance(support.TokenTTL)
	if code, _, _ := fx.do(t, fresh, "POST", "/support/v1/session", `{"otp":"`+fx.code(t, "mia")+`"}`); code != 401 {
		t.Fatalf("an expired token signs in: %d", code)
	}
	var audited int
	_ = fx.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('staff.rotate', 'staff.disable')`).Scan(&audited)
	if audited != 2 {
		t.Fatalf("%d audit entries", audited)
	}
	fx.addAndSignIn(t, "lea", support.Agent)
	fx.Clock.Advance(support.FailedLogins.Window) // a window of its own for the guesses (the session idles out)
	good := fx.signIn(t, "lea")
	for i := 0; i < support.FailedLogins.Max; i++ {
		guess := "acsx_" + strings.Repeat("A", 43)
		if i%2 == 1 {
			guess = "acss_guess"
		}
		if code := search(guess); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code := search(good); code != http.StatusTooManyRequests {
		t.Fatalf("a valid session from a locked address: %d", code)
	}
	fx.Clock.Advance(support.FailedLogins.Window)
	good = fx.signIn(t, "lea")
	if code := search(good); code != 200 {
		t.Fatalf("after the window: %d", code)
	}
}

// Issue 12, PCI DSS 8.4.2, 8.3.4, 8.2.8, RFC 6238 5.2: the console and API need the token and a current
// TOTP code; a code works once and within one step either way; ten wrong codes in a row lock the member
// for 30 minutes even with right codes (audited), re-enrolment lifts it; sessions end when idle for 15
// minutes, after 8 hours and at sign-out.
func TestStaffSecondFactor(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	token := fx.enrolled["mia"].Token
	signIn := func(body string) (int, map[string]any) {
		code, out, _ := fx.do(t, token, "POST", "/support/v1/session", body)
		return code, out
	}
	search := func(tok string) int {
		code, _, _ := fx.do(t, tok, "POST", "/support/v1/cards/search", `{"pan":"`+annaPAN+`"}`)
		return code
	}
	if !strings.HasPrefix(fx.enrolled["mia"].OTPURI, "otpauth://totp/") || !strings.Contains(fx.enrolled["mia"].OTPURI, "issuer=Musterbank") {
		t.Fatalf("enrolment URI %q", fx.enrolled["mia"].OTPURI)
	}
	for _, body := range []string{`{}`, `{"otp":"12345"}`, `{"otp":"abcdef"}`, `{"otp":"123456","x":1}`} {
		if code, out := signIn(body); code != 400 || out["fields"] == nil {
			t.Errorf("%s: %d %v", body, code, out)
		}
	}
	// One step late is accepted (a phone's clock drifts); two steps are not.
	fx.Clock.Advance(time.Minute)
	late, _ := totp.GenerateCode(fx.enrolled["mia"].OTPSecret, fx.Clock.Now().Add(-30*time.Second))
	stale, _ := totp.GenerateCode(fx.enrolled["mia"].OTPSecret, fx.Clock.Now().Add(-90*time.Second))
	if late == stale {
		t.Skip("two steps happen to share a code")
	}
	if code, out := signIn(`{"otp":"` + stale + `"}`); code != 401 || out["fields"].(map[string]any)["otp"] == nil {
		t.Fatalf("a code two steps old: %d %v", code, out)
	}
	code, out := signIn(`{"otp":"` + late + `"}`)
	if code != 201 {
		t.Fatalf("a code one step late: %d %v", code, out)
	}
	sess := out["session"].(string)
	if code, _ := signIn(`{"otp":"` + late + `"}`); code != 401 {
		t.Fatal("a code worked twice (RFC 6238 5.2)")
	}
	// Sessions: idle, sign-out.
	fx.Clock.Advance(support.SessionIdle - time.Second)
	if search(sess) != 200 {
		t.Fatal("a session in use expired")
	}
	fx.Clock.Advance(support.SessionIdle + time.Second)
	if search(sess) != 401 {
		t.Fatal("an idle session works (PCI DSS 8.2.8)")
	}
	sess = fx.signIn(t, "mia")
	if code, _, raw := fx.do(t, sess, "DELETE", "/support/v1/session", ""); code != 204 {
		t.Fatalf("sign-out: %d %s", code, raw)
	}
	if search(sess) != 401 {
		t.Fatal("a signed-out session works")
	}
	for i := 0; i < 40; i++ { // 8 hours in steps shorter than the idle limit
		if i == 0 {
			sess = fx.signIn(t, "mia")
		}
		fx.Clock.Advance(support.SessionTTL / 40)
		if code := search(sess); (code == 200) != (i < 39) {
			t.Fatalf("after %d/40 of the session's life: %d", i+1, code)
		}
	}
	// Ten wrong codes lock the member, whatever comes next; each is audited.
	fx.Clock.Advance(support.FailedLogins.Window) // the address's own limit starts afresh
	for i := 0; i < support.MaxOTPFailures; i++ {
		fx.Clock.Advance(30 * time.Second)
		wrong := fmt.Sprintf("%06d", (mustAtoi(t, fx.code(t, "mia"))+1)%1000000)
		if code, _ := signIn(`{"otp":"` + wrong + `"}`); code != 401 {
			t.Fatalf("wrong code %d: %d", i, code)
		}
	}
	// From another address, so that it is the member's lock that holds, not the address's.
	fx.Clock.Advance(30 * time.Second)
	if _, err := fx.svc.SignIn(ctx, token, fx.code(t, "mia"), "198.51.100.7"); !errors.Is(err, apperr.Of(apperr.TooMany)) {
		t.Fatalf("a locked member signs in: %v", err)
	}
	var locks, failures int
	_ = fx.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action = 'staff.locked'), count(*) FILTER (WHERE action = 'staff.signin_failed')
		FROM audit_log WHERE actor = 'staff:mia'`).Scan(&locks, &failures)
	if locks != 1 || failures < support.MaxOTPFailures-1 {
		t.Fatalf("audit: %d locks, %d failures", locks, failures)
	}
	// Re-enrolment (a supervisor has identified the member) lifts the lock; the old secret is void.
	oldSecret := fx.enrolled["mia"].OTPSecret
	en, err := fx.svc.EnrolOTP(ctx, "mia")
	if err != nil {
		t.Fatal(err)
	}
	fx.Clock.Advance(support.FailedLogins.Window)
	if old, _ := totp.GenerateCode(oldSecret, fx.Clock.Now()); old != "" {
		if code, _ := signIn(`{"otp":"` + old + `"}`); code != 401 {
			t.Fatalf("the replaced secret's code: %d", code)
		}
	}
	fx.enrolled["mia"] = support.Enrolment{Token: token, OTPSecret: en.OTPSecret}
	if search(fx.signIn(t, "mia")) != 200 {
		t.Fatal("re-enrolled member cannot sign in")
	}
	if _, err := fx.svc.EnrolOTP(ctx, "nobody"); err == nil {
		t.Fatal("enrolled an unknown member")
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
