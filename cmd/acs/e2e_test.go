package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"

	"example.com/acs/cards"
	"example.com/acs/config"
	"example.com/acs/internal/testenv"
)

// The end-to-end tests drive Debian's Chromium (headless) against `acs serve` with the demo shop, the
// SMS inbox and the virtual phone, as a newcomer would click through them. scripts/test.sh installs
// Chromium; run alone without it, they are skipped (say so loudly: ACS_E2E=1 makes that a failure).
// Screenshots go to .local/e2e/ (git-ignored).

const chromium = "/usr/bin/chromium"

type e2e struct {
	t        *testing.T
	base     string
	shot     string
	ctx      context.Context // the browser's
	staff    string          // a supervisor's token
	staffOTP string          // and the TOTP key of their authenticator app
	logs     *testenv.Buffer // everything acs serve logged
	dbURL    string
	before   map[string]bool // the mTANs in the SMS inbox before the purchase under way (pay, mtan)
	axeJS    string          // axe-core, put into every document of a test tab (a11y_test.go)
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("ACS_E2E") != "" {
			t.Fatalf("ACS_E2E is set but %s is missing", chromium)
		}
		t.Skipf("%s is not installed (scripts/test.sh installs it)", chromium)
	}
	axeJS, err := axeSource()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dbURL := testenv.DatabaseURL(t)
	h := testenv.HSMConfig(t)
	dir := t.TempDir()
	phone := filepath.Join(dir, "phone.json")
	body := fmt.Sprintf(`listen: %s
public_url: http://%s
database: {url: %q}
hsm: {module: %q, token_label: %q, pin: %q, key_prefix: %q}
log: {level: info, format: json}
issuer: {name: Musterbank AG}
threeds:
  reference_number: TEST_REF
  rreq_retry_interval: 1s
  directory_servers: [{scheme: visa, url: "http://%s/demo/rreq", hosts: ["127.0.0.1:*"], signing_cert_file: %q},
    {scheme: mastercard, url: "http://%s/demo/rreq", signing_cert_file: %q, signing_alg: PS256}]
  ds_link: {plain_loopback: true, ca_file: %q}
  risk: {tra_up_to_100: false, challenge_above: "2000", velocity_count: 0, known_browsers: false}
letters: {out_dir: %q}
sms: {gateway: dev, sender: Musterbank, price: "0.09", budget_per_hour: 200, budget_per_day: 500}
authentication_values: {generate_missing_keys: true}
demo: {enabled: true, phone_state: %q}
`, addr, addr, dbURL, h.Module, h.TokenLabel, h.Pin, h.KeyPrefix, addr, filepath.Join(dir, "pki", "acs-signing.pem"), addr,
		filepath.Join(dir, "pki", "acs-signing-rsa.pem"), filepath.Join(dir, "pki", "ca.pem"), filepath.Join(dir, "letters"), phone)
	cfgPath := filepath.Join(dir, "acs.yaml")
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"migrate"}, {"hsm", "init"}, {"pki", "dev", filepath.Join(dir, "pki")},
		{"import-cards", "../../testdata/cards.csv"}, {"demo", "seed", phone}} {
		if code, out, errs := cli(t, append([]string{"-config", cfgPath}, args...)...); code != 0 {
			t.Fatalf("acs %v: %s %s", args, out, errs)
		}
	}
	_, out, _ := cli(t, "-config", cfgPath, "staff", "add", "sven", "supervisor")
	staff := regexp.MustCompile(`(?m)^token \(valid [0-9]+ days\): (acss_\S+)$`).FindStringSubmatch(out)
	otpKey := regexp.MustCompile(`(?m)^or type in the key: ([A-Z2-7]+)$`).FindStringSubmatch(out)
	if staff == nil || otpKey == nil {
		t.Fatalf("staff add printed no token or TOTP key")
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &testenv.Buffer{}
	go func() { done <- serve(ctx, cfg, newLogger(cfg.Log, logs)) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("acs serve did not become ready")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		// chromedp makes (and removes) a fresh user-data dir of its own.
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1000, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel() })
	if err := chromedp.Run(bctx); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join("..", "..", ".local", "e2e")
	if err := os.MkdirAll(shot, 0o755); err != nil {
		t.Fatal(err)
	}
	return &e2e{t: t, base: base, shot: shot, ctx: bctx, staff: staff[1], staffOTP: otpKey[1], logs: logs, dbURL: dbURL, axeJS: axeJS}
}

