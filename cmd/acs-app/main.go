// Command acs-app stands in for the bank's app on the cardholder's phone: it creates and keeps a device
// key (P-256) in a local state file, registers a card for the app method, redeems the ID code from the
// letter, lists its cards with their emCertIDs, confirms or declines purchases (confirm.go), derives
// offline passwords, and manages trusted merchants. Every request is signed with the device key exactly
// as the real app signs (package appapi).
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"example.com/acs/appapi"
)

const usage = `usage: acs-app [-server URL] [-state FILE] COMMAND [FLAGS]

Commands:
  init                                  create this installation's device key
  register -pan N -expiry MM/YY (-name NAME | -dob YYYY-MM-DD) -pin NNNN [-platform android|ios] [-os VERSION]
                                        bind a card to this installation; a letter with an ID code follows
  activate -card LAST4 -code ID-CODE    complete the registration with the code from the letter
  cards                                 list the cards of this installation
  pending -card LAST4                   the purchases waiting for confirmation
  watch -card LAST4 [-count N]          wait for purchases to confirm and show them as they come
  approve -card LAST4 [-id ID] (-pin NNNN | -biometric | -fail-biometric)
                                        confirm a purchase (signs exactly the data shown)
  decline -card LAST4 [-id ID]          refuse a purchase
  offline-password -card LAST4 -challenge N -amount 49.90 -pin NNNN
                                        the password for the payment page when the phone is offline
  whitelist list -card LAST4            the card's trusted merchants
  whitelist remove -card LAST4 -entry ID -pin NNNN
                                        remove a trusted merchant (confirmed with the app PIN)
`

// state and cardState are the state file's shape, shared with `acs demo seed` (appapi.DeviceState).
type (
	state     = appapi.DeviceState
	cardState = appapi.DeviceCard
)

type app struct {
	server    string
	statePath string
	out       io.Writer
	client    *http.Client
	now       func() time.Time
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("acs-app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	home, _ := os.UserHomeDir()
	a := &app{out: stdout, client: &http.Client{Timeout: 15 * time.Second}, now: time.Now}
	fs.StringVar(&a.server, "server", envOr("ACS_APP_SERVER", "http://127.0.0.1:8080"), "ACS base URL")
	fs.StringVar(&a.statePath, "state", envOr("ACS_APP_STATE", filepath.Join(home, ".acs-app", "state.json")), "state file")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var err error
	switch cmd, rest := fs.Arg(0), fs.Args()[1:]; cmd {
	case "init":
		err = a.init()
	case "register":
		err = a.register(rest, stderr)
	case "activate":
		err = a.activate(rest, stderr)
	case "cards":
		err = a.cards()
	case "whitelist":
		err = a.whitelist(rest, stderr)
	case "pending":
		err = a.listPending(rest, stderr)
	case "watch":
		err = a.watch(rest, stderr)
	case "approve":
		err = a.answer(true, rest, stderr)
	case "decline":
		err = a.answer(false, rest, stderr)
	case "offline-password":
		err = a.offlinePassword(rest, stderr)
	default:
		fs.Usage()
		return 2
	}
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "acs-app:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (a *app) load() (*state, *ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(a.statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, errors.New("no device key yet: run `acs-app init` first")
	}
	if err != nil {
		return nil, nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("state file %s: %w", a.statePath, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(st.DeviceKey)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("state file %s: bad device key", a.statePath)
	}
	return &st, key, nil
}

func (a *app) save(st *state) error { return st.Save(a.statePath) }

func (a *app) init() error {
	if _, err := os.Stat(a.statePath); err == nil {
		return fmt.Errorf("%s exists: this installation has a device key already", a.statePath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if err := a.save(&state{DeviceKey: der, OfflineSecret: secret}); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "device key and offline-password secret created in %s\n", a.statePath)
	return nil
}

// call sends a signed JSON request and decodes the answer into out; an error answer becomes an error
// carrying the server's message and field problems.
func (a *app) call(key *ecdsa.PrivateKey, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(a.server, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := appapi.Sign(req, body, key, a.now()); err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		}
		_ = json.Unmarshal(raw, &e)
		msg := e.Message
		for f, p := range e.Fields {
			msg += "; " + f + ": " + p
		}
		return fmt.Errorf("%s (HTTP %d)", msg, resp.StatusCode)
	}
	return json.Unmarshal(raw, out)
}

func (a *app) register(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pan := fs.String("pan", "", "card number")
	expiry := fs.String("expiry", "", "MM/YY as on the card")
	name := fs.String("name", "", "name as on the card")
	dob := fs.String("dob", "", "date of birth YYYY-MM-DD (instead of the name)")
	pin := fs.String("pin", "", "the app PIN, 4 digits (mandatory, also with biometrics)")
	platform := fs.String("platform", "android", "android or ios")
	osVersion := fs.String("os", "14", "OS version as the phone reports it")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	m, y, ok := strings.Cut(*expiry, "/")
	month, _ := strconv.Atoi(m)
	year, _ := strconv.Atoi(y)
	if year < 100 {
		year += 2000
	}
	if *pan == "" || !ok || *pin == "" {
		fs.Usage()
		return errUsage
	}
	st, key, err := a.load()
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	var res appapi.RegisterResponse
	if err := a.call(key, "/app/v1/registrations", appapi.RegisterRequest{PAN: *pan, ExpiryMonth: month, ExpiryYear: year,
		Name: *name, DateOfBirth: *dob, DeviceKey: pub, Platform: *platform, OSVersion: *osVersion, PIN: *pin,
		OfflineSecret: st.OfflineSecret}, &res); err != nil {
		return err
	}
	cs := cardState{CardID: res.CardID.String(), Card: res.Card, EmCertID: res.EmCertID.String(), State: res.State,
		PINCheck: appapi.PINCheck(st.OfflineSecret, *pin)}
	kept := st.Cards[:0]
	for _, c := range st.Cards {
		if c.CardID != cs.CardID {
			kept = append(kept, c)
		}
	}
	st.Cards = append(kept, cs)
	if err := a.save(st); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "card %s registered for this app, emCertID %s\nan ID-code letter is on its way; then run: acs-app activate -card %s -code XXXXX-XXXXX\n",
		res.Card, res.EmCertID, res.Card[len(res.Card)-4:])
	return nil
}

