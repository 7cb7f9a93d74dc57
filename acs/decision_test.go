package acs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
	"example.com/acs/sms"
	"example.com/acs/store"
)

type decisionFixture struct {
	*testenv.Stack
	reg *registration.Registrar
	dc  *acs.Decider
}

func newDecisionFixture(t *testing.T) *decisionFixture {
	t.Helper()
	st := testenv.NewStack(t)
	reg := registration.New(registration.Deps{Pool: st.Pool, Cards: st.Cards, Letters: st.Letters, Data: st.Keys, Keys: st.HSM,
		Outbox: sms.NewOutbox(st.Keys, st.Clock), Audit: audit.New(st.Pool, st.Clock), Clock: st.Clock, Log: st.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	// The AReqs' statements go through the pipeline, as in production (store.DefaultPipelineLanes).
	dc := acs.NewDecider(acs.DecisionDeps{Pool: st.Pool, Pipe: &store.Pipeline{Pool: st.Pool, Lanes: 1}, Cards: st.Cards,
		Clock: st.Clock, Log: st.Log, ChallengeURL: "https://acs.example/3ds/challenge",
		ReferenceNumber: "3DS_LOA_ACS_TEST_020200_00001", AV: st.AV})
	return &decisionFixture{Stack: st, reg: reg, dc: dc}
}

// registerApp gives a demo card an active app registration.
func (fx *decisionFixture) registerApp(t *testing.T, pan string, month, year int, name string) {
	t.Helper()
	ctx := context.Background()
	card, err := fx.reg.VerifyCard(ctx, registration.HolderData{PAN: pan, ExpiryMonth: month, ExpiryYear: year, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if _, err := fx.reg.RequestApp(ctx, card, registration.AppRequest{DeviceKey: der, Platform: "ios", OSVersion: "17",
		PIN: "4821", OfflineSecret: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodApp, fx.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
}

// ares is an ARes as a test reads it.
type ares struct {
	MessageType          string   `json:"messageType"`
	MessageVersion       string   `json:"messageVersion"`
	ThreeDSServerTransID string   `json:"threeDSServerTransID"`
	ACSTransID           string   `json:"acsTransID"`
	TransStatus          string   `json:"transStatus"`
	TransStatusReason    string   `json:"transStatusReason"`
	ACSURL               string   `json:"acsURL"`
	ACSChallengeMandated string   `json:"acsChallengeMandated"`
	AuthenticationType   string   `json:"authenticationType"`
	AuthenticationMethod []string `json:"authenticationMethod"`
	ECI                  string   `json:"eci"`
	AuthenticationValue  string   `json:"authenticationValue"`
	WhiteListStatus      string   `json:"whiteListStatus"`
	WhiteListSource      string   `json:"whiteListStatusSource"`
	TrustListStatus      string   `json:"trustListStatus"`
	TrustListSource      string   `json:"trustListStatusSource"`
	Exemption            string   `json:"transChallengeExemption"`
}

func (fx *decisionFixture) decide(t *testing.T, mod func(m map[string]any)) (*ares, error) {
	t.Helper()
	m := areq(t)
	m["threeDSServerTransID"] = uuid.NewString()
	if mod != nil {
		mod(m)
	}
	a, e := acs.ParseAReq(encode(t, m))
	if e != nil {
		t.Fatalf("AReq: %+v", e)
	}
	body, _, err := fx.dc.Decide(context.Background(), a)
	if err != nil {
		return nil, err
	}
	var r ares
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return &r, nil
}

func (fx *decisionFixture) reasons(t *testing.T, acsTransID string) []string {
	t.Helper()
	var raw []byte
	if err := fx.Pool.QueryRow(context.Background(), `SELECT reasons FROM acs_transactions WHERE acs_trans_id = $1`, acsTransID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var r []string
	_ = json.Unmarshal(raw, &r)
	return r
}

// R-AUTH-1: the ACS answers at once with a status and, for a challenge, the URL; the reasons are stored.
func TestDecisions(t *testing.T) {
	fx := newDecisionFixture(t)
	fx.registerApp(t, "4000110000000017", 9, 2029, "Anna Schmidt")
	for name, tc := range map[string]struct {
		pan, status, reason, why string
		mod                      func(m map[string]any)
	}{
		"unknown card":       {"4000110000000991", "N", "08", acs.ReasonCardUnknown, nil},
		"blocked card":       {"4000110000000058", "N", "12", acs.ReasonCardBlocked, nil},
		"expired card":       {"4000110000000066", "N", "05", acs.ReasonCardExpired, nil},
		"not registered":     {"4000110000000025", "N", "13", acs.ReasonNotRegistered, nil},
		"registered":         {"4000110000000017", "C", "", acs.ReasonRegisteredApp, nil},
		"challenge mandated": {"4000110000000017", "C", "", acs.ReasonChallengeMandated, func(m map[string]any) { m["threeDSRequestorChallengeInd"] = "04" }},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := fx.decide(t, func(m map[string]any) {
				m["acctNumber"] = tc.pan
				if tc.mod != nil {
					tc.mod(m)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.TransStatus != tc.status || res.TransStatusReason != tc.reason || res.MessageType != "ARes" || res.ACSTransID == "" {
				t.Fatalf("ARes: %+v", res)
			}
			if tc.status == "C" {
				if res.ACSURL != "https://acs.example/3ds/challenge" || res.AuthenticationType != "03" {
					t.Fatalf("challenge: %+v", res)
				}
				if want := map[bool]string{true: "Y", false: "N"}[tc.why == acs.ReasonChallengeMandated]; res.ACSChallengeMandated != want {
					t.Fatalf("acsChallengeMandated %q, want %q", res.ACSChallengeMandated, want)
				}
			} else if res.ACSURL != "" {
				t.Fatal("acsURL without a challenge")
			}
			found := false
			for _, r := range fx.reasons(t, res.ACSTransID) {
				found = found || r == tc.why
			}
			if !found {
				t.Fatalf("reasons %v lack %s", fx.reasons(t, res.ACSTransID), tc.why)
			}
		})
	}
	dump := testenv.Dump(t, fx.Pool, "acs_transactions")
	if strings.Contains(dump, "4000110000000017") || strings.Contains(dump, "4000110000000991") {
		t.Fatal("a card number is stored with the transaction")
	}
	if !strings.Contains(dump, `"amount":49.900000`) && !strings.Contains(dump, `"amount":49.9`) {
		t.Fatalf("amount not stored as a decimal: %s", dump[:200])
	}
}

func TestReplayedAReqRefused(t *testing.T) {
	fx := newDecisionFixture(t)
	id := uuid.NewString()
	same := func(m map[string]any) { m["threeDSServerTransID"] = id }
	if _, err := fx.decide(t, same); err != nil {
		t.Fatal(err)
	}
	_, err := fx.decide(t, same)
	e, ok := err.(*acs.Erro)
	if !ok || e.ErrorCode != "305" || e.ErrorDetail != "threeDSServerTransID" {
		t.Fatalf("replay: %v", err)
	}
	// The same for a card without registration, whose repeated AReq is read and stored in one statement
	// (refusingSQL): the statement fails as a whole, and the answer is the same Erro (Annex A, Error Code
	// 305, Transaction data not valid, naming the element).
	unregistered := uuid.NewString()
	for i, want := range []string{"", "305", "305"} {
		_, err := fx.decide(t, func(m map[string]any) { m["threeDSServerTransID"], m["acctNumber"] = unregistered, "4000110000000025" })
		if e, ok := err.(*acs.Erro); (want == "" && err != nil) || (want != "" && (!ok || e.ErrorCode != want)) {
			t.Fatalf("unregistered card's AReq %d: %v", i+1, err)
		}
	}
}

// Issue 13, R-AUTH-1 (the ACS answers at once, and stores what it answered): the read of a
// not-registered card's AReq stores its refusal N/13 in the same statement
// (refusingSQL), from the card's second AReq on (the first finds it unregistered). It must store exactly
// what the decision answers, for no card the decision answers otherwise: the month of expiry is still
// valid (N/13), the month after it is not (N/05, stored by the decision's own write), a blocked card is
// N/12; each transaction once, with the ARes's status. Each case that is not N/13 follows one that is,
// so that its first AReq is read with the refusal attached.
func TestTheReadStoresOnlyItsRefusal(t *testing.T) {
	fx := newDecisionFixture(t)
	ctx := context.Background()
	const pan = "4000110000000025" // a demo card without registration
	var cardID uuid.UUID
	if err := fx.Pool.QueryRow(ctx, `SELECT id FROM issuer_cards WHERE pan_last4 = '0025' AND status = 'active'`).Scan(&cardID); err != nil {
		t.Fatal(err)
	}
	now := fx.Clock.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name           string
		expiry         time.Time
		status         string
		transStatus    string
		transStatusWhy string
		why            string
	}{
		{"valid to the end of this month", thisMonth, "active", "N", "13", acs.ReasonNotRegistered},
		{"expired last month", thisMonth.AddDate(0, -1, 0), "active", "N", "05", acs.ReasonCardExpired},
		{"valid for years", thisMonth.AddDate(3, 0, 0), "active", "N", "13", acs.ReasonNotRegistered},
		{"blocked", thisMonth.AddDate(1, 0, 0), "blocked", "N", "12", acs.ReasonCardBlocked},
	} {
		if _, err := fx.Pool.Exec(ctx, `UPDATE issuer_cards SET expiry_month = $2, status = $3 WHERE id = $1`, cardID, tc.expiry,
			tc.status); err != nil {
			t.Fatal(err)
		}
		for _, second := range []bool{false, true} {
			m := areq(t)
			m["threeDSServerTransID"], m["acctNumber"] = uuid.NewString(), pan
			a, e := acs.ParseAReq(encode(t, m))
			if e != nil {
				t.Fatalf("AReq: %+v", e)
			}
			_, res, err := fx.dc.Decide(ctx, a)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if res.TransStatus != tc.transStatus || res.TransStatusReason != tc.transStatusWhy {
				t.Fatalf("%s: ARes %s/%s, want %s/%s", tc.name, res.TransStatus, res.TransStatusReason, tc.transStatus, tc.transStatusWhy)
			}
			if second && res.StoredByRead() != (tc.transStatusWhy == "13") {
				t.Fatalf("%s: stored by the read: %v", tc.name, res.StoredByRead())
			}
			fx.checkStored(t, tc.name, res.ACSTransID, cardID, tc.transStatus, tc.transStatusWhy, tc.why)
		}
	}
}

// checkStored checks the transaction's row: once, with the status, reason and reasons, the card and no
// registration, no due time, the merchant's name.
func (fx *decisionFixture) checkStored(t *testing.T, name, acsTransID string, cardID uuid.UUID, transStatus, transStatusWhy, why string) {
	t.Helper()
	var n int
	var status, reason string
	var reasons []string
	var card, reg *uuid.UUID
	var due *time.Time
	var merchant *string
	if err := fx.Pool.QueryRow(context.Background(), `SELECT count(*) OVER (), trans_status, trans_status_reason, reasons, card_id,
			registration_id, due_at, merchant_name FROM acs_transactions WHERE acs_trans_id = $1`, acsTransID).
		Scan(&n, &status, &reason, &reasons, &card, &reg, &due, &merchant); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if n != 1 || status != transStatus || reason != transStatusWhy || len(reasons) != 1 || reasons[0] != why ||
		card == nil || *card != cardID || reg != nil || due != nil || merchant == nil || *merchant == "" {
		t.Fatalf("%s: stored %d rows: %s/%s %v card %v registration %v due %v merchant %v", name, n, status, reason, reasons,
			card, reg, due, merchant)
	}
}