// tab opens a new browser tab with the given Accept-Language, bounded in time; it is closed when the
// (sub)test t ends.
func (e *e2e) tab(t *testing.T, lang string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.ctx)
	ctx, cancel2 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancel2(); cancel() })
	if err := chromedp.Run(ctx, network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": lang}),
		injectAxe(e.axeJS),
		// Each tab behaves as the window in front (autofocus and :focus-visible work in every tab at once).
		emulation.SetFocusEmulationEnabled(true)); err != nil {
		e.t.Fatal(err)
	}
	return ctx
}

func (e *e2e) run(ctx context.Context, what string, actions ...chromedp.Action) {
	e.t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		l := e.logs.String()
		e.t.Fatalf("%s: %v\nlog tail: %s", what, err, l[max(0, len(l)-3000):])
	}
}

func (e *e2e) screenshot(ctx context.Context, name string) {
	e.t.Helper()
	var png []byte
	// A tab in the background renders no frames to capture: bring it to the front first.
	e.run(ctx, "screenshot "+name, page.BringToFront(), chromedp.CaptureScreenshot(&png))
	if err := os.WriteFile(filepath.Join(e.shot, name+".png"), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// pay fills in the checkout and pays.
func (e *e2e) pay(ctx context.Context, pan, merchantID, amount, window string) {
	e.t.Helper()
	// The mTANs in the inbox before this purchase (the demo seed's among them): the purchase's own is
	// the one that comes after (e.mtan). Reading the inbox at once took the seed's under load.
	e.before = map[string]bool{}
	for _, code := range e.inbox() {
		e.before[code] = true
	}
	e.run(ctx, "checkout", chromedp.Navigate(e.base+"/demo"), chromedp.WaitVisible("#pay", chromedp.ByQuery),
		chromedp.SetValue("#card", pan, chromedp.ByQuery), chromedp.SetValue("#merchant", merchantID, chromedp.ByQuery),
		chromedp.SetValue("#amount", amount, chromedp.ByQuery), chromedp.SetValue("#window", window, chromedp.ByQuery),
		chromedp.Click("#pay", chromedp.ByQuery))
}

// The challenge runs in the shop's iframe (same origin here); the tests reach into it with script
// through DevTools, which a page's CSP does not restrict.
const frameDoc = `document.getElementById("challenge").contentDocument`

// frame waits until the challenge iframe shows sel.
func (e *e2e) frame(ctx context.Context, sel string) {
	e.t.Helper()
	js := fmt.Sprintf(`(() => { const f = document.getElementById("challenge"); return !!(f && f.contentDocument && f.contentDocument.querySelector(%q)); })()`, sel)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var ok bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(js, &ok)); err == nil && ok {
			return
		}
	}
	e.screenshot(ctx, "failed-frame")
	e.t.Fatalf("the challenge frame never showed %s", sel)
}

// inFrame runs statements against the challenge frame's document d.
func (e *e2e) inFrame(ctx context.Context, what, statements string) {
	e.t.Helper()
	var ignored any
	e.run(ctx, what, chromedp.Evaluate(`(() => { const d = `+frameDoc+`; `+statements+`; return true; })()`, &ignored))
}

// frameText returns the challenge frame's visible text.
func (e *e2e) frameText(ctx context.Context) string {
	e.t.Helper()
	var text string
	e.run(ctx, "frame text", chromedp.Evaluate(frameDoc+`.body.innerText`, &text))
	return text
}

