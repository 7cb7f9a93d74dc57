package acs_test

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/apperr"
	"example.com/acs/dslink"
	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
	"example.com/acs/sms"
	"example.com/acs/whitelist"
)

var sixDigits = regexp.MustCompile(`[0-9]{6}`)

type challengeFixture struct {
	*decisionFixture
	ch      *acs.Challenges
	results *acs.Results
	wl      *whitelist.List
	metrics *prometheus.Registry
	m       *acs.Metrics
}

func newChallengeFixture(t *testing.T) *challengeFixture {
	return newChallengeFixtureLink(t, func(*challengeFixture) *dslink.Link { return testenv.LoopbackDS(t) })
}

// newChallengeFixtureLink is newChallengeFixture with the DS link that link makes.
func newChallengeFixtureLink(t *testing.T, link func(*challengeFixture) *dslink.Link) *challengeFixture {
	t.Helper()
	fx := &challengeFixture{decisionFixture: newDecisionFixture(t)}
	fx.wl = whitelist.New(fx.Pool, fx.Clock)
	fx.metrics = prometheus.NewRegistry()
	fx.m = acs.NewMetrics(fx.metrics)
	fx.results = acs.NewResults(acs.ResultDeps{Pool: fx.Pool, Cards: fx.Cards, AV: fx.AV, Clock: fx.Clock, Log: fx.Log,
		MaxAttempts: 5, RetryInterval: time.Second, Link: link(fx), Whitelist: fx.wl, Metrics: fx.m})
	fx.ch = acs.NewChallenges(acs.ChallengeDeps{Pool: fx.Pool, Registration: fx.reg, Digests: fx.Digests, Outbox: sms.NewOutbox(fx.Keys, fx.Clock),
		Clock: fx.Clock, Log: fx.Log, SMSPrice: decimal.RequireFromString("0.09"), Currency: "EUR", Results: fx.results})
	registerAnnaMTAN(t, fx.Stack, fx.reg)
	return fx
}

// registerAnnaMTAN registers Anna's card for mTAN (number +4915112345678, security answer Kiel) through
// the cardholder's steps: card check, request, the letter's ID code, the number's confirmation code.
func registerAnnaMTAN(t *testing.T, st *testenv.Stack, reg *registration.Registrar) {
	t.Helper()
	ctx := context.Background()
	card, err := reg.VerifyCard(ctx, registration.HolderData{PAN: "4000110000000017", ExpiryMonth: 9, ExpiryYear: 2029, Name: "Anna Schmidt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "+4915112345678", Question: "birthplace", Answer: "Kiel"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Activate(ctx, card.ID, registration.MethodMTAN, st.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, reg, card.ID), sixDigits.FindString(st.DeliverSMS(t))); err != nil {
		t.Fatal(err)
	}
}

// challenge decides an AReq for Anna's card (49,90 EUR at Beispiel-Shop unless mod changes it) and
// starts its challenge; it returns the transaction id and the mTAN the SMS carried.
func (fx *challengeFixture) challenge(t *testing.T, mod func(m map[string]any)) (uuid.UUID, string, string) {
	t.Helper()
	res, err := fx.decide(t, mod)
	if err != nil || res.TransStatus != "C" {
		t.Fatalf("decision: %+v %v", res, err)
	}
	id := uuid.MustParse(res.ACSTransID)
	if err := fx.ch.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	text := fx.DeliverSMS(t)
	return id, sixDigits.FindString(text), text
}

// R-AUTH-2, R-AUTH-5: the SMS names amount and merchant; mTAN and answer together authenticate.
func TestMTANChallengeApproved(t *testing.T) {
	fx := newChallengeFixture(t)
	id, code, text := fx.challenge(t, nil)
	if !regexp.MustCompile(`49,90 EUR bei Beispiel-Shop`).MatchString(text) {
		t.Fatalf("SMS without amount and merchant: %q", text)
	}
	out, err := fx.ch.VerifyMTAN(context.Background(), id, code, " KIEL ", false)
	if err != nil || out != acs.OutcomeSucceeded {
		t.Fatalf("%s %v", out, err)
	}
	if _, err := fx.ch.VerifyMTAN(context.Background(), id, code, "Kiel", false); apperr.KindOf(err) != apperr.Conflict {
		t.Fatalf("second use: %v", err)
	}
}

// R-AUTH-5, R-AUTH-6: one message whichever is wrong; five failures end the challenge.
func TestMTANWrongEntries(t *testing.T) {
	fx := newChallengeFixture(t)
	ctx := context.Background()
	id, code, _ := fx.challenge(t, nil)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	_, e1 := fx.ch.VerifyMTAN(ctx, id, wrong, "Kiel", false)
	_, e2 := fx.ch.VerifyMTAN(ctx, id, code, "Hamburg", false)
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Fatalf("messages differ or missing: %v / %v", e1, e2)
	}
	for i := 3; i < acs.MaxChallengeFailures; i++ {
		if out, _ := fx.ch.VerifyMTAN(ctx, id, wrong, "Kiel", false); out != acs.OutcomePending {
			t.Fatalf("failure %d: %s", i, out)
		}
	}
	if out, err := fx.ch.VerifyMTAN(ctx, id, wrong, "Kiel", false); out != acs.OutcomeFailed || err != nil {
		t.Fatalf("fifth failure: %s %v", out, err)
	}
	if _, err := fx.ch.VerifyMTAN(ctx, id, code, "Kiel", false); apperr.KindOf(err) != apperr.Conflict {
		t.Fatalf("right code after failure: %v", err)
	}
}

