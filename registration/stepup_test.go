package registration_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"example.com/acs/apperr"
	"example.com/acs/internal/testenv"
	"example.com/acs/registration"
)

// PSD2 RTS Art. 13 for mTAN cards: code by SMS plus security answer, one message whichever is wrong,
// 4 minutes, a new step-up voids the old, five failures end it, used once.
func TestStepUp(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	if _, err := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist); apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("unregistered card: %v", err)
	}
	if _, err := fx.reg.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: "0151 12345678", Question: "birthplace",
		Answer: "Kiel", AcceptPrice: true, Terms: fx.reg.PriceTerms().ID()}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodMTAN, fx.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.ConfirmNumber(ctx, card.ID, testenv.Current(t, fx.reg, card.ID), smsCode.FindString(fx.DeliverSMS(t))); err != nil {
		t.Fatal(err)
	}

	first, err := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist)
	if err != nil {
		t.Fatal(err)
	}
	firstCode := smsCode.FindString(fx.DeliverSMS(t))
	second, _ := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist)
	code := smsCode.FindString(fx.DeliverSMS(t))
	wantKind(t, fx.reg.VerifyStepUp(ctx, first, card.ID, firstCode, "Kiel"), apperr.Conflict) // voided by the second

	other := fx.verify(t, registration.HolderData{PAN: "4000110000000025", ExpiryMonth: 3, ExpiryYear: 2028, Name: "Jonas Müller"})
	wantKind(t, fx.reg.VerifyStepUp(ctx, second, other.ID, code, "Kiel"), apperr.NotFound)
	e1 := wantKind(t, fx.reg.VerifyStepUp(ctx, second, card.ID, code, "Hamburg"), apperr.Invalid)
	e2 := wantKind(t, fx.reg.VerifyStepUp(ctx, second, card.ID, "000000", "Kiel"), apperr.Invalid)
	if e1.Error() != e2.Error() {
		t.Fatalf("messages differ: %v / %v", e1, e2)
	}
	fx.Clock.Advance(3*time.Minute + 59*time.Second)
	if err := fx.reg.VerifyStepUp(ctx, second, card.ID, code, " kiel"); err != nil {
		t.Fatalf("3:59: %v", err)
	}
	wantKind(t, fx.reg.VerifyStepUp(ctx, second, card.ID, code, "Kiel"), apperr.Conflict) // used once

	third, _ := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist)
	code = smsCode.FindString(fx.DeliverSMS(t))
	fx.Clock.Advance(4*time.Minute + time.Second)
	wantKind(t, fx.reg.VerifyStepUp(ctx, third, card.ID, code, "Kiel"), apperr.Expired)

	fourth, _ := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist)
	code = smsCode.FindString(fx.DeliverSMS(t))
	for i := 1; i < registration.MaxConfirmFailures; i++ {
		wantKind(t, fx.reg.VerifyStepUp(ctx, fourth, card.ID, code, "Lübeck"), apperr.Invalid)
	}
	wantKind(t, fx.reg.VerifyStepUp(ctx, fourth, card.ID, code, "Lübeck"), apperr.Locked)
	// Five wrong in a row locked the method itself (PSD2 RTS Art. 4): even the right entry is refused,
	// and no new code is sent, until support lifts the lock.
	wantKind(t, fx.reg.VerifyStepUp(ctx, fourth, card.ID, code, "Kiel"), apperr.Locked)
	if _, err := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist); !errors.Is(err, registration.ErrMethodLocked) {
		t.Fatalf("a step-up of a locked method: %v", err)
	}
	if err := fx.reg.Unlock(ctx, card.ID, "staff:test"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist); err != nil {
		t.Fatalf("after the unlock: %v", err)
	}
	fx.DeliverSMS(t)

	// R-KEY-1, R-KEY-2: only verifiers are stored, never a code or the answer.
	dump := testenv.Dump(t, fx.Pool, "step_ups")
	for _, secret := range []string{code, firstCode, "Kiel", "kiel"} {
		if strings.Contains(dump, secret) {
			t.Fatalf("step_ups holds %q", secret)
		}
	}
}

// R-REG-7: the app PIN is checked against its HSM verifier; a right PIN resets the count; the fifth
// wrong PIN in a row locks the binding for good.
func TestCheckPIN(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.verify(t, anna)
	wantKind(t, fx.reg.CheckPIN(ctx, card.ID, "4821"), apperr.NotFound)
	if _, err := fx.reg.RequestApp(ctx, card, app(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.Activate(ctx, card.ID, registration.MethodApp, fx.PrintLetters(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.reg.StartStepUp(ctx, card.ID, registration.PurposeWhitelist); apperr.KindOf(err) != apperr.Conflict {
		t.Fatalf("step-up for an app card: %v", err)
	}
	for i := 0; i < 4; i++ {
		wantKind(t, fx.reg.CheckPIN(ctx, card.ID, "1111"), apperr.Invalid)
	}
	if err := fx.reg.CheckPIN(ctx, card.ID, "4821"); err != nil {
		t.Fatalf("right PIN after 4 wrong: %v", err)
	}
	for i := 0; i < 4; i++ {
		wantKind(t, fx.reg.CheckPIN(ctx, card.ID, "1111"), apperr.Invalid)
	}
	wantKind(t, fx.reg.CheckPIN(ctx, card.ID, "1111"), apperr.Locked)
	wantKind(t, fx.reg.CheckPIN(ctx, card.ID, "4821"), apperr.Locked)
}