func (a *app) activate(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("activate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	last4 := fs.String("card", "", "last 4 digits of the card")
	code := fs.String("code", "", "ID code from the letter")
	if err := fs.Parse(args); err != nil || *last4 == "" || *code == "" {
		fs.Usage()
		return errUsage
	}
	st, key, err := a.load()
	if err != nil {
		return err
	}
	i := -1
	for j, c := range st.Cards {
		if strings.HasSuffix(c.Card, *last4) {
			i = j
		}
	}
	if i < 0 {
		return fmt.Errorf("no card ending in %s in this app; run `acs-app register` first", *last4)
	}
	var res struct {
		State    string `json:"state"`
		EmCertID string `json:"em_cert_id"`
	}
	if err := a.call(key, "/app/v1/registrations/activate", appapi.ActivateRequest{CardID: mustUUID(st.Cards[i].CardID), IDCode: *code}, &res); err != nil {
		return err
	}
	st.Cards[i].State = res.State
	if err := a.save(st); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "card %s: %s, emCertID %s\n", st.Cards[i].Card, res.State, res.EmCertID)
	return nil
}

func (a *app) cards() error {
	st, _, err := a.load()
	if err != nil {
		return err
	}
	if len(st.Cards) == 0 {
		fmt.Fprintln(a.out, "no cards registered in this app")
	}
	for _, c := range st.Cards {
		fmt.Fprintf(a.out, "%s  %-8s  emCertID %s\n", c.Card, c.State, c.EmCertID)
	}
	return nil
}

// card finds a card of this installation by its last 4 digits.
func (a *app) card(st *state, last4 string) (cardState, error) {
	for _, c := range st.Cards {
		if last4 != "" && strings.HasSuffix(c.Card, last4) {
			return c, nil
		}
	}
	return cardState{}, fmt.Errorf("no card ending in %q in this app", last4)
}

func (a *app) whitelist(args []string, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "remove") {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("whitelist "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	last4 := fs.String("card", "", "last 4 digits of the card")
	entry := fs.String("entry", "", "the entry's id (from whitelist list)")
	pin := fs.String("pin", "", "the app PIN")
	if err := fs.Parse(args[1:]); err != nil || *last4 == "" || (args[0] == "remove" && (*entry == "" || *pin == "")) {
		fs.Usage()
		return errUsage
	}
	st, key, err := a.load()
	if err != nil {
		return err
	}
	c, err := a.card(st, *last4)
	if err != nil {
		return err
	}
	var res appapi.WhitelistResponse
	if args[0] == "list" {
		err = a.call(key, "/app/v1/whitelist", appapi.WhitelistRequest{CardID: mustUUID(c.CardID)}, &res)
	} else {
		id, perr := uuid.Parse(*entry)
		if perr != nil {
			return fmt.Errorf("-entry must be an entry id as whitelist list prints it")
		}
		err = a.call(key, "/app/v1/whitelist/remove", appapi.WhitelistRemoveRequest{CardID: mustUUID(c.CardID), EntryID: id, PIN: *pin}, &res)
		if err == nil {
			fmt.Fprintln(a.out, "removed; the next payment there will be confirmed again")
		}
	}
	if err != nil {
		return err
	}
	if len(res.Entries) == 0 {
		fmt.Fprintf(a.out, "card %s has no trusted merchants\n", c.Card)
	}
	for _, e := range res.Entries {
		fmt.Fprintf(a.out, "%s  %s  since %s  (acquirer %s, merchant id %s)\n", e.ID, e.MerchantName, e.AddedAt.Format("2006-01-02"),
			e.AcquirerBIN, e.AcquirerMerchantID)
	}
	return nil
}

func mustUUID(s string) uuid.UUID {
	u, _ := uuid.Parse(s)
	return u
}
