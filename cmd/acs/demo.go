package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"example.com/acs/acs"
	"example.com/acs/appapi"
	"example.com/acs/apperr"
	"example.com/acs/cards"
	"example.com/acs/config"
	"example.com/acs/letters"
	"example.com/acs/registration"
	"example.com/acs/sms"
	"github.com/google/uuid"
)

// demoCard is the demo cardholder whose card `acs demo seed` registers for mTAN, and demoAppCard the one
// registered for the app on a demo phone, so that purchases can be walked through at once. The data are
// in testdata/cards.csv and the README; never real ones.
var (
	demoCard    = registration.HolderData{PAN: "4000110000000017", ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"}
	demoAppCard = registration.HolderData{PAN: "5200110000000012", ExpiryMonth: 5, ExpiryYear: 2029, Name: "Noah Schröder"}
)

// demoPIN is the demo phone's app PIN (README).
const demoPIN = "4821"

const (
	demoMobile   = "+4915112345678"
	demoQuestion = "birthplace"
	demoAnswer   = "Kiel"
)

// captureGateway delivers to the development inbox and keeps the texts, so the seed can read the
// number-confirmation code as the cardholder would on the phone.
type captureGateway struct {
	inbox *sms.DevInbox
	mu    sync.Mutex
	texts []string
}

func (g *captureGateway) Send(ctx context.Context, to, text string) (string, error) {
	g.mu.Lock()
	g.texts = append(g.texts, text)
	g.mu.Unlock()
	return g.inbox.Send(ctx, to, text)
}

var confirmCode = regexp.MustCompile(`\b[0-9]{6}\b`)

// demoSeed registers the demo cards through the same steps a cardholder takes: Anna's for mTAN (card
// check, ID code letter, activation, number confirmation by SMS), Noah's for the app on a demo phone
// whose state file (device key, offline secret) it writes to phonePath for acs-app. Development only:
// it refuses unless SMS go to the development inbox. Running it again changes nothing, except that a
// missing phone file gets a new phone (the old binding is replaced).
func demoSeed(ctx context.Context, cfg *config.Config, log *slog.Logger, phonePath string, out io.Writer) error {
	if cfg.SMS.Gateway != "dev" {
		return errors.New("demo seed: only for development set-ups (sms.gateway: dev)")
	}
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	s := &seeder{d: d, cfg: cfg, log: log}
	s.lt = letters.New(letters.Deps{Pool: d.pool, Verifier: d.hsm, Cards: d.cards, Clock: d.clock, Log: log, Issuer: cfg.Issuer.Name,
		Access: d.audit, NewCode: func() (string, error) {
			c, err := letters.NewCode()
			s.code = c
			return c, err
		}})
	s.reg = registration.New(registration.Deps{Pool: d.pool, Cards: d.cards, Letters: s.lt, Data: d.keys, Keys: d.hsm,
		Outbox: sms.NewOutbox(d.keys, d.clock), Audit: d.audit, Clock: d.clock, Log: log, SMSPrice: d.smsPrice, Currency: cfg.SMS.Currency})
	if err := os.MkdirAll(cfg.Letters.OutDir, 0o700); err != nil {
		return err
	}
	if err := s.mtan(ctx, out); err != nil {
		return err
	}
	if phonePath != "" {
		if err := s.app(ctx, phonePath, out); err != nil {
			return err
		}
	}
	if cfg.Demo.FleetCards != "" {
		return s.fleet(ctx, cfg.Demo.FleetCards, cfg.Demo.FleetPhone, out)
	}
	return nil
}

type seeder struct {
	d    *deps
	cfg  *config.Config
	log  *slog.Logger
	lt   *letters.Letters
	reg  *registration.Registrar
	code string // the ID code of the letter printed last
}

// activate prints the card's requested letter and redeems its code, as the cardholder does with the
// letter in hand.
func (s *seeder) activate(ctx context.Context, cardID uuid.UUID, method registration.Method) error {
	s.code = ""
	if _, err := s.lt.Batch(ctx, s.cfg.Letters.OutDir); err != nil {
		return err
	}
	if s.code == "" {
		return errors.New("demo seed: no letter printed")
	}
	_, err := s.reg.Activate(ctx, cardID, method, s.code)
	return err
}

func (s *seeder) mtan(ctx context.Context, out io.Writer) error {
	d := s.d
	card, err := d.cards.FindByPAN(ctx, demoCard.PAN)
	if err != nil {
		return fmt.Errorf("demo seed: the demo card is not imported (acs import-cards testdata/cards.csv): %w", err)
	}
	if _, err := d.registration.Active(ctx, card.ID); err == nil {
		fmt.Fprintf(out, "demo seed: card %s is registered already\n", card.Masked())
		return nil
	} else if apperr.KindOf(err) != apperr.NotFound {
		return err
	}
	if _, err := s.reg.VerifyCard(ctx, demoCard); err != nil {
		return err
	}
	if _, err := s.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: demoMobile, Question: demoQuestion, Answer: demoAnswer,
		AcceptPrice: true, Terms: s.reg.PriceTerms().ID()}); err != nil {
		return err
	}
	if err := s.activate(ctx, card.ID, registration.MethodMTAN); err != nil {
		return err
	}
	gw := &captureGateway{inbox: &sms.DevInbox{Pool: d.pool, Clock: d.clock}}
	disp := &sms.Dispatcher{Pool: d.pool, Keys: d.keys, Gateway: gw, Clock: d.clock, Log: s.log, MaxAttempts: 1, Backoff: s.cfg.SMS.Backoff}
	if _, _, err := disp.DispatchOnce(ctx); err != nil {
		return err
	}
	gw.mu.Lock()
	var confirm string
	if n := len(gw.texts); n > 0 {
		confirm = confirmCode.FindString(gw.texts[n-1])
	}
	gw.mu.Unlock()
	cur, err := s.reg.Current(ctx, card.ID)
	if err != nil {
		return err
	}
	if _, err := s.reg.ConfirmNumber(ctx, card.ID, cur.ID, confirm); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo seed: card %s (%s) registered for mTAN; SMS go to the inbox at /dev/sms\n", card.Masked(), demoCard.Name)
	if err := s.trustMerchant(ctx, disp, gw); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo seed: %s trusts %s (a confirmed purchase with the trust box ticked)\n", demoCard.Name, demoTrusted)
	return nil
}