// R-AUTH-5: 4 minutes (3:59 accepted, 4:01 refused); a new mTAN voids the old one.
func TestMTANExpiryAndResend(t *testing.T) {
	fx := newChallengeFixture(t)
	ctx := context.Background()
	id, code, _ := fx.challenge(t, nil)
	fx.Clock.Advance(4*time.Minute + time.Second)
	if _, err := fx.ch.VerifyMTAN(ctx, id, code, "Kiel", false); apperr.KindOf(err) != apperr.Expired {
		t.Fatalf("4:01: %v", err)
	}
	if err := fx.ch.ResendMTAN(ctx, id); err != nil {
		t.Fatal(err)
	}
	fresh := sixDigits.FindString(fx.DeliverSMS(t))
	if fresh != code {
		if _, err := fx.ch.VerifyMTAN(ctx, id, code, "Kiel", false); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("old code after resend: %v", err)
		}
	}
	fx.Clock.Advance(3*time.Minute + 59*time.Second)
	if out, err := fx.ch.VerifyMTAN(ctx, id, fresh, "Kiel", false); out != acs.OutcomeSucceeded || err != nil {
		t.Fatalf("3:59: %s %v", out, err)
	}
}

// R-AUTH-2: the mTAN of transaction A is useless for transaction B (another amount).
func TestMTANBoundToItsTransaction(t *testing.T) {
	fx := newChallengeFixture(t)
	ctx := context.Background()
	_, codeA, _ := fx.challenge(t, nil)
	idB, codeB, textB := fx.challenge(t, func(m map[string]any) { m["purchaseAmount"] = "4991" })
	if !regexp.MustCompile(`49,91 EUR`).MatchString(textB) {
		t.Fatalf("SMS B: %q", textB)
	}
	if codeA != codeB {
		if _, err := fx.ch.VerifyMTAN(ctx, idB, codeA, "Kiel", false); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("A's mTAN on B: %v", err)
		}
	}
}

