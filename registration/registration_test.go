package registration_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/cards"
	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
	"example.com/acs/sms"
	"example.com/acs/store"
)

type fixture struct {
	*testenv.Stack
	reg   *registration.Registrar
	audit *audit.Log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testenv.NewStack(t)
	fx := &fixture{Stack: st, audit: audit.New(st.Pool, st.Clock)}
	fx.reg = registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: fx.audit, Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.RequireFromString("0.09"), Currency: "EUR"})
	return fx
}

var anna = registration.HolderData{PAN: "4000 1100 0000 0017", ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"}

func (fx *fixture) verify(t *testing.T, in registration.HolderData) *cards.Card {
	t.Helper()
	c, err := fx.reg.VerifyCard(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var smsCode = regexp.MustCompile(`[0-9]{6}`)

func wantKind(t *testing.T, err error, k apperr.Kind) *apperr.Error {
	t.Helper()
	if apperr.KindOf(err) != k {
		t.Fatalf("got %v, want kind %s", err, k)
	}
	e, _ := err.(*apperr.Error)
	return e
}

func deviceKey(t *testing.T) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func app(t *testing.T) registration.AppRequest {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return registration.AppRequest{DeviceKey: deviceKey(t), Platform: "android", OSVersion: "14", PIN: "4821", OfflineSecret: secret}
}

// R-REG-1, R-REG-2, R-REG-9, R-REG-10: the typed data are compared with the issuer's; every read of
// them is recorded; an unknown card and a mismatch look alike; blocked and expired cards are refused.
func TestVerifyCard(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	for _, name := range []string{"anna schmidt", " ANNA   Schmidt "} {
		in := anna
		in.Name = name
		fx.verify(t, in)
	}
	byBirth := anna
	byBirth.Name, byBirth.DateOfBirth = "", "1984-03-12"
	fx.verify(t, byBirth)
	umlaut := registration.HolderData{PAN: "4000110000000025", ExpiryMonth: 3, ExpiryYear: 2028, Name: "Jonas Mueller"}
	fx.verify(t, umlaut)

	mismatch := []registration.HolderData{
		{PAN: anna.PAN, ExpiryMonth: 8, ExpiryYear: 2029, Name: "Anna Schmidt"},
		{PAN: anna.PAN, ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anne Schmidt"},
		{PAN: anna.PAN, ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt", DateOfBirth: "1984-03-13"},
		{PAN: "4000110000000991", ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"}, // Luhn-valid, not issued
	}
	var msgs []string
	for _, in := range mismatch {
		_, err := fx.reg.VerifyCard(ctx, in)
		msgs = append(msgs, wantKind(t, err, apperr.Invalid).Msg)
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Fatalf("answers differ, telling which part is wrong: %q", msgs)
		}
	}
	_, err := fx.reg.VerifyCard(ctx, registration.HolderData{PAN: "4000110000000018", ExpiryMonth: 1, ExpiryYear: 2030, Name: "x"})
	if e := wantKind(t, err, apperr.Invalid); e.Fields["pan"] == "" {
		t.Fatalf("Luhn: %+v", e)
	}
	blocked := registration.HolderData{PAN: "4000110000000058", ExpiryMonth: 1, ExpiryYear: 2029, Name: "Sophie Becker"}
	_, err = fx.reg.VerifyCard(ctx, blocked)
	wantKind(t, err, apperr.Conflict)
	expired := registration.HolderData{PAN: "4000110000000066", ExpiryMonth: 8, ExpiryYear: 2025, Name: "Lukas Hoffmann"}
	_, err = fx.reg.VerifyCard(ctx, expired)
	wantKind(t, err, apperr.Conflict)

	// Anna's card was read seven times: three name forms, the birth date, three mismatches (the unknown
	// card has nothing to read).
	if n, err := fx.audit.IssuerDataReads(ctx, card.ID); err != nil || n != 7 {
		t.Fatalf("issuer data reads: %d %v", n, err)
	}
}

// R-REG-7, R-REG-3: the app binding yields an emCertID and works only after the ID code.
func TestAppRegistration(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	req := app(t)
	b, err := fx.reg.RequestApp(ctx, card, req)
	if err != nil {
		t.Fatal(err)
	}
	// R-KEY-1, R-KEY-2: the PIN only as a 32-byte keyed verifier, the offline secret only encrypted.
	var pv []byte
	if err := fx.Pool.QueryRow(ctx, `SELECT pin_verifier FROM registrations WHERE card_id = $1`, card.ID).Scan(&pv); err != nil || len(pv) != 32 {
		t.Fatalf("PIN verifier: %x %v", pv, err)
	}
	if strings.Contains(testenv.Dump(t, fx.Pool, "registrations"), hex.EncodeToString(req.OfflineSecret)) {
		t.Fatal("the offline secret is stored in clear")
	}
	if strings.Contains(fx.Logs.String(), `"pin"`) || strings.Contains(fx.Logs.String(), `"PIN"`) {
		t.Fatal("a PIN reached the logs")
	}
	_, err = fx.reg.Active(ctx, card.ID)
	wantKind(t, err, apperr.NotFound)
	code := fx.PrintLetters(t)
	_, err = fx.reg.Activate(ctx, card.ID, registration.MethodApp, "ZZZZZ-ZZZZZ")
	wantKind(t, err, apperr.Invalid)
	r, err := fx.reg.Activate(ctx, card.ID, registration.MethodApp, code)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != registration.Active || r.Method != registration.MethodApp || *r.EmCertID != b.EmCertID || r.Platform != "android" {
		t.Fatalf("registration: %+v", r)
	}
	_, err = fx.reg.Activate(ctx, card.ID, registration.MethodApp, code)
	wantKind(t, err, apperr.NotFound)
	letters, _ := fx.Letters.ForCard(ctx, card.ID)
	if letters[0].FailedAttempts != 1 {
		t.Fatalf("the wrong code was not counted: %+v", letters[0])
	}
}

// R-REG-8 and R-REG-7: refused devices, keys and PINs.
func TestDeviceRefusals(t *testing.T) {
	fx := newFixture(t)
	card := fx.verify(t, anna)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for name, tc := range map[string]struct {
		mod   func(*registration.AppRequest)
		field string
	}{
		"android 8":   {func(a *registration.AppRequest) { a.OSVersion = "8.1" }, "os_version"},
		"ios 14":      {func(a *registration.AppRequest) { a.Platform, a.OSVersion = "ios", "14.8" }, "os_version"},
		"rooted":      {func(a *registration.AppRequest) { a.Rooted = true }, "device"},
		"windows":     {func(a *registration.AppRequest) { a.Platform = "windows" }, "platform"},
		"garbage key": {func(a *registration.AppRequest) { a.DeviceKey = []byte("nope") }, "device_key"},
		"RSA key":     {func(a *registration.AppRequest) { a.DeviceKey = rsaDER }, "device_key"},
		"no PIN":      {func(a *registration.AppRequest) { a.PIN = "" }, "pin"},
		"PIN 1234":    {func(a *registration.AppRequest) { a.PIN = "1234" }, "pin"},
		"PIN 0000":    {func(a *registration.AppRequest) { a.PIN = "0000" }, "pin"},
		"PIN 5 long":  {func(a *registration.AppRequest) { a.PIN = "48213" }, "pin"},
		"PIN letters": {func(a *registration.AppRequest) { a.PIN = "48a1" }, "pin"},
		"no secret":   {func(a *registration.AppRequest) { a.OfflineSecret = nil }, "offline_secret"},
	} {
		a := app(t)
		tc.mod(&a)
		_, err := fx.reg.RequestApp(context.Background(), card, a)
		if e := wantKind(t, err, apperr.Invalid); e.Fields[tc.field] == "" {
			t.Errorf("%s: %+v, want a problem with %s", name, e, tc.field)
		}
	}
	fine := app(t)
	fine.Platform, fine.OSVersion = "ios", "15.0"
	if _, err := fx.reg.RequestApp(context.Background(), card, fine); err != nil {
		t.Fatalf("iOS 15: %v", err)
	}
}

// R-REG-6: number, question and answer, the price agreement, and an SMS confirming the number before
// activation; the SMS lands on the cost ledger (R-AUTH-9).
func TestMTANRegistration(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	req := registration.MTANRequest{Mobile: "0151 12345678", Question: "birthplace", Answer: "Hamburg-Altona", AcceptPrice: false}
	_, err := fx.reg.RequestMTAN(ctx, card, req)
	if e := wantKind(t, err, apperr.Invalid); e.Fields["accept_price"] == "" {
		t.Fatalf("price agreement: %+v", e)
	}
	req.AcceptPrice = true
	// R-REG-6: the terms accepted must be those in force (a price changed between page and order is not).
	if _, err := fx.reg.RequestMTAN(ctx, card, req); apperr.KindOf(err) != apperr.Invalid {
		t.Fatalf("order without the terms shown: %v", err)
	}
	req.Terms = fx.reg.PriceTerms().ID()
	for mobile, field := range map[string]string{"030 1234567": "mobile_number", "+49 151": "mobile_number", "call me": "mobile_number"} {
		bad := req
		bad.Mobile = mobile
		_, err := fx.reg.RequestMTAN(ctx, card, bad)
		if e := wantKind(t, err, apperr.Invalid); e.Fields[field] == "" {
			t.Errorf("%q: %+v", mobile, e)
		}
	}
	bad := req
	bad.Question = "favourite_colour"
	_, err = fx.reg.RequestMTAN(ctx, card, bad)
	wantKind(t, err, apperr.Invalid)

	if _, err := fx.reg.RequestMTAN(ctx, card, req); err != nil {
		t.Fatal(err)
	}
	r, err := fx.reg.Activate(ctx, card.ID, registration.MethodMTAN, fx.PrintLetters(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.State != registration.Confirming || r.MobileMasked != "+49151******78" {
		t.Fatalf("after the ID code: %+v", r)
	}
	text := fx.DeliverSMS(t)
	code := smsCode.FindString(text)
	_, err = fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), "000000")
	if code == "000000" {
		t.Skip("the random code was 000000")
	}
	wantKind(t, err, apperr.Invalid)
	r, err = fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), code)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != registration.Active || r.Method != registration.MethodMTAN || r.Question != "birthplace" {
		t.Fatalf("after confirmation: %+v", r)
	}
	// The accepted price and document version are kept with the registration.
	if p := r.PriceAccepted; p == nil || p.Version != registration.PriceAgreementVersion || !p.Amount.Equal(fx.reg.PriceTerms().Amount) ||
		p.Currency != "EUR" || r.PriceAcceptedAt == nil {
		t.Fatalf("price terms kept: %+v at %v", r.PriceAccepted, r.PriceAcceptedAt)
	}
	lines, err := sms.Ledger(ctx, fx.Pool, card.ID, time.Time{}, fx.Clock.Now().Add(time.Hour))
	if err != nil || len(lines) != 1 || lines[0].Purpose != "number_confirmation" || !lines[0].Price.Equal(decimal.RequireFromString("0.09")) {
		t.Fatalf("ledger: %+v %v", lines, err)
	}
	noSecretsAnywhere(t, fx, []string{"15112345678", "hamburg", "Hamburg-Altona", code})
}

func TestConfirmationCodeExpiresAndResendVoids(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	if _, err := fx.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "+4915112345678", Question: "first_pet",
		Answer: "Bello", AcceptPrice: true, Terms: fx.reg.PriceTerms().ID()}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodMTAN, fx.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	first := smsCode.FindString(fx.DeliverSMS(t))
	fx.Clock.Advance(registration.ConfirmValidity + time.Second)
	_, err := fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), first)
	wantKind(t, err, apperr.Expired)
	if err := fx.reg.ResendConfirmation(ctx, card.ID, testenv.Current(t, fx.reg, card.ID)); err != nil {
		t.Fatal(err)
	}
	second := smsCode.FindString(fx.DeliverSMS(t))
	if first != second {
		_, err = fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), first)
		wantKind(t, err, apperr.Invalid)
	}
	fx.Clock.Advance(registration.ConfirmValidity - time.Second)
	if _, err := fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), second); err != nil {
		t.Fatalf("4 minutes minus a second: %v", err)
	}
}