// demoTrusted is the merchant on Anna's whitelist, so that the frictionless path of a trusted merchant
// is there from the start (demo shop merchant M-000456).
const demoTrusted = "Buchladen am Markt"

// trustMerchant puts demoTrusted on Anna's whitelist the only way there is: a purchase there, challenged
// and confirmed with mTAN and answer, "trust this merchant" ticked.
func (s *seeder) trustMerchant(ctx context.Context, disp *sms.Dispatcher, gw *captureGateway) error {
	d := s.d
	areq, _ := json.Marshal(map[string]any{"messageType": "AReq", "messageVersion": "2.2.0", "threeDSServerTransID": uuid.NewString(),
		"dsTransID": uuid.NewString(), "threeDSServerRefNumber": "DEMO_SEED", "threeDSRequestorID": "demo-seed",
		"threeDSRequestorName": "acs demo seed", "threeDSRequestorChallengeInd": "04", "deviceChannel": "02", "messageCategory": "01",
		"threeDSRequestorAuthenticationInd": "01", "threeDSRequestorURL": "https://demo.example/", "threeDSCompInd": "U",
		"dsReferenceNumber": "DS_LOA_DIS_DEMO_020200_00001", "dsURL": strings.TrimSuffix(s.cfg.PublicURL, "/") + "/demo/rreq",
		"threeDSServerURL": strings.TrimSuffix(s.cfg.PublicURL, "/") + "/demo/3ds-server", "browserJavascriptEnabled": false,
		"acctNumber": demoCard.PAN, "acquirerBIN": "412345", "acquirerMerchantID": "M-000456", "merchantName": demoTrusted,
		"mcc": "5942", "merchantCountryCode": "276", "purchaseAmount": "1", "purchaseCurrency": "978", "purchaseExponent": "2",
		"purchaseDate": d.clock.Now().UTC().Format("20060102150405"), "notificationURL": strings.TrimSuffix(s.cfg.PublicURL, "/") + "/demo/notify",
		"browserAcceptHeader": "text/html", "browserLanguage": "de-DE", "browserUserAgent": "acs demo seed",
		"browserScreenHeight": "900", "browserScreenWidth": "1440"})
	a, erro := acs.ParseAReq(areq)
	if erro != nil {
		return erro
	}
	_, res, err := d.decider.Decide(ctx, a)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(res.ACSTransID)
	if err != nil || res.TransStatus != "C" {
		return fmt.Errorf("demo seed: the trusting purchase was not challenged (%s)", res.TransStatus)
	}
	if err := d.challenges.Start(ctx, id); err != nil {
		return err
	}
	if _, _, err := disp.DispatchOnce(ctx); err != nil {
		return err
	}
	gw.mu.Lock()
	code := confirmCode.FindString(gw.texts[len(gw.texts)-1])
	gw.mu.Unlock()
	out, err := d.challenges.VerifyMTAN(ctx, id, code, demoAnswer, true)
	if err != nil || out != acs.OutcomeSucceeded {
		return fmt.Errorf("demo seed: the trusting purchase was not confirmed: %s %v", out, err)
	}
	return nil
}

