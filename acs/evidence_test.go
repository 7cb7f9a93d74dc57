package acs_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// Evidence of an app approval (issue 14; § 675w BGB): after a real approval with the PIN the stored
// signed data, signature and device-key fingerprint verify again; a changed amount or merchant in the
// stored transaction, or a changed signature, no longer verifies.
func TestEvidenceOfAnApproval(t *testing.T) {
	fx := newAppFixture(t)
	ctx := context.Background()
	ares, _ := fx.purchase(t, nil)
	id := uuid.MustParse(ares["acsTransID"].(string))
	if e, err := fx.a.ch.Evidence(ctx, id); err != nil || e.Verified() || len(e.SignedData) != 0 {
		t.Fatalf("before the answer: %+v %v", e, err)
	}
	list := fx.pending(t, fx.a)
	if code, out := fx.answerVia(t, fx.a, list[0].Confirmation, "approve", "pin", "4821"); code != 200 {
		t.Fatalf("approve: %d %v", code, out)
	}
	e, err := fx.a.ch.Evidence(ctx, id)
	if err != nil || !e.Verified() || e.Verification != "pin" || e.State != "approved" || e.TransStatus != "Y" ||
		e.Amount != "49,90 EUR" || e.Merchant != "Beispiel-Shop" || e.Card != "520011******0012" || len(e.DeviceKeySHA256) != 32 {
		t.Fatalf("evidence: %+v %v", e, err)
	}
	// In this order: each change is undone before the next, and the signature's last, so that every
	// case starts from evidence that verifies.
	for _, c := range []struct{ name, change, undo string }{
		{"amount", `UPDATE acs_transactions SET amount = amount + 1 WHERE acs_trans_id = $1`,
			`UPDATE acs_transactions SET amount = amount - 1 WHERE acs_trans_id = $1`},
		{"merchant", `UPDATE acs_transactions SET merchant_name = 'Anderer Shop' WHERE acs_trans_id = $1`,
			`UPDATE acs_transactions SET merchant_name = 'Beispiel-Shop' WHERE acs_trans_id = $1`},
		{"signature", `UPDATE app_confirmations SET signature = set_byte(signature, 9, (get_byte(signature, 9) + 1) % 256) WHERE acs_trans_id = $1`, ""},
	} {
		if e, err := fx.a.ch.Evidence(ctx, id); err != nil || !e.Verified() {
			t.Fatalf("before changing the %s: %+v %v", c.name, e, err)
		}
		if _, err := fx.Pool.Exec(ctx, c.change, id); err != nil {
			t.Fatal(err)
		}
		if e, err := fx.a.ch.Evidence(ctx, id); err != nil || e.Verified() {
			t.Fatalf("a changed %s still verifies: %+v %v", c.name, e, err)
		}
		if c.undo != "" {
			if _, err := fx.Pool.Exec(ctx, c.undo, id); err != nil {
				t.Fatal(err)
			}
		}
	}
}