// R-REG-4: changing the method is a new registration with a new letter; the old binding keeps working
// until the new one is active, then it is gone.
func TestMethodChangeNeedsNewLetter(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	if _, err := fx.reg.RequestApp(ctx, card, app(t)); err != nil {
		t.Fatal(err)
	}
	oldCode := fx.PrintLetters(t)
	appReg, err := fx.reg.Activate(ctx, card.ID, registration.MethodApp, oldCode)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := fx.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "+4915112345678", Question: "first_car",
		Answer: "Golf", AcceptPrice: true, Terms: fx.reg.PriceTerms().ID()}); err != nil {
		t.Fatal(err)
	}
	if a, err := fx.reg.Active(ctx, card.ID); err != nil || a.ID != appReg.ID {
		t.Fatalf("the app binding stopped working before the new one is active: %+v %v", a, err)
	}
	_, err = fx.reg.Activate(ctx, card.ID, registration.MethodMTAN, oldCode)
	wantKind(t, err, apperr.NotFound) // the new letter is not printed; the old code is spent
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodMTAN, fx.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	if a, _ := fx.reg.Active(ctx, card.ID); a.ID != appReg.ID {
		t.Fatal("the app binding ended before the number was confirmed")
	}
	if _, err := fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), smsCode.FindString(fx.DeliverSMS(t))); err != nil {
		t.Fatal(err)
	}
	a, err := fx.reg.Active(ctx, card.ID)
	if err != nil || a.Method != registration.MethodMTAN {
		t.Fatalf("active: %+v %v", a, err)
	}
	var st string
	if err := fx.Pool.QueryRow(ctx, `SELECT state FROM registrations WHERE id = $1`, appReg.ID).Scan(&st); err != nil || st != "replaced" {
		t.Fatalf("old binding: %s %v", st, err)
	}
}

