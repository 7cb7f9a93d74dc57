package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/appapi"
	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// R-AUTH-3, R-AUTH-4, R-AUTH-6: pending, watch, approve with PIN or biometric, a failed biometric check,
// decline, and the offline password, each against a real server.
func TestConfirmCommands(t *testing.T) {
	st := testenv.NewStack(t)
	st.Clock.Advance(time.Since(st.Clock.Now()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: audit.New(st.Pool, st.Clock), Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	results := acs.NewResults(acs.ResultDeps{Pool: st.Pool, Cards: st.Cards, AV: st.AV, Clock: st.Clock, Log: st.Log, Link: testenv.LoopbackDS(t)})
	ch := acs.NewChallenges(acs.ChallengeDeps{Pool: st.Pool, Registration: reg, Digests: st.Digests, Outbox: sms.NewOutbox(st.Keys, st.Clock),
		Clock: st.Clock, Log: st.Log, Results: results})
	dc := acs.NewDecider(acs.DecisionDeps{Pool: st.Pool, Cards: st.Cards, Clock: st.Clock, Log: st.Log,
		ChallengeURL: "https://acs.example/3ds/challenge", ReferenceNumber: "REF", AV: st.AV, Digests: st.Digests})
	wake := store.NewBroadcast()
	go wake.Run(ctx, st.Pool, "app_confirmations")
	e := server.New(server.Deps{Log: st.Log})
	e.Use(apidoctest.Validator(t, apidoctest.MustLoad("app")))
	appapi.New(appapi.Deps{Pool: st.Pool, Registrar: reg, Clock: st.Clock, Log: st.Log, Challenges: ch, Wake: wake}).Routes(e.Group("/app/v1"))
	srv := httptest.NewServer(e)
	defer srv.Close()
	statePath := filepath.Join(t.TempDir(), "state.json")
	app := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"-server", srv.URL, "-state", statePath}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	app("init")
	app("register", "-pan", "5200110000000012", "-expiry", "05/29", "-name", "Noah Schröder", "-pin", "4821")
	if code, out := app("activate", "-card", "0012", "-code", st.PrintLetters(t)); code != 0 {
		t.Fatalf("activate: %s", out)
	}
	// purchase opens an app challenge for Noah's card as a browser's CReq would.
	purchase := func(minor string) uuid.UUID {
		raw, _ := os.ReadFile("../../testdata/emv/areq-browser.json")
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		m["acctNumber"], m["purchaseAmount"], m["threeDSServerTransID"] = "5200110000000012", minor, uuid.NewString()
		raw, _ = json.Marshal(m)
		a, erro := acs.ParseAReq(raw)
		if erro != nil {
			t.Fatal(erro)
		}
		_, res, err := dc.Decide(context.Background(), a)
		if err != nil || res.TransStatus != "C" {
			t.Fatalf("%+v %v", res, err)
		}
		id := uuid.MustParse(res.ACSTransID)
		if err := ch.Start(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	outcome := func(id uuid.UUID) string {
		var s *string
		_ = st.Pool.QueryRow(context.Background(), `SELECT final_status FROM acs_transactions WHERE acs_trans_id = $1`, id).Scan(&s)
		if s == nil {
			return ""
		}
		return *s
	}

	if code, out := app("pending", "-card", "0012"); code != 0 || !strings.Contains(out, "no confirmations waiting") {
		t.Fatalf("pending, none: %d %s", code, out)
	}
	watched := make(chan string, 1)
	go func() { _, out := app("watch", "-card", "0012", "-count", "1"); watched <- out }()
	time.Sleep(300 * time.Millisecond)
	first := purchase("4990")
	select {
	case out := <-watched:
		if !strings.Contains(out, "49.90 EUR at Beispiel-Shop") {
			t.Fatalf("watch: %s", out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch saw nothing")
	}
	if code, out := app("approve", "-card", "0012"); code != 1 || !strings.Contains(out, "-pin") {
		t.Fatalf("approve without verification: %d %s", code, out)
	}
	if code, out := app("approve", "-card", "0012", "-pin", "4821"); code != 0 || !strings.Contains(out, "approved") || outcome(first) != "Y" {
		t.Fatalf("approve with PIN: %d %s", code, out)
	}
	second := purchase("2500")
	if code, out := app("approve", "-card", "0012", "-biometric"); code != 0 || outcome(second) != "Y" {
		t.Fatalf("approve with biometric: %d %s", code, out)
	}
	third := purchase("2500")
	if code, out := app("approve", "-card", "0012", "-fail-biometric"); code != 0 || !strings.Contains(out, "Identifikation fehlgeschlagen") ||
		outcome(third) != "N" {
		t.Fatalf("failed biometric: %d %s", code, out)
	}
	fourth := purchase("2500")
	if code, out := app("decline", "-card", "0012"); code != 0 || !strings.Contains(out, "declined") || outcome(fourth) != "N" {
		t.Fatalf("decline: %d %s", code, out)
	}

	fifth := purchase("4990")
	challenge, err := ch.OfflineChallenge(context.Background(), fifth)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := app("offline-password", "-card", "0012", "-challenge", challenge, "-amount", "49,90", "-pin", "1111"); code != 1 ||
		!strings.Contains(out, "PIN is not correct") {
		t.Fatalf("offline, wrong PIN: %d %s", code, out)
	}
	_, wrong := app("offline-password", "-card", "0012", "-challenge", challenge, "-amount", "49.91", "-pin", "4821")
	code, out := app("offline-password", "-card", "0012", "-challenge", challenge, "-amount", "49.90", "-pin", "4821")
	pw := regexp.MustCompile(`offline password: ([0-9]{8})`)
	w, r := pw.FindStringSubmatch(wrong), pw.FindStringSubmatch(out)
	if code != 0 || w == nil || r == nil {
		t.Fatalf("offline password: %d %s %s", code, wrong, out)
	}
	if _, err := ch.VerifyOffline(context.Background(), fifth, w[1]); err == nil {
		t.Fatal("the password for 49.91 confirmed 49.90")
	}
	if got, err := ch.VerifyOffline(context.Background(), fifth, r[1]); err != nil || got != acs.OutcomeSucceeded || outcome(fifth) != "Y" {
		t.Fatalf("offline: %s %v", got, err)
	}
	raw, _ := os.ReadFile(statePath)
	if strings.Contains(string(raw), "4821") {
		t.Fatal("the state file keeps the PIN")
	}
}
