package acs_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/appapi"
	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/dslink"
	"example.com/acs/internal/devpki"
	"example.com/acs/internal/sim3ds"
	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

// acsProcess is one `acs serve` as far as the app flow goes: its own database pool, services and HTTP
// server. Two of them against one database stand for two processes behind a load balancer.
type acsProcess struct {
	url      string
	ch       *acs.Challenges
	results  *acs.Results
	pushed   chan acs.Confirmation
	stopping chan struct{} // closed: the process begins to shut down
}

type recordingPusher chan acs.Confirmation

func (p recordingPusher) Push(_ context.Context, _ uuid.UUID, c acs.Confirmation) error {
	select {
	case p <- c:
	default:
	}
	return nil
}

// appSigning is the app channel's signing certificate chain (for the HSM's signer key) and the DS CA
// that issued it, as `acs pki dev` makes them; Mastercard is configured as a scheme that requires
// PS256, with an RSA key and its certificate from the same CA (issue 14; the token's RSA-PSS signing is
// hsm's TestSchemeKeysInit, and generating an RSA key on every test's token would cost seconds).
type appSigning struct {
	chain    [][]byte
	roots    *x509.CertPool
	rsaKey   crypto.Signer
	rsaChain [][]byte
}

var (
	testRSAOnce sync.Once
	testRSAKey  *rsa.PrivateKey
)

