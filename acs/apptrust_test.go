package acs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/google/uuid"

	"example.com/acs/appapi"
	"example.com/acs/whitelist"
)

// The trust box in the bank's app (R-WL-1; issue 14): approving can also trust the merchant, as the
// mTAN page's box does. The trust is part of what the device signs (canonical_trusting): the same
// request with the trust flag but a signature over the plain confirmation is refused, and the evidence
// shows the trust. The merchant is then on the card's trusted list.
func TestAppApproveAndTrustTheMerchant(t *testing.T) {
	fx := newAppFixture(t)
	ctx := context.Background()
	ares, _ := fx.purchase(t, nil)
	list := fx.pending(t, fx.a)
	c := list[0]
	if string(c.CanonicalTrusting) != string(c.Confirmation.CanonicalTrusting()) {
		t.Fatalf("canonical_trusting %s", c.CanonicalTrusting)
	}
	sign := func(data []byte) []byte {
		sum := sha256.Sum256(data)
		sig, _ := ecdsa.SignASN1(rand.Reader, fx.key, sum[:])
		return sig
	}
	answer := func(sig []byte) (int, map[string]any) {
		var out map[string]any
		code := fx.app(t, fx.a, "/confirmations/answer", appapi.AnswerRequest{CardID: fx.cardID, ConfirmationID: c.ID,
			Decision: "approve", UserVerification: "pin", PIN: "4821", Signature: sig, TrustMerchant: true}, &out)
		return code, out
	}
	// Trust asked for, but the device signed the plain confirmation: someone added the flag.
	if code, out := answer(sign(c.Confirmation.Canonical())); code != 400 {
		t.Fatalf("trust without its signature: %d %v", code, out)
	}
	if code, out := answer(sign(c.Confirmation.CanonicalTrusting())); code != 200 || out["trans_status"] != "Y" {
		t.Fatalf("approve and trust: %d %v", code, out)
	}
	entries, err := whitelist.New(fx.Pool, fx.Clock).List(ctx, fx.cardID)
	if err != nil || len(entries) != 1 || entries[0].MerchantName != "Beispiel-Shop" {
		t.Fatalf("trusted list: %+v %v", entries, err)
	}
	e, err := fx.a.ch.Evidence(ctx, uuid.MustParse(ares["acsTransID"].(string)))
	if err != nil || !e.Verified() || !e.Trusted {
		t.Fatalf("evidence: %+v %v", e, err)
	}
}