// The same challenge completed twice at once: exactly one success.
func TestConcurrentCompletionOneOutcome(t *testing.T) {
	fx := newChallengeFixture(t)
	id, code, _ := fx.challenge(t, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _ := fx.ch.VerifyMTAN(context.Background(), id, code, "Kiel", false)
			mu.Lock()
			defer mu.Unlock()
			if out == acs.OutcomeSucceeded {
				wins++
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d successes", wins)
	}
}

func TestFormatAmount(t *testing.T) {
	for in, want := range map[string]string{"49.9|978": "49,90 EUR", "1234567.5|978": "1.234.567,50 EUR", "12000|392": "12.000 JPY", "0.5|840": "0,50 USD"} {
		var amount, cur string
		for i := range in {
			if in[i] == '|' {
				amount, cur = in[:i], in[i+1:]
			}
		}
		if got := acs.FormatAmount(decimal.RequireFromString(amount), cur); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// A challenge step reads everything through its own transaction: on a pool of one connection, opening
// and completing a challenge must not wait for a second one (which, under load, would deadlock).
func TestChallengeOnOneConnection(t *testing.T) {
	fx := newChallengeFixture(t)
	cfg := fx.Pool.Config().Copy()
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	results := acs.NewResults(acs.ResultDeps{Pool: one, Cards: fx.Cards, AV: fx.AV, Clock: fx.Clock, Log: fx.Log, Whitelist: fx.wl, Link: testenv.LoopbackDS(t)})
	ch := acs.NewChallenges(acs.ChallengeDeps{Pool: one, Registration: fx.reg, Digests: fx.Digests, Outbox: sms.NewOutbox(fx.Keys, fx.Clock),
		Clock: fx.Clock, Log: fx.Log, SMSPrice: decimal.RequireFromString("0.09"), Currency: "EUR", Results: results})
	res, err := fx.decide(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(res.ACSTransID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ch.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	code := sixDigits.FindString(fx.DeliverSMS(t))
	if _, err := ch.VerifyMTAN(ctx, id, "000000", "Kiel", false); apperr.KindOf(err) != apperr.Invalid && code != "000000" {
		t.Fatalf("wrong entry: %v", err)
	}
	if out, err := ch.VerifyMTAN(ctx, id, code, "Kiel", true); err != nil || out != acs.OutcomeSucceeded {
		t.Fatalf("verify: %s %v", out, err)
	}
}

// Issue 12, PSD2 RTS Art. 4(3)(b): wrong entries count per card and method across challenges, not per
// challenge: four wrong in one purchase and the fifth in the next lock the method (the page warned
// with one try left), the challenge ends N/19, the next AReq is refused N/12 without an SMS, and
// support's unlock (audited) lets the cardholder pay again. A success in between ends the run.
func TestFailuresCountAcrossChallenges(t *testing.T) {
	fx := newChallengeFixture(t)
	ctx := context.Background()
	id, _, _ := fx.challenge(t, nil)
	for i := 0; i < 4; i++ {
		if _, err := fx.ch.VerifyMTAN(ctx, id, "000000", "Kiel", false); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("wrong entry %d: %v", i, err)
		}
	}
	if _, err := fx.ch.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	id2, _, _ := fx.challenge(t, nil)
	if v, err := fx.ch.View(ctx, id2); err != nil || v.FailuresLeft != 1 {
		t.Fatalf("the new challenge's page warns with %d tries left (%v), want 1", v.FailuresLeft, err)
	}
	if out, _ := fx.ch.VerifyMTAN(ctx, id2, "000000", "Kiel", false); out != acs.OutcomeFailed {
		t.Fatalf("the fifth wrong entry in a row: %s", out)
	}
	if v, _ := fx.ch.View(ctx, id2); v.Final == nil || v.Final.TransStatus != "N" || v.Final.TransStatusReason != "19" {
		t.Fatalf("end: %+v", v.Final)
	}
	sent := fx.smsCount(t)
	if res, err := fx.decide(t, nil); err != nil || res.TransStatus != "N" || res.TransStatusReason != "12" {
		t.Fatalf("a purchase with the locked method: %+v %v", res, err)
	}
	if fx.smsCount(t) != sent {
		t.Fatal("an SMS went out for a locked method")
	}
	card, _ := fx.Cards.FindByPAN(ctx, "4000110000000017")
	if err := fx.reg.Unlock(ctx, card.ID, "staff:agent"); err != nil {
		t.Fatal(err)
	}
	id3, code3, _ := fx.challenge(t, nil)
	if out, err := fx.ch.VerifyMTAN(ctx, id3, code3, "Kiel", false); err != nil || out != acs.OutcomeSucceeded {
		t.Fatalf("after the unlock: %s %v", out, err)
	}
	var audited int
	_ = fx.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'registration.unlock'`).Scan(&audited)
	if audited != 1 {
		t.Fatalf("%d unlock audit entries", audited)
	}
}

func (fx *challengeFixture) smsCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := fx.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sms_outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Issue 12: one purchase sends at most MaxMTANSends mTANs (the first and three new ones); the next
// "send a new mTAN" is refused and nothing is queued or billed.
func TestMTANResendsBounded(t *testing.T) {
	fx := newChallengeFixture(t)
	ctx := context.Background()
	id, _, _ := fx.challenge(t, nil)
	for i := 1; i < acs.MaxMTANSends; i++ {
		if err := fx.ch.ResendMTAN(ctx, id); err != nil {
			t.Fatalf("resend %d: %v", i, err)
		}
	}
	before := fx.smsCount(t)
	if err := fx.ch.ResendMTAN(ctx, id); apperr.KindOf(err) != apperr.TooMany {
		t.Fatalf("resend past the bound: %v", err)
	}
	if fx.smsCount(t) != before {
		t.Fatal("an SMS was queued past the bound")
	}
}

// Issue 13, R-AUTH-5, R-KEY-1: the mTAN's verifier is the in-process keyed digest (its key wrapped by the
// HSM's KEK), not the HSM's (two HSM calls less per purchase): what is stored is neither the code nor the
// HSM verifier of it, and a code sent by an earlier
// version (an HSM verifier stored) is answered as expired, with no failure counted, so that the
// cardholder asks for a new one after an upgrade instead of being locked out.
func TestMTANVerifierIsTheProcessDigest(t *testing.T) {
	fx := newChallengeFixture(t)
	ctx := context.Background()
	id, code, _ := fx.challenge(t, nil)
	var stored []byte
	if err := fx.Pool.QueryRow(ctx, `SELECT otp_verifier FROM acs_challenges WHERE acs_trans_id = $1`, id).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	hsmV, err := fx.HSM.Verifier("mtan", []byte(id.String()+"\x00"+code))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 33 || bytes.Equal(stored[1:], hsmV) || bytes.Contains(stored, []byte(code)) {
		t.Fatalf("stored verifier %x", stored)
	}
	if _, err := fx.Pool.Exec(ctx, `UPDATE acs_challenges SET otp_verifier = $2 WHERE acs_trans_id = $1`, id, hsmV); err != nil {
		t.Fatal(err)
	}
	if out, err := fx.ch.VerifyMTAN(ctx, id, code, "Kiel", false); out != "" || apperr.KindOf(err) != apperr.Expired {
		t.Fatalf("a code with an HSM verifier: %q %v", out, err)
	}
	var failures int
	if err := fx.Pool.QueryRow(ctx, `SELECT failures FROM acs_challenges WHERE acs_trans_id = $1`, id).Scan(&failures); err != nil ||
		failures != 0 {
		t.Fatalf("failures %d %v", failures, err)
	}
	if err := fx.ch.ResendMTAN(ctx, id); err != nil {
		t.Fatal(err)
	}
	fresh := sixDigits.FindString(fx.DeliverSMS(t))
	if out, err := fx.ch.VerifyMTAN(ctx, id, fresh, "Kiel", false); out != acs.OutcomeSucceeded || err != nil {
		t.Fatalf("the new code: %s %v", out, err)
	}
}