// confirmMTAN types the mTAN and the answer into the frame, ticks trust if asked, and confirms.
func (e *e2e) confirmMTAN(ctx context.Context, code string, trust bool) {
	e.t.Helper()
	e.inFrame(ctx, "confirm", fmt.Sprintf(`d.querySelector("#mtan").value = %q; d.querySelector("#answer").value = "Kiel";
		d.querySelector('input[name="trust"]').checked = %t; d.querySelector('button[value="verify"]').click()`, code, trust))
}

// result waits for the order page and returns its status line and ECI.
func (e *e2e) result(ctx context.Context) (string, string) {
	e.t.Helper()
	var status, eci string
	e.run(ctx, "order page", chromedp.WaitVisible("#order", chromedp.ByQuery), chromedp.Text("#status", &status, chromedp.ByQuery),
		chromedp.Text("#eci", &eci, chromedp.ByQuery))
	return status, eci
}

// waitText waits until the page's text contains want.
func (e *e2e) waitText(ctx context.Context, want string) {
	e.t.Helper()
	var text string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if chromedp.Run(ctx, chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &text)) == nil && strings.Contains(text, want) {
			return
		}
	}
	e.t.Fatalf("the page never said %q: %s", want, text)
}

var mtanRE = regexp.MustCompile(`mTAN ([0-9]{6})`)

// mtan reads the newest mTAN from the SMS inbox page, as the cardholder reads the phone.
func (e *e2e) mtan() string {
	e.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, code := range e.inbox() {
			if !e.before[code] {
				return code
			}
		}
	}
	e.t.Fatal("no mTAN arrived")
	return ""
}

