package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/appapi"
	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/whitelist"
)

// The app stand-in against a real server: init, register, activate with the letter's code, list.
func TestRegisterAndActivate(t *testing.T) {
	st := testenv.NewStack(t)
	st.Clock.Advance(time.Since(st.Clock.Now())) // the app signs with the real time
	au := audit.New(st.Pool, st.Clock)
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: au, Clock: st.Clock, Log: st.Log, SMSPrice: decimal.Zero, Currency: "EUR"})
	e := server.New(server.Deps{Log: st.Log})
	e.Use(apidoctest.Validator(t, apidoctest.MustLoad("app")))
	wl := whitelist.New(st.Pool, st.Clock)
	appapi.New(appapi.Deps{Pool: st.Pool, Registrar: reg, Clock: st.Clock, Log: st.Log, Whitelist: wl}).Routes(e.Group("/app/v1"))
	srv := httptest.NewServer(e)
	defer srv.Close()

	statePath := filepath.Join(t.TempDir(), "state.json")
	app := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"-server", srv.URL, "-state", statePath}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := app("register", "-pan", "4000110000000017", "-expiry", "09/29", "-name", "Anna Schmidt", "-pin", "4821"); code != 1 || !strings.Contains(out, "acs-app init") {
		t.Fatalf("register before init: %d %s", code, out)
	}
	if code, out := app("init"); code != 0 {
		t.Fatalf("init: %s", out)
	}
	if fi, err := os.Stat(statePath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	if code, out := app("init"); code != 1 {
		t.Fatalf("second init overwrote the key: %s", out)
	}
	if code, out := app("register", "-pan", "4000110000000017", "-expiry", "09/29", "-name", "Anna Schmidt", "-pin", "1234"); code != 1 || !strings.Contains(out, "pin") {
		t.Fatalf("weak PIN: %d %s", code, out)
	}
	code, out := app("register", "-pan", "4000110000000017", "-expiry", "09/29", "-name", "Anna Schmidt", "-pin", "4821")
	if code != 0 || !strings.Contains(out, "400011******0017") || !strings.Contains(out, "emCertID") {
		t.Fatalf("register: %d %s", code, out)
	}
	idCode := st.PrintLetters(t)
	if code, out := app("activate", "-card", "0017", "-code", "ZZZZZ-ZZZZZ"); code != 1 || !strings.Contains(out, "not correct") {
		t.Fatalf("wrong code: %d %s", code, out)
	}
	if code, out := app("activate", "-card", "0017", "-code", idCode); code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("activate: %d %s", code, out)
	}
	if code, out := app("cards"); code != 0 || !strings.Contains(out, "400011******0017  active") {
		t.Fatalf("cards: %d %s", code, out)
	}
	raw, _ := os.ReadFile(statePath)
	if strings.Contains(string(raw), "4821") || strings.Contains(string(raw), "4000110000000017") {
		t.Fatal("the state file keeps the PIN or the card number")
	}

	// R-WL-3: the list in the app; removing an entry takes the app PIN.
	card, _ := st.Cards.FindByPAN(context.Background(), "4000110000000017")
	testenv.TrustMerchant(t, st.Pool, wl, card.ID, "Beispiel-Shop", "M-1")
	testenv.TrustMerchant(t, st.Pool, wl, card.ID, "Buchladen", "M-2")
	code, out = app("whitelist", "list", "-card", "0017")
	ids := regexp.MustCompile(`(?m)^([0-9a-f-]{36})  Beispiel-Shop`).FindStringSubmatch(out)
	if code != 0 || ids == nil || !strings.Contains(out, "Buchladen") {
		t.Fatalf("whitelist list: %d %s", code, out)
	}
	if code, out := app("whitelist", "remove", "-card", "0017", "-entry", ids[1], "-pin", "1111"); code != 1 || !strings.Contains(out, "PIN is not correct") {
		t.Fatalf("wrong PIN: %d %s", code, out)
	}
	if code, out := app("whitelist", "remove", "-card", "0017", "-entry", ids[1], "-pin", "4821"); code != 0 || strings.Contains(out, "Beispiel-Shop") ||
		!strings.Contains(out, "Buchladen") {
		t.Fatalf("remove: %d %s", code, out)
	}
	if code, _ := app("whitelist", "remove", "-card", "0017"); code != 2 {
		t.Fatal("remove without entry and PIN")
	}
	if code, _ := app("frobnicate"); code != 2 {
		t.Fatal("unknown command")
	}
}