func newAppSigning(t *testing.T, st *testenv.Stack) *appSigning {
	t.Helper()
	f, _, err := devpki.Ensure(t.TempDir(), st.HSM.DSClientSigner(), st.HSM.Signer(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	chain, err := dslink.LoadChain(f.ACSSigning, st.HSM.Signer().Public())
	if err != nil {
		t.Fatal(err)
	}
	roots, err := f.Roots()
	if err != nil {
		t.Fatal(err)
	}
	testRSAOnce.Do(func() { testRSAKey, err = rsa.GenerateKey(rand.Reader, 2048) })
	if err != nil || testRSAKey == nil {
		t.Fatalf("rsa key: %v", err)
	}
	if _, err := devpki.EnsureSigning(f, f.ACSSigningRSA, testRSAKey, time.Now()); err != nil {
		t.Fatal(err)
	}
	rsaChain, err := dslink.LoadChain(f.ACSSigningRSA, testRSAKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &appSigning{chain: chain, roots: roots, rsaKey: testRSAKey, rsaChain: rsaChain}
}

func startProcess(t *testing.T, st *testenv.Stack, signing *appSigning) *acsProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := pgxpool.New(ctx, st.Pool.Config().ConnString())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// The listener holds a connection until ctx ends; only then can the pool close.
	t.Cleanup(func() { cancel(); pool.Close() })
	reg := registration.New(registration.Deps{Pool: pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: audit.New(pool, st.Clock), Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	p := &acsProcess{pushed: make(chan acs.Confirmation, 10), stopping: make(chan struct{})}
	wl := whitelist.New(pool, st.Clock)
	p.results = acs.NewResults(acs.ResultDeps{Pool: pool, Cards: st.Cards, AV: st.AV, Clock: st.Clock, Log: st.Log, Whitelist: wl, Link: testenv.LoopbackDS(t)})
	p.ch = acs.NewChallenges(acs.ChallengeDeps{Pool: pool, Registration: reg, Digests: st.Digests, Outbox: sms.NewOutbox(st.Keys, st.Clock),
		Clock: st.Clock, Log: st.Log, Results: p.results, Pusher: recordingPusher(p.pushed), Sessions: st.Keys,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	var e *echo.Echo
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	e = server.New(server.Deps{Log: st.Log})
	e.Use(apidoctest.Validator(t, apidoctest.MustLoad("app")))
	dc := acs.NewDecider(acs.DecisionDeps{Pool: pool, Cards: st.Cards, Clock: st.Clock, Log: st.Log,
		ChallengeURL: srv.URL + "/3ds/challenge", ReferenceNumber: "REF", AV: st.AV, Digests: st.Digests, Whitelist: wl,
		App: &acs.AppChannel{Signer: st.HSM.Signer(), Chains: map[string][][]byte{"visa": signing.chain, "mastercard": signing.rsaChain},
			Signers: map[string]crypto.Signer{"mastercard": signing.rsaKey}, URL: srv.URL + "/3ds/app", Keys: st.Keys}, Decoupled: p.ch})
	acs.NewHandler(acs.HandlerDeps{Decider: dc, Challenges: p.ch, Results: p.results, Tokens: st.Keys, Clock: st.Clock, Log: st.Log,
		Issuer: "Musterbank AG"}).Routes(e.Group("/3ds"))
	wake := store.NewBroadcast()
	go wake.Run(ctx, pool, "app_confirmations")
	appapi.New(appapi.Deps{Pool: pool, Registrar: reg, Clock: st.Clock, Log: st.Log, Whitelist: wl, Challenges: p.ch, Wake: wake,
		Stopping: p.stopping}).
		Routes(e.Group("/app/v1"))
	return p
}

// appFixture: Noah's Mastercard registered for the app on a device whose key and offline secret the
// test holds; process a serves the merchant's simulator, process b is a second process.
type appFixture struct {
	*testenv.Stack
	a, b    *acsProcess
	signing *appSigning
	sim     *sim3ds.Sim
	key     *ecdsa.PrivateKey
	secret  []byte
	cardID  uuid.UUID
}

const noahPAN = "5200110000000012"

func newAppFixture(t *testing.T) *appFixture {
	t.Helper()
	st := testenv.NewStack(t)
	st.Clock.Advance(time.Since(st.Clock.Now())) // the app's request signatures carry the real time
	signing := newAppSigning(t, st)
	fx := &appFixture{Stack: st, signing: signing, a: startProcess(t, st, signing), b: startProcess(t, st, signing)}
	var err error
	if fx.sim, err = sim3ds.Start(fx.a.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fx.sim.Close)
	fx.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&fx.key.PublicKey)
	fx.secret = make([]byte, 32)
	_, _ = rand.Read(fx.secret)
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: audit.New(st.Pool, st.Clock), Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	card, err := reg.VerifyCard(context.Background(), registration.HolderData{PAN: noahPAN, ExpiryMonth: 5, ExpiryYear: 2029, Name: "Noah Schröder"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.RequestApp(context.Background(), card, registration.AppRequest{DeviceKey: der, Platform: "ios", OSVersion: "17",
		PIN: "4821", OfflineSecret: fx.secret}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Activate(context.Background(), card.ID, registration.MethodApp, st.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	fx.cardID = card.ID
	return fx
}

// purchase starts an app challenge through process a and returns the ARes and the page.
func (fx *appFixture) purchase(t *testing.T, set map[string]any) (map[string]any, *sim3ds.Page) {
	t.Helper()
	m := map[string]any{"acctNumber": noahPAN}
	for k, v := range set {
		m[k] = v
	}
	a, _ := fx.sim.AReq(areqFile, m)
	_, ares, err := fx.sim.Send(a)
	if err != nil || ares["transStatus"] != "C" {
		t.Fatalf("ARes: %v %v", ares, err)
	}
	page, err := fx.sim.Challenge(ares, sim3ds.CReq(ares, "02", nil), "c2Vzc2lvbi0x", "de")
	if err != nil || page.Status != http.StatusOK {
		t.Fatalf("page: %v %+v", err, page)
	}
	return ares, page
}

// app sends a request signed by the device key to process p's app API.
func (fx *appFixture) app(t *testing.T, p *acsProcess, path string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, p.url+"/app/v1"+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if err := appapi.Sign(req, b, fx.key, fx.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

func (fx *appFixture) pending(t *testing.T, p *acsProcess) []appapi.ConfirmationView {
	t.Helper()
	var res appapi.ConfirmationsResponse
	if code := fx.app(t, p, "/confirmations", appapi.ConfirmationsRequest{CardID: fx.cardID}, &res); code != 200 {
		t.Fatalf("pending: %d", code)
	}
	return res.Confirmations
}

func (fx *appFixture) sign(c acs.Confirmation) []byte {
	sum := sha256.Sum256(c.Canonical())
	sig, _ := ecdsa.SignASN1(rand.Reader, fx.key, sum[:])
	return sig
}

// answerVia answers a confirmation through process p's app API.
func (fx *appFixture) answerVia(t *testing.T, p *acsProcess, c acs.Confirmation, decision, how, pin string) (int, map[string]any) {
	t.Helper()
	var out map[string]any
	code := fx.app(t, p, "/confirmations/answer", appapi.AnswerRequest{CardID: fx.cardID, ConfirmationID: c.ID, Decision: decision,
		UserVerification: how, PIN: pin, Signature: fx.sign(c)}, &out)
	return code, out
}

// moveOn is what the page's script does: ask whether the challenge ended, then submit.
func moveOn(t *testing.T, page *sim3ds.Page) *sim3ds.Page {
	t.Helper()
	next, err := page.Submit("status", nil)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func (fx *appFixture) ended(t *testing.T, p *acsProcess, page *sim3ds.Page) bool {
	t.Helper()
	resp, err := http.PostForm(p.url+"/3ds/challenge/status", map[string][]string{"t": {page.Forms[0].Fields.Get("t")}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s map[string]bool
	_ = json.NewDecoder(resp.Body).Decode(&s)
	return s["ended"]
}

// R-AUTH-2, R-AUTH-3: the page says to confirm in the app and shows the data; the app gets exactly
// them, approves with the PIN through the other process; the page, held by the first, moves on; the
// RReq carries Y with the Mastercard ECI.
func TestAppApproveWithPINAcrossProcesses(t *testing.T) {
	fx := newAppFixture(t)
	ares, page := fx.purchase(t, nil)
	if text := html.UnescapeString(page.Body); !strings.Contains(text, "in der App Ihrer Bank") || !strings.Contains(text, "49,90 EUR") ||
		!strings.Contains(text, "/3ds/challenge/status") {
		t.Fatalf("page: %.800s", page.Body)
	}
	select {
	case c := <-fx.a.pushed:
		if c.ID.String() != ares["acsTransID"] {
			t.Fatalf("pushed %v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push")
	}
	list := fx.pending(t, fx.b)
	if len(list) != 1 {
		t.Fatalf("pending: %+v", list)
	}
	c := list[0].Confirmation
	if c.ID.String() != ares["acsTransID"] || c.Merchant != "Beispiel-Shop" || c.Amount.String() != "49.9" || c.Currency != "978" ||
		string(list[0].Canonical) != string(c.Canonical()) {
		t.Fatalf("confirmation: %+v", list[0])
	}
	if fx.ended(t, fx.a, page) {
		t.Fatal("ended before the answer")
	}
	if code, out := fx.answerVia(t, fx.b, c, "approve", "pin", "4821"); code != 200 || out["trans_status"] != "Y" {
		t.Fatalf("approve: %d %v", code, out)
	}
	if !fx.ended(t, fx.a, page) {
		t.Fatal("process a does not see the answer taken by process b")
	}
	cres, ok, err := moveOn(t, page).Final()
	if err != nil || !ok || cres["transStatus"] != "Y" {
		t.Fatalf("CRes: %v %v %v", cres, ok, err)
	}
	rreqs := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
	if len(rreqs) != 1 || rreqs[0].Message["eci"] != "02" || rreqs[0].Message["transStatus"] != "Y" {
		t.Fatalf("RReq: %v", rreqs)
	}
	// Issue 15: the AAV says the app confirmed with the PIN (method 2), in the browser channel.
	golden(t, "rreq-approved-app-mastercard", rreqs[0].Message)
	// The same approval again, and a fresh answer to an answered confirmation, are refused.
	if code, _ := fx.answerVia(t, fx.b, c, "approve", "biometric", ""); code != http.StatusConflict {
		t.Fatalf("second answer: %d", code)
	}
	if len(fx.pending(t, fx.a)) != 0 {
		t.Fatal("still pending")
	}
}

// The long poll of one process is woken by a confirmation created through another.
func TestAppWaitWokenAcrossProcesses(t *testing.T) {
	fx := newAppFixture(t)
	got := make(chan []appapi.ConfirmationView, 1)
	go func() {
		var res appapi.ConfirmationsResponse
		fx.app(t, fx.b, "/confirmations/wait", appapi.ConfirmationsRequest{CardID: fx.cardID}, &res)
		got <- res.Confirmations
	}()
	time.Sleep(500 * time.Millisecond) // let the wait begin
	start := time.Now()
	ares, _ := fx.purchase(t, nil)
	select {
	case list := <-got:
		if len(list) != 1 || list[0].ID.String() != ares["acsTransID"] {
			t.Fatalf("woken with %+v", list)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("woken after %s", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the wait was not woken")
	}
}

// R-AUTH-3, R-AUTH-6: biometric approval, decline, failed biometric check ("Identifikation
// fehlgeschlagen"), each with its page and RReq.
func TestAppAnswers(t *testing.T) {
	fx := newAppFixture(t)
	for _, tc := range []struct {
		decision, how, status, pageText, why string
	}{
		{"approve", "biometric", "Y", "Zahlung bestätigt", acs.ReasonChallengeSucceeded},
		{"decline", "", "N", "in der App abgelehnt", acs.ReasonDeclined},
		{"approve", "biometric_failed", "N", "Identifikation fehlgeschlagen", acs.ReasonIdentificationFailed},
	} {
		ares, page := fx.purchase(t, nil)
		c := fx.pending(t, fx.a)[0].Confirmation
		code, out := fx.answerVia(t, fx.a, c, tc.decision, tc.how, "")
		if code != 200 || out["trans_status"] != tc.status || out["result"] != tc.why {
			t.Fatalf("%s/%s: %d %v", tc.decision, tc.how, code, out)
		}
		// The answer's request delivered the RReq (queued claimed with the end, issue 13): the DS has the
		// result before the browser's page asks for the final CRes, which then sends nothing more.
		if rreqs := fx.sim.RReqs(ares["threeDSServerTransID"].(string)); len(rreqs) != 1 {
			t.Fatalf("%s: %d RReqs when the app's answer returned", tc.why, len(rreqs))
		}
		done := moveOn(t, page)
		if !strings.Contains(done.Body, tc.pageText) {
			t.Fatalf("%s: page %.600s", tc.why, done.Body)
		}
		cres, _, _ := done.Final()
		rreqs := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
		if cres["transStatus"] != tc.status || len(rreqs) != 1 || rreqs[0].Message["transStatus"] != tc.status {
			t.Fatalf("%s: %v %v", tc.why, cres, rreqs)
		}
	}
}

// R-AUTH-2: a signature over any other amount, merchant or transaction is refused, and the confirmation
// stays open for the genuine one.
func TestAppSignatureBoundToTheData(t *testing.T) {
	fx := newAppFixture(t)
	_, page := fx.purchase(t, nil)
	c := fx.pending(t, fx.a)[0].Confirmation
	for name, forged := range map[string]func(x *acs.Confirmation){
		"amount":      func(x *acs.Confirmation) { x.Amount = x.Amount.Add(decimal.RequireFromString("0.01")) },
		"merchant":    func(x *acs.Confirmation) { x.Merchant = "Anderer Shop" },
		"transaction": func(x *acs.Confirmation) { x.ID = uuid.New() },
	} {
		x := c
		forged(&x)
		var out map[string]any
		code := fx.app(t, fx.a, "/confirmations/answer", appapi.AnswerRequest{CardID: fx.cardID, ConfirmationID: c.ID, Decision: "approve",
			UserVerification: "biometric", Signature: fx.sign(x)}, &out)
		if code != 400 || !strings.Contains(out["fields"].(map[string]any)["signature"].(string), "does not match") {
			t.Fatalf("signature over another %s: %d %v", name, code, out)
		}
	}
	// A right confirmation signed by another key (not the card's device) is refused too.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sum := sha256.Sum256(c.Canonical())
	sig, _ := ecdsa.SignASN1(rand.Reader, other, sum[:])
	if _, err := fx.a.ch.AnswerApp(context.Background(), fx.cardID, c.ID, acs.Answer{Approve: true, Verification: acs.VerifiedBiometric,
		Signature: sig}); apperr.KindOf(err) != apperr.Invalid {
		t.Fatalf("signed by another key: %v", err)
	}
	if fx.ended(t, fx.a, page) {
		t.Fatal("a forged answer ended the challenge")
	}
	if code, _ := fx.answerVia(t, fx.a, c, "approve", "biometric", ""); code != 200 {
		t.Fatalf("genuine: %d", code)
	}
}

// R-REG-7: five wrong PINs lock the app; the purchase is then not authorised.
func TestAppWrongPINLocks(t *testing.T) {
	fx := newAppFixture(t)
	ares, page := fx.purchase(t, nil)
	c := fx.pending(t, fx.a)[0].Confirmation
	for i := 1; i < registration.MaxPINFailures; i++ {
		if code, out := fx.answerVia(t, fx.a, c, "approve", "pin", "1111"); code != 400 || out["fields"] == nil {
			t.Fatalf("wrong PIN %d: %d %v", i, code, out)
		}
	}
	if fx.ended(t, fx.a, page) {
		t.Fatal("ended before the fifth wrong PIN")
	}
	if code, _ := fx.answerVia(t, fx.a, c, "approve", "pin", "1111"); code != http.StatusLocked {
		t.Fatalf("fifth wrong PIN: %d", code)
	}
	cres, _, _ := moveOn(t, page).Final()
	if cres["transStatus"] != "N" || len(fx.sim.RReqs(ares["threeDSServerTransID"].(string))) != 1 {
		t.Fatalf("after the lock: %v", cres)
	}
	// The method is locked (PSD2 RTS Art. 4): the next purchase is refused at once, not challenged.
	a, _ := fx.sim.AReq(areqFile, map[string]any{"acctNumber": noahPAN})
	if _, next, _ := fx.sim.Send(a); next["transStatus"] != "N" || next["transStatusReason"] != "12" {
		t.Fatalf("a purchase with a locked app: %v", next)
	}
	var locked bool
	_ = fx.Pool.QueryRow(context.Background(), `SELECT locked_at IS NOT NULL FROM registrations WHERE card_id = $1 AND state = 'active'`,
		fx.cardID).Scan(&locked)
	if !locked {
		t.Fatal("the method is not locked")
	}
}

// A blocked card's confirmation cannot be approved.
func TestAppBlockedCard(t *testing.T) {
	fx := newAppFixture(t)
	_, _ = fx.purchase(t, nil)
	c := fx.pending(t, fx.a)[0].Confirmation
	if _, err := fx.Pool.Exec(context.Background(), `UPDATE issuer_cards SET status = 'blocked' WHERE id = $1`, fx.cardID); err != nil {
		t.Fatal(err)
	}
	_, err := fx.a.ch.AnswerApp(context.Background(), fx.cardID, c.ID, acs.Answer{Approve: true, Verification: acs.VerifiedBiometric,
		Signature: fx.sign(c)})
	if apperr.KindOf(err) != apperr.Forbidden {
		t.Fatalf("blocked card: %v", err)
	}
}

var challengeNumber = regexp.MustCompile(`id="offline-challenge">([0-9]{8})<`)

// R-AUTH-4: the offline password is bound to the amount (49.91 instead of 49.90 fails), counts failures
// with the challenge, and works once.
func TestAppOfflinePassword(t *testing.T) {
	fx := newAppFixture(t)
	ares, page := fx.purchase(t, nil)
	offline, err := page.Submit("offline", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := challengeNumber.FindStringSubmatch(offline.Body)
	if m == nil {
		t.Fatalf("no challenge number: %.800s", offline.Body)
	}
	wrong, _ := offline.Submit("offline_verify", map[string]string{"offline_password": acs.OfflinePassword(fx.secret, m[1], 4991, "978")})
	if wrong.Status != http.StatusUnprocessableEntity || !strings.Contains(wrong.Body, "nicht korrekt") {
		t.Fatalf("password for 49.91: %d %.400s", wrong.Status, wrong.Body)
	}
	right := acs.OfflinePassword(fx.secret, m[1], 4990, "978")
	done, _ := wrong.Submit("offline_verify", map[string]string{"offline_password": right})
	cres, ok, _ := done.Final()
	if !ok || cres["transStatus"] != "Y" || len(fx.sim.RReqs(ares["threeDSServerTransID"].(string))) != 1 {
		t.Fatalf("offline approval: %v %.400s", cres, done.Body)
	}
	if out, err := fx.a.ch.VerifyOffline(context.Background(), uuid.MustParse(ares["acsTransID"].(string)), right); out == acs.OutcomeSucceeded || err == nil {
		t.Fatalf("used twice: %s %v", out, err)
	}
}

// Push bombing: at most MaxPendingConfirmations wait per card; a further challenge is refused at once.
// An unanswered confirmation expires with its challenge.
func TestAppPendingLimitAndExpiry(t *testing.T) {
	fx := newAppFixture(t)
	for i := 0; i < acs.MaxPendingConfirmations; i++ {
		fx.purchase(t, nil)
	}
	ares, over := fx.purchase(t, nil)
	cres, ok, _ := over.Final()
	if !ok || cres["transStatus"] != "N" || len(fx.pending(t, fx.a)) != acs.MaxPendingConfirmations {
		t.Fatalf("over the limit: %v %v", cres, ok)
	}
	rreqs := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
	if len(rreqs) != 1 || rreqs[0].Message["transStatus"] != "N" {
		t.Fatalf("RReq: %v", rreqs)
	}
	fx.Clock.Advance(acs.ChallengeTimeout)
	if n, err := fx.a.results.Sweep(context.Background()); err != nil || n != acs.MaxPendingConfirmations {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if len(fx.pending(t, fx.a)) != 0 {
		t.Fatal("confirmations outlive their challenges")
	}
}

// Property: changing any single field of a confirmation makes its signature fail.
func TestConfirmationSignatureProperty(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	for i := 0; i < 200; i++ {
		nonce := make([]byte, 16)
		_, _ = rand.Read(nonce)
		c := acs.Confirmation{ID: uuid.New(), Merchant: "Shop " + uuid.NewString()[:8], Amount: decimal.New(int64(i*37+1), -2),
			Currency: "978", Exponent: 2, Date: time.Unix(1_700_000_000+int64(i)*3600, 0).UTC(), Nonce: nonce}
		sum := sha256.Sum256(c.Canonical())
		sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
		if !acs.VerifyConfirmation(der, c, sig) {
			t.Fatal("genuine signature refused")
		}
		for name, change := range map[string]func(x *acs.Confirmation){
			"id":       func(x *acs.Confirmation) { x.ID = uuid.New() },
			"amount":   func(x *acs.Confirmation) { x.Amount = x.Amount.Add(decimal.New(1, -2)) },
			"currency": func(x *acs.Confirmation) { x.Currency = "840" },
			"merchant": func(x *acs.Confirmation) { x.Merchant += "x" },
			"date":     func(x *acs.Confirmation) { x.Date = x.Date.Add(time.Second) },
			"nonce":    func(x *acs.Confirmation) { x.Nonce = append([]byte{x.Nonce[0] ^ 1}, x.Nonce[1:]...) },
		} {
			x := c
			change(&x)
			if acs.VerifyConfirmation(der, x, sig) {
				t.Fatalf("changed %s still verifies", name)
			}
		}
	}
}

// The app challenge in every version: approved in the app, the RReq says out of band (2.1.0/2.2.0
// authenticationType 03, 2.3.1 authenticationMethod 11), and every message the simulator received
// passes its version's element table.
func TestAppChallengeEveryVersion(t *testing.T) {
	fx := newAppFixture(t)
	for _, v := range versions {
		ares, page := fx.purchase(t, versionSet(v, nil))
		c := fx.pending(t, fx.a)[0].Confirmation
		if code, out := fx.answerVia(t, fx.a, c, "approve", "biometric", ""); code != 200 || out["trans_status"] != "Y" {
			t.Fatalf("%s: %d %v", v, code, out)
		}
		done := moveOn(t, page)
		cres, _, _ := done.Final()
		rreqs := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
		if cres["transStatus"] != "Y" || len(rreqs) != 1 {
			t.Fatalf("%s: %v %v", v, cres, rreqs)
		}
		r := rreqs[0].Message
		if v == "2.3.1" {
			if m, _ := r["authenticationMethod"].([]any); len(m) != 1 || m[0] != "11" || r["authenticationType"] != nil {
				t.Fatalf("2.3.1 method: %v", r)
			}
		} else if r["authenticationType"] != "03" || r["interactionCounter"] != "01" {
			t.Fatalf("%s method: %v", v, r)
		}
	}
	if p := fx.sim.Problems(); len(p) != 0 {
		t.Fatalf("messages that fail the emv tables: %v", p)
	}
}

// Issue 12, ASVS 6.6.3: cancelling and repeating does not lift the bound on pushes: at most
// MaxPushesPerWindow confirmations per card within PushWindow, answered or not.
func TestPushesBoundedPerWindow(t *testing.T) {
	fx := newAppFixture(t)
	for i := 0; i < acs.MaxPushesPerWindow; i++ {
		_, page := fx.purchase(t, nil)
		done, _ := page.Submit("cancel", nil)
		if done.Status != http.StatusOK {
			t.Fatalf("cancel %d: %d", i, done.Status)
		}
	}
	a, _ := fx.sim.AReq(areqFile, map[string]any{"acctNumber": noahPAN})
	_, ares, _ := fx.sim.Send(a)
	page, err := fx.sim.Challenge(ares, sim3ds.CReq(ares, "02", nil), "", "de")
	if err != nil {
		t.Fatal(err)
	}
	if cres, ok, _ := page.Final(); !ok || cres["transStatus"] != "N" {
		t.Fatalf("a push past the bound: %v %.300s", cres, page.Body)
	}
	fx.Clock.Advance(acs.PushWindow)
	if _, page := fx.purchase(t, nil); page.Status != http.StatusOK || len(fx.pending(t, fx.a)) != 1 {
		t.Fatal("no push after the window")
	}
}

// Issue 12: when a process begins to shut down (SIGTERM), its long polls answer at once (the app asks
// again, of another process), so the server drains within shutdown_timeout instead of waiting 25 s.
func TestLongPollEndsOnShutdown(t *testing.T) {
	fx := newAppFixture(t)
	got := make(chan int, 1)
	go func() {
		var res appapi.ConfirmationsResponse
		got <- fx.app(t, fx.b, "/confirmations/wait", appapi.ConfirmationsRequest{CardID: fx.cardID}, &res)
	}()
	time.Sleep(300 * time.Millisecond) // let the wait begin
	close(fx.b.stopping)
	select {
	case code := <-got:
		if code != http.StatusOK {
			t.Fatalf("the long poll on shutdown: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll held the shutdown")
	}
}

// A signed app request counts once (issue 13 moved its nonce into the statements of the request): the
// list and an answer sent twice are refused as replays the second time, a wrong PIN sent twice is
// counted once (R-AUTH-6: the failures that lock the app are the cardholder's, not a replayer's), and
// an approval sent twice is a replay, not a second answer (R-AUTH-3).
func TestAppRequestsAreNotReplayed(t *testing.T) {
	fx := newAppFixture(t)
	_, page := fx.purchase(t, nil)
	twice := func(path string, body any) (int, int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, fx.a.url+"/app/v1"+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if err := appapi.Sign(req, b, fx.key, fx.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		var codes [2]int
		var msg string
		for i := range codes {
			r, _ := http.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(b))
			r.Header = req.Header.Clone()
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			codes[i] = resp.StatusCode
			msg, _ = out["message"].(string)
		}
		return codes[0], codes[1], msg
	}
	if first, second, msg := twice("/confirmations", appapi.ConfirmationsRequest{CardID: fx.cardID}); first != 200 || second != 401 ||
		!strings.Contains(msg, "replay") {
		t.Fatalf("list twice: %d %d %q", first, second, msg)
	}
	c := fx.pending(t, fx.a)[0].Confirmation
	wrong := appapi.AnswerRequest{CardID: fx.cardID, ConfirmationID: c.ID, Decision: "approve", UserVerification: "pin", PIN: "1111",
		Signature: fx.sign(c)}
	if first, second, msg := twice("/confirmations/answer", wrong); first != 400 || second != 401 || !strings.Contains(msg, "replay") {
		t.Fatalf("wrong PIN twice: %d %d %q", first, second, msg)
	}
	var failures int
	if err := fx.Pool.QueryRow(context.Background(), `SELECT auth_failures FROM registrations WHERE card_id = $1 AND state = 'active'`,
		fx.cardID).Scan(&failures); err != nil || failures != 1 {
		t.Fatalf("wrong PINs counted: %d %v", failures, err)
	}
	approve := appapi.AnswerRequest{CardID: fx.cardID, ConfirmationID: c.ID, Decision: "approve", UserVerification: "biometric",
		Signature: fx.sign(c)}
	if first, second, msg := twice("/confirmations/answer", approve); first != 200 || second != 401 || !strings.Contains(msg, "replay") {
		t.Fatalf("approval twice: %d %d %q", first, second, msg)
	}
	if cres, _, _ := moveOn(t, page).Final(); cres["transStatus"] != "Y" {
		t.Fatalf("final CRes %v", cres)
	}
	// The approval reset the run of wrong PINs (PSD2 RTS Art. 4: consecutive), in the batch of its end.
	if err := fx.Pool.QueryRow(context.Background(), `SELECT auth_failures FROM registrations WHERE card_id = $1 AND state = 'active'`,
		fx.cardID).Scan(&failures); err != nil || failures != 0 {
		t.Fatalf("wrong PINs after the approval: %d %v", failures, err)
	}
}