// app binds Noah's card to a demo phone: a new device key and offline secret, registered and activated
// with the letter's code, written as acs-app's state file.
func (s *seeder) app(ctx context.Context, phonePath string, out io.Writer) error {
	d := s.d
	card, err := d.cards.FindByPAN(ctx, demoAppCard.PAN)
	if err != nil {
		return fmt.Errorf("demo seed: the demo app card is not imported: %w", err)
	}
	if _, err := os.Stat(phonePath); err == nil {
		if reg, err := d.registration.Active(ctx, card.ID); err == nil && reg.Method == registration.MethodApp {
			fmt.Fprintf(out, "demo seed: card %s is registered already on the demo phone %s\n", card.Masked(), phonePath)
			return nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if _, err := s.reg.VerifyCard(ctx, demoAppCard); err != nil {
		return err
	}
	b, err := s.reg.RequestApp(ctx, card, registration.AppRequest{DeviceKey: pub, Platform: "android", OSVersion: "14", PIN: demoPIN,
		OfflineSecret: secret})
	if err != nil {
		return err
	}
	if err := s.activate(ctx, card.ID, registration.MethodApp); err != nil {
		return err
	}
	st := &appapi.DeviceState{DeviceKey: pkcs8, OfflineSecret: secret, Cards: []appapi.DeviceCard{{CardID: card.ID.String(),
		Card: card.Masked(), EmCertID: b.EmCertID.String(), State: string(registration.Active), PINCheck: appapi.PINCheck(secret, demoPIN)}}}
	if err := st.Save(phonePath); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo seed: card %s (%s) registered for the app on the demo phone %s\n", card.Masked(), demoAppCard.Name, phonePath)
	return nil
}

// fleet registers every card of the issuer card file at cardsPath for the app, all on one phone (one
// device key may serve many cards, R-REG-5) whose state file it writes to phonePath, through the same
// steps as app (card check, letter, ID code). The fault runs (faults/) need many cards: each card's app
// may be sent only MaxPushesPerWindow confirmations in ten minutes. The phone's PIN is demoPIN. Cards
// already registered on that phone are kept.
func (s *seeder) fleet(ctx context.Context, cardsPath, phonePath string, out io.Writer) error {
	holders, err := readHolders(cardsPath)
	if err != nil {
		return err
	}
	st := &appapi.DeviceState{}
	if b, err := os.ReadFile(phonePath); err == nil {
		if err := json.Unmarshal(b, st); err != nil {
			return fmt.Errorf("demo seed: fleet phone %s: %w", phonePath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if st.DeviceKey == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		st.DeviceKey, _ = x509.MarshalPKCS8PrivateKey(key)
		st.OfflineSecret = make([]byte, 32)
		if _, err := rand.Read(st.OfflineSecret); err != nil {
			return err
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(st.DeviceKey)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return fmt.Errorf("demo seed: fleet phone %s: no P-256 device key", phonePath)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	onPhone := map[string]bool{}
	for _, c := range st.Cards {
		onPhone[c.CardID] = true
	}
	// The card checks run side by side (each takes at least registration.CheckFloor); letters are
	// printed and redeemed one card at a time, as the seeder reads the code of the letter printed last.
	checked := make([]*cards.Card, len(holders))
	checkErr := make([]error, len(holders))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, h := range holders {
		card, err := s.d.cards.FindByPAN(ctx, h.PAN)
		if err != nil {
			return fmt.Errorf("demo seed: a fleet card is not imported (acs import-cards %s): %w", cardsPath, err)
		}
		if reg, err := s.d.registration.Active(ctx, card.ID); err == nil && reg.Method == registration.MethodApp && onPhone[card.ID.String()] {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, checkErr[i] = s.reg.VerifyCard(ctx, h); checkErr[i] != nil {
				checkErr[i] = fmt.Errorf("demo seed: fleet card %s: %w", card.Masked(), checkErr[i])
			}
			checked[i] = card
		}()
	}
	wg.Wait()
	if err := errors.Join(checkErr...); err != nil {
		return err
	}
	added := 0
	for _, card := range checked {
		if card == nil {
			continue // on the phone already
		}
		b, err := s.reg.RequestApp(ctx, card, registration.AppRequest{DeviceKey: pub, Platform: "android", OSVersion: "14", PIN: demoPIN,
			OfflineSecret: st.OfflineSecret})
		if err != nil {
			return fmt.Errorf("demo seed: fleet card %s: %w", card.Masked(), err)
		}
		if err := s.activate(ctx, card.ID, registration.MethodApp); err != nil {
			return fmt.Errorf("demo seed: fleet card %s: %w", card.Masked(), err)
		}
		st.Cards = append(st.Cards, appapi.DeviceCard{CardID: card.ID.String(), Card: card.Masked(), EmCertID: b.EmCertID.String(),
			State: string(registration.Active), PINCheck: appapi.PINCheck(st.OfflineSecret, demoPIN)})
		added++
	}
	if err := st.Save(phonePath); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo seed: %d fleet cards registered for the app (%d new) on the phone %s\n", len(st.Cards), added, phonePath)
	return nil
}

// readHolders reads the card number, expiry and holder name of every row of an issuer card file (the
// import validates the rest).
func readHolders(path string) ([]registration.HolderData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("demo seed: %s: not a card file (%v)", path, err)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	pan, expiry, name := col["pan"], col["expiry"], col["holder_name"]
	if recs[0][pan] != "pan" || recs[0][expiry] != "expiry" || recs[0][name] != "holder_name" {
		return nil, fmt.Errorf("demo seed: %s: the header lacks pan, expiry or holder_name", path)
	}
	var out []registration.HolderData
	for line, r := range recs[1:] {
		y, m, ok := strings.Cut(r[expiry], "-")
		year, err1 := strconv.Atoi(y)
		month, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("demo seed: %s: line %d: expiry is not YYYY-MM", path, line+2)
		}
		out = append(out, registration.HolderData{PAN: r[pan], ExpiryMonth: month, ExpiryYear: year, Name: r[name]})
	}
	return out, nil
}