// R-REG-5: one number (and one device) may serve many cards.
func TestOneNumberServesManyCards(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	jonas := registration.HolderData{PAN: "4000110000000025", ExpiryMonth: 3, ExpiryYear: 2028, Name: "Jonas Müller"}
	for _, who := range []registration.HolderData{anna, jonas} {
		card := fx.verify(t, who)
		if _, err := fx.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "+4915112345678", Question: "birthplace",
			Answer: "Kiel", AcceptPrice: true, Terms: fx.reg.PriceTerms().ID()}); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodMTAN, fx.PrintLetters(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), smsCode.FindString(fx.DeliverSMS(t))); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := fx.Pool.QueryRow(ctx, `SELECT count(DISTINCT card_id) FROM registrations WHERE state = 'active'
		AND mobile_hash = (SELECT mobile_hash FROM registrations LIMIT 1)`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("cards on one number: %d %v", n, err)
	}
	var verifiers int
	if err := fx.Pool.QueryRow(ctx, `SELECT count(DISTINCT answer_verifier) FROM registrations`).Scan(&verifiers); err != nil || verifiers != 2 {
		t.Fatalf("one answer on two cards must give two verifiers: %d %v", verifiers, err)
	}
}

// Concurrent bindings of two methods to one card: one registration in progress, one active at the end.
func TestConcurrentBindings(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = fx.reg.RequestApp(ctx, card, app(t))
			} else {
				_, err = fx.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "+4915112345678", Question: "birthplace",
					Answer: "Kiel", AcceptPrice: true, Terms: fx.reg.PriceTerms().ID()})
			}
			if err != nil && apperr.KindOf(err) != apperr.Conflict {
				t.Errorf("request %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	var open, openLetters int
	_ = fx.Pool.QueryRow(ctx, `SELECT count(*) FROM registrations WHERE card_id = $1 AND state IN ('pending', 'confirming')`, card.ID).Scan(&open)
	_ = fx.Pool.QueryRow(ctx, `SELECT count(*) FROM letters WHERE card_id = $1 AND state IN ('requested', 'printed')`, card.ID).Scan(&openLetters)
	if open != 1 || openLetters != 1 {
		t.Fatalf("%d registrations and %d letters open", open, openLetters)
	}
	code := fx.PrintLetters(t)
	var method registration.Method
	_ = fx.Pool.QueryRow(ctx, `SELECT method FROM registrations WHERE card_id = $1 AND state = 'pending'`, card.ID).Scan(&method)
	results := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			_, err := fx.reg.Activate(ctx, card.ID, method, code)
			results <- err
		}()
	}
	wins := 0
	for i := 0; i < 4; i++ {
		if err := <-results; err == nil {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d activations with one code succeeded", wins)
	}
}