// inbox lists the mTANs the development SMS inbox holds.
func (e *e2e) inbox() []string {
	resp, err := http.Get(e.base + "/dev/sms")
	if err != nil {
		return nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var codes []string
	for _, m := range mtanRE.FindAllStringSubmatch(string(b), -1) {
		codes = append(codes, m[1])
	}
	return codes
}

func TestBrowser(t *testing.T) {
	e := startE2E(t)

	// R-AUTH-2, R-AUTH-5: an mTAN purchase; a wrong mTAN first, then the right one.
	t.Run("mTAN purchase, wrong mTAN then right", func(t *testing.T) {
		ctx := e.tab(t, "de-DE,de;q=0.9")
		e.pay(ctx, "4000110000000017", "M-000123", "49,90", "03")
		e.frame(ctx, "#mtan")
		if text := e.frameText(ctx); !strings.Contains(text, "Beispiel-Shop") || !strings.Contains(text, "49,90 EUR") {
			t.Fatalf("challenge page: %s", text)
		}
		code := e.mtan()
		e.screenshot(ctx, "challenge-mtan-de")
		e.axe(ctx, "mTAN challenge", true)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		e.confirmMTAN(ctx, wrong, false)
		e.frame(ctx, "#challenge-error")
		if text := e.frameText(ctx); !strings.Contains(text, "nicht korrekt") {
			t.Fatalf("after a wrong mTAN: %s", text)
		}
		e.axe(ctx, "mTAN challenge after a wrong mTAN", true)
		e.confirmMTAN(ctx, code, false)
		if status, eci := e.result(ctx); !strings.Contains(status, "Zahlung authentifiziert") || eci != "05" {
			t.Fatalf("result: %q %q", status, eci)
		}
		e.screenshot(ctx, "order-approved")
	})

	// R-AUTH-3: an app purchase approved on the virtual phone; the shop's page moves on by itself.
	t.Run("app purchase approved on the phone", func(t *testing.T) {
		ctx := e.tab(t, "de-DE")
		e.pay(ctx, "5200110000000012", "M-000789", "149,00", "03")
		e.frame(ctx, "#waiting")
		e.screenshot(ctx, "challenge-app-de")
		e.axe(ctx, "app challenge, waiting", true)
		phone := e.tab(t, "de-DE")
		e.run(phone, "phone", chromedp.Navigate(e.base+"/demo/phone"), chromedp.WaitVisible(".approve-pin", chromedp.ByQuery))
		var merchant string
		e.run(phone, "phone shows the purchase", chromedp.Text(".merchant", &merchant, chromedp.ByQuery))
		if merchant != "Elektro Müller & Söhne" {
			t.Fatalf("phone shows %q", merchant)
		}
		e.screenshot(phone, "virtual-phone")
		e.run(phone, "approve with PIN", chromedp.SendKeys(`input[name="pin"]`, "4821", chromedp.ByQuery),
			chromedp.Click(".approve-pin", chromedp.ByQuery), chromedp.WaitVisible("#notice", chromedp.ByQuery))
		if status, eci := e.result(ctx); !strings.Contains(status, "Zahlung authentifiziert") || eci != "02" {
			t.Fatalf("result: %q %q", status, eci)
		}
	})

	// Issue 14: a purchase in the merchant's app through its 3DS SDK (the demo's in-app checkout): the
	// SDK's OOB screen, the approval on the virtual phone, "continue", the result.
	t.Run("in-app purchase through the SDK", func(t *testing.T) {
		ctx := e.tab(t, "de-DE")
		e.run(ctx, "in-app checkout", chromedp.Navigate(e.base+"/demo"), chromedp.WaitVisible("#pay-app", chromedp.ByQuery),
			chromedp.SetValue("#card", "5200110000000012", chromedp.ByQuery), chromedp.SetValue("#merchant", "M-000456", chromedp.ByQuery),
			chromedp.SetValue("#amount", "129,00", chromedp.ByQuery), chromedp.Click("#pay-app", chromedp.ByQuery),
			chromedp.WaitVisible("#app-continue", chromedp.ByQuery))
		e.waitText(ctx, "129,00 EUR")
		e.screenshot(ctx, "in-app-sdk-oob")
		phone := e.tab(t, "de-DE")
		e.run(phone, "phone", chromedp.Navigate(e.base+"/demo/phone"), chromedp.WaitVisible(".approve-pin", chromedp.ByQuery),
			chromedp.SendKeys(`input[name="pin"]`, "4821", chromedp.ByQuery), chromedp.Click(".approve-pin", chromedp.ByQuery),
			chromedp.WaitVisible("#notice", chromedp.ByQuery))
		e.run(ctx, "continue in the merchant's app", chromedp.Click("#app-continue", chromedp.ByQuery))
		if status, eci := e.result(ctx); !strings.Contains(status, "Zahlung authentifiziert") || eci != "02" {
			t.Fatalf("result: %q %q", status, eci)
		}
	})

	t.Run("app purchase declined", func(t *testing.T) {
		ctx := e.tab(t, "en")
		e.pay(ctx, "5200110000000012", "M-000789", "99,00", "03")
		e.frame(ctx, "#waiting")
		phone := e.tab(t, "de-DE")
		e.run(phone, "decline", chromedp.Navigate(e.base+"/demo/phone"), chromedp.WaitVisible(".decline", chromedp.ByQuery),
			chromedp.Click(".decline", chromedp.ByQuery), chromedp.WaitVisible("#notice", chromedp.ByQuery))
		if status, _ := e.result(ctx); !strings.Contains(status, "nicht authentifiziert") {
			t.Fatalf("result: %q", status)
		}
	})

	// R-WL-1, R-WL-2: the demo merchant Anna trusts goes through at once; trust another while
	// confirming, and the next purchase there goes through too.
	t.Run("whitelist then frictionless", func(t *testing.T) {
		ctx := e.tab(t, "de-DE")
		frictionless := func(merchantID string) {
			t.Helper()
			e.pay(ctx, "4000110000000017", merchantID, "180,00", "03")
			var flow string
			status, _ := e.result(ctx)
			e.run(ctx, "flow", chromedp.Text("#order", &flow, chromedp.ByQuery))
			if !strings.Contains(status, "Zahlung authentifiziert") || !strings.Contains(flow, "ohne Challenge") {
				t.Fatalf("%s: %q %q", merchantID, status, flow)
			}
		}
		frictionless("M-000456") // seeded: Buchladen am Markt
		e.pay(ctx, "4000110000000017", "M-000789", "180,00", "03")
		e.frame(ctx, "#mtan")
		e.confirmMTAN(ctx, e.mtan(), true)
		if status, _ := e.result(ctx); !strings.Contains(status, "Zahlung authentifiziert") {
			t.Fatalf("confirming with trust: %q", status)
		}
		frictionless("M-000789")
	})

	// R-REG-1, R-REG-2, R-REG-6: registration in the portal up to the letter.
	t.Run("registration in the portal", func(t *testing.T) {
		ctx := e.tab(t, "de-DE")
		e.run(ctx, "card check", chromedp.Navigate(e.base+"/portal/register"), chromedp.WaitVisible("#pan", chromedp.ByQuery),
			chromedp.SendKeys("#pan", "4000 1100 0000 0025", chromedp.ByQuery), chromedp.SendKeys("#expiry", "03/28", chromedp.ByQuery),
			chromedp.SendKeys("#name", "Jonas Müller", chromedp.ByQuery), chromedp.Submit("#pan", chromedp.ByQuery),
			chromedp.WaitVisible(`input[name="mobile"]`, chromedp.ByQuery),
			chromedp.SendKeys(`input[name="mobile"]`, "0170 1234567", chromedp.ByQuery),
			chromedp.SetValue(`select[name="question"]`, "first_pet", chromedp.ByQuery),
			chromedp.SendKeys(`input[name="answer"]`, "Bello", chromedp.ByQuery),
			chromedp.Click(`input[name="accept_price"]`, chromedp.ByQuery), chromedp.Submit(`input[name="mobile"]`, chromedp.ByQuery))
		e.waitText(ctx, "ID-Code ist unterwegs")
		e.screenshot(ctx, "portal-letter-requested")
		e.axe(ctx, "portal, letter requested", false)
	})

	// R-SUP-2, R-AUTH-7: the staff console finds Anna's card and shows each transaction with its reasons.
	t.Run("support console", func(t *testing.T) {
		ctx := e.tab(t, "de-DE")
		code, err := totp.GenerateCode(e.staffOTP, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// PCI DSS 8.4.2: the token and the authenticator app's code sign in; the token is not kept.
		e.run(ctx, "console", chromedp.Navigate(e.base+"/support/console"), chromedp.WaitVisible("#token", chromedp.ByQuery),
			chromedp.SetValue("#token", e.staff, chromedp.ByQuery), chromedp.SendKeys("#otp", code, chromedp.ByQuery),
			chromedp.Click("#login", chromedp.ByQuery), chromedp.WaitVisible("#logout", chromedp.ByQuery))
		var kept string
		e.run(ctx, "console storage", chromedp.Evaluate(`JSON.stringify(sessionStorage) + document.getElementById("token").value`, &kept))
		if strings.Contains(kept, e.staff) {
			t.Fatal("the console keeps the long-lived staff token")
		}
		e.run(ctx, "console search", chromedp.SendKeys("#last4", "0017", chromedp.ByQuery), chromedp.SendKeys("#holder", "Anna Schmidt", chromedp.ByQuery),
			chromedp.Click("#search", chromedp.ByQuery), chromedp.WaitVisible(".open", chromedp.ByQuery), chromedp.Click(".open", chromedp.ByQuery))
		e.waitText(ctx, "challenge_succeeded")
		e.waitText(ctx, "Beispiel-Shop")
		var text string
		e.run(ctx, "console text", chromedp.Evaluate(`document.body.innerText`, &text))
		if strings.Contains(strings.ReplaceAll(text, " ", ""), "4000110000000017") {
			t.Fatal("the console shows the full card number (R-SUP-2)")
		}
		e.screenshot(ctx, "support-console")
		e.axe(ctx, "staff console, card view", false)
	})

	// The challenge page at every EMV window size, in German and English.
	t.Run("window sizes", func(t *testing.T) {
		for _, lang := range []string{"de", "en"} {
			for _, size := range []string{"01", "02", "03", "04", "05"} {
				t.Run(size+"-"+lang, func(t *testing.T) {
					ctx := e.tab(t, lang)
					e.pay(ctx, "4000110000000017", "M-000789", "2499,00", size)
					e.frame(ctx, "#mtan")
					e.screenshot(ctx, "challenge-"+size+"-"+lang)
					e.axe(ctx, "mTAN challenge "+size+" "+lang, true)
				})
			}
		}
	})

	// Issue 12, R-KEY-1/2, PCI DSS 3.5.1: after every flow above, the service's logs, every column of
	// every table that is not a ciphertext, and /metrics hold no card number (no Luhn-valid run of 13
	// to 19 digits at all), no mobile number, security answer or app PIN of the demo data.
	t.Run("leak scan", func(t *testing.T) {
		resp, err := http.Get(e.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		places := map[string]string{"log": e.logs.String(), "metrics": string(metrics), "database": dumpPlain(t, e.dbURL)}
		// The scan reads what the flows left: the masked card in the tables, the decisions in the log.
		if !strings.Contains(places["database"], "400011******0017") || !strings.Contains(places["log"], "areq decided") ||
			!strings.Contains(places["metrics"], "acs_ares_total") {
			t.Fatal("the scan did not see the flows' data")
		}
		for where, text := range places {
			for _, m := range digitRuns.FindAllStringSubmatch(text, -1) {
				if run := m[2]; cards.Luhn(run) {
					t.Errorf("%s holds a Luhn-valid number %s…%s", where, run[:6], run[len(run)-4:])
				}
			}
			for _, secret := range []string{"15112345678", "1512345678", "Kiel"} {
				if strings.Contains(text, secret) {
					t.Errorf("%s holds %q", where, secret)
				}
			}
			// The PIN as a value of its own (not four digits inside an id or a duration).
			if pinAlone.MatchString(text) {
				t.Errorf("%s holds the app PIN", where)
			}
		}
	})
}

// pinAlone is the demo PIN standing alone. A UUID's group is no PIN: a version-4 id's third group is "4"
// and three random hex digits, so one in 4,096 ids reads "-4821-" (seen once the app channel stored its
// SDK's transaction ids as text).
var pinAlone = regexp.MustCompile(`(^|[^0-9a-fA-F.-])4821([^0-9a-fA-F.-]|$)`)

// digitRuns are runs of 13 to 19 digits standing alone: not part of a longer number or of a decimal
// fraction (a metric's 0.0067160000000001).
var digitRuns = regexp.MustCompile(`(^|[^0-9.])([0-9]{13,19})([^0-9.]|$)`)

// dumpPlain is every column of every table that is not a ciphertext or keyed digest (bytea), as text.
func dumpPlain(t *testing.T, dbURL string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT table_name, string_agg(quote_ident(column_name), ',')
		FROM information_schema.columns WHERE table_schema = 'public' AND data_type <> 'bytea' GROUP BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	type table struct{ name, cols string }
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var x table
		return x, r.Scan(&x.name, &x.cols)
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tb := range tables {
		var text *string
		if err := conn.QueryRow(context.Background(), `SELECT string_agg(row_to_json(x)::text, E'\n') FROM (SELECT `+tb.cols+
			` FROM `+pgx.Identifier{tb.name}.Sanitize()+`) x`).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if text != nil {
			b.WriteString(*text)
		}
	}
	return b.String()
}

// The leak scan finds the demo cards and passes other digit runs.
func TestLuhn(t *testing.T) {
	if m := digitRuns.FindAllStringSubmatch(`{"pan":"4000110000000017"} 0.0067160000000001 x`, -1); len(m) != 1 || m[0][2] != "4000110000000017" {
		t.Fatalf("digit runs: %q", m)
	}
	for s, want := range map[string]bool{"4000110000000017": true, "5200110000000012": true, "4000110000000018": false,
		"20261201213000123": false} {
		if cards.Luhn(s) != want {
			t.Errorf("%s: %v", s, !want)
		}
	}
}
