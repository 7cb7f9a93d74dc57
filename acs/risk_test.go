package acs_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/store"
)

// riskFixture is Anna's mTAN card after one successful challenge from the sample AReq's browser and IP,
// so that the browser is known, with a decider whose rules each test case sets.
type riskFixture struct {
	*challengeFixture
	// pipe sends the AReqs' statements together, as in production; nil: each by itself.
	pipe *store.Pipeline
}

func newRiskFixture(t *testing.T) *riskFixture {
	t.Helper()
	fx := &riskFixture{challengeFixture: newChallengeFixture(t)}
	fx.pipe = &store.Pipeline{Pool: fx.Pool, Lanes: 1}
	fx.use(t, acs.Risk{KnownBrowsers: true})
	// A challenge from the sample browser and IP at Beispiel-Shop, with "trust this merchant" ticked.
	id, code, _ := fx.challenge(t, nil)
	if out, err := fx.ch.VerifyMTAN(context.Background(), id, code, "Kiel", true); err != nil || out != acs.OutcomeSucceeded {
		t.Fatalf("first challenge: %s %v", out, err)
	}
	return fx
}

// use makes the decider apply risk.
func (fx *riskFixture) use(t *testing.T, risk acs.Risk) {
	t.Helper()
	fx.dc = acs.NewDecider(acs.DecisionDeps{Pool: fx.Pool, Pipe: fx.pipe, Cards: fx.Cards, Clock: fx.Clock, Log: fx.Log,
		ChallengeURL: "https://acs.example/3ds/challenge", ReferenceNumber: "REF", AV: fx.AV, Digests: fx.Digests, Risk: risk,
		Whitelist: fx.wl})
}

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// R-AUTH-7, R-WL-2: every rule alone and in combination, with the reasons stored for each decision.
func TestRiskRules(t *testing.T) {
	fx := newRiskFixture(t)
	base := acs.Risk{
		LowValue:       acs.DefaultRisk.LowValue,
		TRA:            acs.TRA{UpTo100: true},
		ChallengeAbove: eur("1000"),
		KnownBrowsers:  true,
	}
	otherMerchant := map[string]any{"acquirerMerchantID": "M-999", "merchantName": "Anderer Shop"}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		risk   func(r *acs.Risk)
		set    map[string]any
		status string
		why    []string
	}{
		{"low value", nil, with(otherMerchant, "purchaseAmount", "2000"), "Y", []string{acs.ReasonLowValue}},
		{"TRA up to 100", nil, with(otherMerchant, "purchaseAmount", "8000"), "Y", []string{acs.ReasonTRA100}},
		{"TRA band 250 off", nil, with(otherMerchant, "purchaseAmount", "18000"), "C", []string{acs.ReasonNoExemption}},
		{"TRA band 250 on", func(r *acs.Risk) { r.TRA.UpTo250 = true }, with(otherMerchant, "purchaseAmount", "18000"), "Y", []string{acs.ReasonTRA250}},
		{"TRA band 500 on", func(r *acs.Risk) { r.TRA.UpTo500 = true }, with(otherMerchant, "purchaseAmount", "50000"), "Y", []string{acs.ReasonTRA500}},
		{"above 500", func(r *acs.Risk) { r.TRA = acs.TRA{UpTo100: true, UpTo250: true, UpTo500: true} }, with(otherMerchant, "purchaseAmount", "50001"), "C", []string{acs.ReasonNoExemption}},
		{"whitelisted merchant", nil, map[string]any{"purchaseAmount": "18000"}, "Y", []string{acs.ReasonWhitelisted}},
		// Issue 12: a merchant's identity is acquirer ids any AReq can copy: the exemption has its own cap.
		{"whitelisted merchant above its cap", func(r *acs.Risk) { r.WhitelistMax = decimal.NewFromInt(100) }, map[string]any{"purchaseAmount": "18000"}, "C", []string{acs.ReasonNoExemption}},
		{"no whitelist without the exact acquirer merchant id", nil, with(otherMerchant, "merchantName", "Beispiel-Shop", "purchaseAmount", "18000"), "C", []string{acs.ReasonNoExemption}},
		{"amount above limit", nil, map[string]any{"purchaseAmount": "100001"}, "C", []string{acs.ReasonAmountAboveLimit}},
		{"cross-currency", nil, map[string]any{"purchaseAmount": "1000", "purchaseCurrency": "840"}, "C", []string{acs.ReasonCrossCurrency}},
		{"new browser", nil, map[string]any{"purchaseAmount": "1000", "browserUserAgent": "Mozilla/5.0 (Windows NT 10.0) Firefox/140.0"}, "C", []string{acs.ReasonNewBrowser}},
		{"new screen", nil, map[string]any{"purchaseAmount": "1000", "browserScreenWidth": "390"}, "C", []string{acs.ReasonNewBrowser}},
		{"new IP", nil, map[string]any{"purchaseAmount": "1000", "browserIP": "198.51.100.7"}, "C", []string{acs.ReasonNewIP}},
		// Issue 12: leaving browserIP out does not switch the new-IP rule off.
		{"no IP given", nil, with(otherMerchant, "purchaseAmount", "1000", "browserIP", nil), "C", []string{acs.ReasonNewIP}},
		{"known browsers off", func(r *acs.Risk) { r.KnownBrowsers = false }, with(otherMerchant, "purchaseAmount", "1000", "browserIP", "198.51.100.7"), "Y", []string{acs.ReasonLowValue}},
		{"requestor prefers a challenge", nil, map[string]any{"purchaseAmount": "1000", "threeDSRequestorChallengeInd": "03"}, "C", []string{acs.ReasonRequestorPrefers}},
		{"challenge mandated", nil, map[string]any{"purchaseAmount": "1000", "threeDSRequestorChallengeInd": "04"}, "C", []string{acs.ReasonChallengeMandated}},
		{"no challenge wanted, exemption applies", nil, with(otherMerchant, "purchaseAmount", "1000", "threeDSRequestorChallengeInd", "02"), "Y", []string{acs.ReasonLowValue}},
		{"no challenge wanted, no exemption", nil, with(otherMerchant, "purchaseAmount", "18000", "threeDSRequestorChallengeInd", "02"), "C", []string{acs.ReasonNoExemption}},
		{"signals add up", nil, map[string]any{"purchaseAmount": "1000", "purchaseCurrency": "840", "threeDSRequestorChallengeInd": "04",
			"browserIP": "198.51.100.7"}, "C", []string{acs.ReasonChallengeMandated, acs.ReasonCrossCurrency, acs.ReasonNewIP}},
		{"whitelisted but new browser", nil, map[string]any{"purchaseAmount": "18000", "browserLanguage": "fr-FR"}, "C", []string{acs.ReasonNewBrowser}},
		{"zero value rules challenge", func(r *acs.Risk) { *r = acs.Risk{} }, with(otherMerchant, "purchaseAmount", "100"), "C", []string{acs.ReasonNoExemption}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			if tc.risk != nil {
				tc.risk(&r)
			}
			fx.use(t, r)
			fx.Clock.Advance(time.Hour) // apart from the velocity window of other cases
			res, err := fx.decide(t, func(m map[string]any) {
				for k, v := range tc.set {
					if v == nil {
						delete(m, k)
					} else {
						m[k] = v
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			got := fx.reasons(t, res.ACSTransID)
			if res.TransStatus != tc.status || !slices.Equal(got, append([]string{acs.ReasonRegisteredMTAN}, tc.why...)) {
				t.Fatalf("%s %v, want %s %v", res.TransStatus, got, tc.status, tc.why)
			}
			if (res.TransStatus == "Y") != (res.ECI == "05" && len(res.AuthenticationValue) == 28) {
				t.Fatalf("ECI/authentication value: %+v", res)
			}
			if want := map[bool]string{true: "Y", false: "N"}[slices.Contains(tc.why, acs.ReasonWhitelisted)]; res.WhiteListStatus != want ||
				res.WhiteListSource != "03" {
				t.Fatalf("whiteListStatus %q/%q", res.WhiteListStatus, res.WhiteListSource)
			}
			// Low-value counters start afresh for each case.
			if _, err := fx.Pool.Exec(context.Background(), `DELETE FROM acs_sca_counters`); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// R-AUTH-7 (PSD2 RTS Art. 16): parallel low-value purchases of one card are let through up to the
// limits and no further, whether their statements go together (store.Pipeline: several counts in one
// transaction) or each by itself; every AReq is stored once.
func TestRiskLowValueInParallel(t *testing.T) {
	fx := newRiskFixture(t)
	for _, piped := range []bool{true, false} {
		t.Run(map[bool]string{true: "pipeline", false: "alone"}[piped], func(t *testing.T) {
			if !piped {
				fx.pipe = nil
			}
			fx.use(t, acs.Risk{LowValue: acs.DefaultRisk.LowValue, KnownBrowsers: true}) // at most 5, EUR 100 together
			fx.Clock.Advance(time.Hour)
			if _, err := fx.Pool.Exec(context.Background(), `DELETE FROM acs_sca_counters`); err != nil {
				t.Fatal(err)
			}
			const n = 12
			results := make(chan *ares, n)
			for range n {
				go func() {
					res, err := fx.decide(t, func(m map[string]any) {
						m["acquirerMerchantID"], m["merchantName"], m["purchaseAmount"] = "M-999", "Anderer Shop", "1000"
					})
					if err != nil {
						t.Error(err)
					}
					results <- res
				}()
			}
			ids := map[string]bool{}
			var frictionless int
			for range n {
				res := <-results
				if res == nil {
					t.FailNow()
				}
				ids[res.ACSTransID] = true
				switch got := fx.reasons(t, res.ACSTransID); {
				case res.TransStatus == "Y" && slices.Equal(got, []string{acs.ReasonRegisteredMTAN, acs.ReasonLowValue}):
					frictionless++
				case res.TransStatus == "C":
				default:
					t.Fatalf("%s %v", res.TransStatus, got)
				}
			}
			var count, stored int
			if err := fx.Pool.QueryRow(context.Background(), `SELECT (SELECT count FROM acs_sca_counters),
				(SELECT count(*) FROM acs_transactions WHERE acquirer_merchant_id = 'M-999' AND acs_trans_id = ANY($1))`,
				slices.Collect(maps.Keys(ids))).Scan(&count, &stored); err != nil {
				t.Fatal(err)
			}
			if frictionless != 5 || count != 5 || stored != n || len(ids) != n {
				t.Fatalf("%d let through, counted %d, %d of %d stored: want 5, 5, all", frictionless, count, stored, len(ids))
			}
			if piped {
				s := fx.pipe.Stats()
				if s.Statements < n {
					t.Fatalf("%+v: the AReqs' writes did not go through the pipeline", s)
				}
				t.Logf("pipeline: %+v", s)
			}
		})
	}
}

// Velocity: the Count-th AReq within Window is challenged; after the window it is not.
func TestRiskVelocity(t *testing.T) {
	fx := newRiskFixture(t)
	fx.Clock.Advance(time.Hour)
	fx.use(t, acs.Risk{TRA: acs.TRA{UpTo100: true}, Velocity: acs.Velocity{Count: 3, Window: 10 * time.Minute}, KnownBrowsers: true})
	small := func(m map[string]any) { m["purchaseAmount"] = "1000"; m["acquirerMerchantID"] = "M-7" }
	for i, want := range []string{"Y", "Y", "C"} {
		res, err := fx.decide(t, small)
		if err != nil || res.TransStatus != want {
			t.Fatalf("AReq %d: %+v %v", i+1, res, err)
		}
		if want == "C" && !slices.Contains(fx.reasons(t, res.ACSTransID), acs.ReasonVelocity) {
			t.Fatalf("reasons %v", fx.reasons(t, res.ACSTransID))
		}
		fx.Clock.Advance(time.Minute)
	}
	fx.Clock.Advance(10 * time.Minute)
	if res, _ := fx.decide(t, small); res.TransStatus != "Y" {
		t.Fatalf("after the window: %+v", res)
	}
}

// R-WL-2, R-WL-3: a removal takes effect for the very next AReq; 2.3.1 reports trustListStatus.
func TestRiskWhitelistRemoval(t *testing.T) {
	fx := newRiskFixture(t)
	fx.use(t, acs.Risk{KnownBrowsers: true})
	card, _ := fx.Cards.FindByPAN(context.Background(), "4000110000000017")
	entries, err := fx.wl.List(context.Background(), card.ID)
	if err != nil || len(entries) != 1 || entries[0].MerchantName != "Beispiel-Shop" || entries[0].AcquirerMerchantID != "M-000123" {
		t.Fatalf("list: %+v %v", entries, err)
	}
	v231 := to231
	if res, _ := fx.decide(t, v231); res.TransStatus != "Y" || res.TrustListStatus != "Y" || res.WhiteListStatus != "" {
		t.Fatalf("whitelisted: %+v", res)
	}
	if err := fx.wl.Remove(context.Background(), card.ID, entries[0].ID, "portal"); err != nil {
		t.Fatal(err)
	}
	if res, _ := fx.decide(t, v231); res.TransStatus != "C" || res.TrustListStatus != "N" {
		t.Fatalf("after removal: %+v", res)
	}
	other, _ := fx.Cards.FindByPAN(context.Background(), "4000110000000025")
	if err := fx.wl.Remove(context.Background(), other.ID, entries[0].ID, "portal"); err == nil || !strings.Contains(err.Error(), "no such entry") {
		t.Fatalf("another card's entry: %v", err)
	}
	if err := fx.wl.Remove(context.Background(), card.ID, uuid.New(), "portal"); err == nil {
		t.Fatal("unknown entry removed")
	}
}

// The tick counts only on the entry that succeeds: ticked on a wrong entry, unticked on the right one,
// the merchant is not trusted.
func TestRiskTrustOnlyWithSuccess(t *testing.T) {
	fx := newRiskFixture(t)
	fx.use(t, acs.Risk{})
	id, code, _ := fx.challenge(t, func(m map[string]any) { m["acquirerMerchantID"] = "M-555"; m["merchantName"] = "Dritter Shop" })
	if _, err := fx.ch.VerifyMTAN(context.Background(), id, code, "Hamburg", true); err == nil {
		t.Fatal("wrong answer accepted")
	}
	if out, err := fx.ch.VerifyMTAN(context.Background(), id, code, "Kiel", false); out != acs.OutcomeSucceeded || err != nil {
		t.Fatalf("%s %v", out, err)
	}
	card, _ := fx.Cards.FindByPAN(context.Background(), "4000110000000017")
	entries, _ := fx.wl.List(context.Background(), card.ID)
	for _, e := range entries {
		if e.AcquirerMerchantID == "M-555" {
			t.Fatal("merchant trusted without the tick on the successful entry")
		}
	}
}

// Issue 13: an AReq takes the round trips its decision needs and no more. A card found unregistered the
// time before: one (the read stores the refusal); a registered card's purchase, frictionless or
// challenged: two (the read, then the insert, which goes with other AReqs' in the pipeline); the first
// AReq of an unregistered card: two. Counted once the statements are prepared.
func TestAReqRoundTrips(t *testing.T) {
	fx := newRiskFixture(t)
	fx.use(t, acs.Risk{LowValue: acs.DefaultRisk.LowValue, KnownBrowsers: true})
	lowValue := func(m map[string]any) {
		m["acquirerMerchantID"], m["merchantName"], m["purchaseAmount"] = "M-999", "Anderer Shop", "1000"
	}
	unregistered := func(m map[string]any) { m["acctNumber"] = "4000110000000025" }
	challenged := func(m map[string]any) { m["purchaseAmount"] = "18000"; m["acquirerMerchantID"] = "M-999" }
	for _, tc := range []struct {
		name   string
		mod    func(m map[string]any)
		status string
		trips  int64
	}{
		{"frictionless", lowValue, "Y", 2},
		{"challenged", challenged, "C", 2},
		{"not registered, first seen", unregistered, "N", 2},
		{"not registered, seen before", unregistered, "N", 1},
		{"frictionless again", lowValue, "Y", 2},
		{"challenged again", challenged, "C", 2},
		{"not registered again", unregistered, "N", 1},
	} {
		fx.Trips.Reset()
		res, err := fx.decide(t, tc.mod)
		if err != nil {
			t.Fatal(err)
		}
		if got := fx.Trips.Count(); res.TransStatus != tc.status || got != tc.trips {
			t.Errorf("%s: %s in %d round trips %q, want %s in %d", tc.name, res.TransStatus, got, fx.Trips.Sent(), tc.status, tc.trips)
		}
	}
}