// R-REG-10: a blocked card's registration ends.
func TestEnd(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	if _, err := fx.reg.RequestApp(ctx, card, app(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodApp, fx.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	err := store.WithTx(ctx, fx.Pool, func(tx pgx.Tx) error {
		n, err := fx.reg.End(ctx, tx, card.ID, "card blocked")
		if n != 1 {
			t.Errorf("ended %d", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fx.reg.Active(ctx, card.ID)
	wantKind(t, err, apperr.NotFound)
}

// R-KEY-1, R-KEY-2: no mobile number, answer or code in clear in any table or in the logs.
func noSecretsAnywhere(t *testing.T, fx *fixture, secrets []string) {
	t.Helper()
	dump := testenv.Dump(t, fx.Pool, "registrations", "letters", "audit_log", "sms_outbox", "issuer_data_access")
	for _, s := range secrets {
		for where, text := range map[string]string{"database": dump, "logs": fx.Logs.String()} {
			if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
				t.Errorf("%s holds %q", where, s)
			}
		}
	}
	if !strings.Contains(dump, "+49151******78") {
		t.Error("dump holds no registration: the check proves nothing")
	}
}

// R-REG-5: one app installation (device key) may serve many cards, each with its own emCertID.
func TestOneDeviceServesManyCards(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	device := app(t)
	jonas := registration.HolderData{PAN: "4000110000000025", ExpiryMonth: 3, ExpiryYear: 2028, Name: "Jonas Müller"}
	ems := map[string]bool{}
	for _, who := range []registration.HolderData{anna, jonas} {
		card := fx.verify(t, who)
		b, err := fx.reg.RequestApp(ctx, card, device)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodApp, fx.PrintLetters(t)); err != nil {
			t.Fatal(err)
		}
		ems[b.EmCertID.String()] = true
	}
	var n int
	if err := fx.Pool.QueryRow(ctx, `SELECT count(DISTINCT card_id) FROM registrations WHERE state = 'active'
		AND device_key_hash = (SELECT device_key_hash FROM registrations LIMIT 1)`).Scan(&n); err != nil || n != 2 || len(ems) != 2 {
		t.Fatalf("cards on one device: %d, emCertIDs %d, %v", n, len(ems), err)
	}
}

// Issue 12, R-REG-3/R-REG-4: someone with card data (number, expiry, name) cannot make the cardholder's
// letter activate his phone. While the cardholder's registration waits for its letter, a second request
// is refused, never a silent replacement of the letter; if the attacker was first, the cardholder is
// told so, and the code from the letter typed into the portal does not activate the attacker's app
// registration. Once the letter is past its validity, a new request may start.
func TestCardDumpCannotTakeOverTheLetter(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	mtan := registration.MTANRequest{Mobile: "+4915112345678", Question: "birthplace", Answer: "Kiel", AcceptPrice: true, Terms: fx.reg.PriceTerms().ID()}
	if _, err := fx.reg.RequestMTAN(ctx, card, mtan); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.RequestApp(ctx, card, app(t)); !errors.Is(err, registration.ErrRegistrationUnderWay) {
		t.Fatalf("a second request while the letter is on its way: %v", err)
	}
	var letters int
	_ = fx.Pool.QueryRow(ctx, `SELECT count(*) FROM letters WHERE card_id = $1`, card.ID).Scan(&letters)
	if letters != 1 {
		t.Fatalf("%d letters requested", letters)
	}

	// The attacker first: his app registration waits; the cardholder is told, and his letter's code
	// typed into the portal is refused for the app registration and stays unspent.
	other := fx.verify(t, registration.HolderData{PAN: "4000110000000025", ExpiryMonth: 3, ExpiryYear: 2028, Name: "Jonas Müller"})
	if _, err := fx.reg.RequestApp(ctx, other, app(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.RequestMTAN(ctx, other, mtan); !errors.Is(err, registration.ErrRegistrationUnderWay) {
		t.Fatalf("the cardholder's request after the attacker's: %v", err)
	}
	code := fx.PrintLetters(t)
	if _, err := fx.reg.Activate(ctx, other.ID, registration.MethodMTAN, code); apperr.KindOf(err) != apperr.Conflict {
		t.Fatalf("the letter's code in the portal for an app registration: %v", err)
	}
	if _, err := fx.reg.Active(ctx, other.ID); apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("the attacker's phone became active: %v", err)
	}
	var state string
	_ = fx.Pool.QueryRow(ctx, `SELECT state FROM letters WHERE card_id = $1 AND state = 'printed'`, other.ID).Scan(&state)
	if state != "printed" {
		t.Fatalf("the code was spent: %q", state)
	}
	// After the letter's validity a new request starts (the stale one is abandoned).
	fx.Clock.Advance(16 * 24 * time.Hour)
	if _, err := fx.reg.RequestMTAN(ctx, other, mtan); err != nil {
		t.Fatalf("a request after the letter expired: %v", err)
	}
}
