package acs_test

import (
	"context"
	"testing"
	"time"
)

// decoupledAReq sends an AReq for Noah's app card asking for decoupled authentication (2.3.1
// threeDSRequestorDecReqInd Y, threeDSRequestorDecMaxTime in minutes).
func (fx *appFixture) decoupledAReq(t *testing.T, v, maxTime string) map[string]any {
	t.Helper()
	set := versionSet(v, map[string]any{"acctNumber": noahPAN, "threeDSRequestorDecReqInd": "Y", "threeDSRequestorDecMaxTime": maxTime})
	a, err := fx.sim.AReq(areqFile, set)
	if err != nil {
		t.Fatal(err)
	}
	_, ares, err := fx.sim.Send(a)
	if err != nil {
		t.Fatal(err)
	}
	if p := fx.sim.Problems(); len(p) > 0 {
		t.Fatalf("the ARes breaks its table: %v", p)
	}
	return ares
}

// Decoupled authentication (issue 14; 2.3.1 Req 321, 322, 345): asked for, the app card's purchase is
// answered D with acsDecConInd Y and the cardholder's text; the confirmation goes to the bank's app at
// once, without browser or SDK; the app's approval sends the RReq Y.
func TestDecoupledApprove(t *testing.T) {
	for _, v := range []string{"2.2.0", "2.3.1"} {
		t.Run(v, func(t *testing.T) {
			fx := newAppFixture(t)
			ares := fx.decoupledAReq(t, v, "00010")
			if ares["transStatus"] != "D" || ares["acsDecConInd"] != "Y" || ares["cardholderInfo"] == nil || ares["acsURL"] != nil {
				t.Fatalf("ARes: %v", ares)
			}
			if v == "2.3.1" {
				if m, _ := ares["authenticationMethod"].([]any); len(m) != 2 || m[1] != "12" {
					t.Fatalf("authenticationMethod %v, want 12 among them (Req 321 b)", ares["authenticationMethod"])
				}
			}
			select {
			case c := <-fx.a.pushed:
				if c.ID.String() != ares["acsTransID"] {
					t.Fatalf("pushed %v", c)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no push for the decoupled authentication")
			}
			list := fx.pending(t, fx.b)
			if len(list) != 1 || list[0].ID.String() != ares["acsTransID"] {
				t.Fatalf("the app lists %v", list)
			}
			if code, out := fx.answerVia(t, fx.b, list[0].Confirmation, "approve", "pin", "4821"); code != 200 || out["trans_status"] != "Y" {
				t.Fatalf("approve: %d %v", code, out)
			}
			if _, err := fx.a.results.DeliverDue(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
			if len(r) != 1 || r[0].Message["transStatus"] != "Y" || r[0].Message["authenticationValue"] == nil {
				t.Fatalf("RReq: %v", r)
			}
		})
	}
}

// A decoupled authentication the cardholder does not answer in time ends with U, reason 24 (maximum
// time expired) and challengeCancel 03 (Req 345); the app's confirmation is void.
func TestDecoupledTimeout(t *testing.T) {
	fx := newAppFixture(t)
	ctx := context.Background()
	ares := fx.decoupledAReq(t, "2.3.1", "00005")
	if ares["transStatus"] != "D" {
		t.Fatalf("ARes: %v", ares)
	}
	fx.Clock.Advance(4 * time.Minute)
	if n, err := fx.a.results.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("swept %d before the time was up: %v", n, err)
	}
	fx.Clock.Advance(2 * time.Minute)
	if n, err := fx.a.results.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("swept %d after the time: %v", n, err)
	}
	if _, err := fx.a.results.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	r := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
	if len(r) != 1 || r[0].Message["transStatus"] != "U" || r[0].Message["transStatusReason"] != "24" || r[0].Message["challengeCancel"] != "03" {
		t.Fatalf("RReq: %v", r)
	}
	if len(fx.pending(t, fx.a)) != 0 {
		t.Error("the app still lists the expired confirmation")
	}
}

// Decoupled only when asked for as the primary way and with enough time: F (fallback only), no
// indicator, or a maximum time under two minutes give the challenge (C) as before.
func TestDecoupledOnlyWhenAsked(t *testing.T) {
	fx := newAppFixture(t)
	for name, set := range map[string]map[string]any{
		"fallback only": {"threeDSRequestorDecReqInd": "F", "threeDSRequestorDecMaxTime": "00010"},
		"not asked":     {},
		"one minute":    {"threeDSRequestorDecReqInd": "Y", "threeDSRequestorDecMaxTime": "00001"},
	} {
		set["acctNumber"] = noahPAN
		a, _ := fx.sim.AReq(areqFile, versionSet("2.3.1", set))
		if _, ares, err := fx.sim.Send(a); err != nil || ares["transStatus"] != "C" {
			t.Errorf("%s: %v %v", name, ares, err)
		}
	}
}
