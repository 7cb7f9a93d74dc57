package registration

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/apperr"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// Step-up purposes: what the strong authentication is for, named in the SMS.
const PurposeWhitelist = "whitelist"

var purposeText = map[string]string{
	PurposeWhitelist: "zum Verwalten Ihrer Karte (vertrauenswürdige Händler, Sicherheitsstufe) / to manage your card (trusted merchants, security level)",
}

// StartStepUp sends an mTAN cardholder a code for purpose to the registered number and returns the
// step-up's id. A card registered for the app authenticates in the app instead (Conflict).
func (r *Registrar) StartStepUp(ctx context.Context, cardID uuid.UUID, purpose string) (uuid.UUID, error) {
	text, ok := purposeText[purpose]
	if !ok {
		return uuid.Nil, fmt.Errorf("registration: unknown step-up purpose %q", purpose)
	}
	reg, err := r.Active(ctx, cardID)
	if err != nil {
		return uuid.Nil, err
	}
	if reg.Method != MethodMTAN {
		return uuid.Nil, apperr.New(apperr.Conflict, "this card confirms in the app; make the change there")
	}
	if reg.Locked {
		return uuid.Nil, ErrMethodLocked // no SMS for a method that cannot be used
	}
	id := uuid.New()
	err = store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE step_ups SET state = 'void' WHERE card_id = $1 AND purpose = $2 AND state = 'pending'`,
			cardID, purpose); err != nil {
			return err
		}
		code, v, err := r.newCode("step_up", id)
		if err != nil {
			return err
		}
		now := r.d.Clock.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO step_ups (id, card_id, registration_id, purpose, verifier, expires_at, state, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)`, id, cardID, reg.ID, purpose, v, now.Add(ConfirmValidity), now); err != nil {
			return err
		}
		mobile, err := r.Mobile(ctx, tx, reg.ID)
		if err != nil {
			return err
		}
		_, err = r.d.Outbox.Enqueue(ctx, tx, sms.Message{CardID: cardID, Purpose: "step_up_" + purpose, To: mobile,
			Text:  fmt.Sprintf("Code %s %s. 4 Minuten gültig. Geben Sie den Code niemals weiter.", code, text),
			Price: r.d.SMSPrice, Currency: r.d.Currency})
		return err
	})
	return id, err
}

// VerifyStepUp checks the code of step-up id together with the security answer: one message whichever
// is wrong, at most MaxConfirmFailures tries, ConfirmValidity long, used once (guarded update).
func (r *Registrar) VerifyStepUp(ctx context.Context, id, cardID uuid.UUID, code, answer string) error {
	var result error
	err := store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		result = nil
		var regID uuid.UUID
		var stored []byte
		var expires time.Time
		var failures int
		var state string
		err := tx.QueryRow(ctx, `SELECT registration_id, verifier, expires_at, failures, state FROM step_ups
			WHERE id = $1 AND card_id = $2 FOR UPDATE`, id, cardID).Scan(&regID, &stored, &expires, &failures, &state)
		if errors.Is(err, pgx.ErrNoRows) {
			result = apperr.New(apperr.NotFound, "no such confirmation; request a new code")
			return nil
		}
		if err != nil {
			return err
		}
		if left, err := r.TriesLeft(ctx, tx, regID); err != nil {
			return err
		} else if left == 0 {
			result = ErrMethodLocked
			return nil
		}
		switch {
		case state != "pending":
			result = apperr.New(apperr.Conflict, "this code can no longer be used; request a new code")
			return nil
		case !r.d.Clock.Now().Before(expires):
			result = apperr.New(apperr.Expired, "the code has expired; request a new code")
			return nil
		}
		v, err := r.verifier("step_up", id.String(), strings.TrimSpace(code))
		if err != nil {
			return err
		}
		answerOK, err := r.CheckAnswer(ctx, tx, regID, answer)
		if err != nil {
			return err
		}
		if hmac.Equal(v, stored) && answerOK {
			if _, err := tx.Exec(ctx, `UPDATE step_ups SET state = 'used' WHERE id = $1 AND state = 'pending'`, id); err != nil {
				return err
			}
			return r.SucceedTx(ctx, tx, regID)
		}
		failures++
		newState := "pending"
		result = apperr.Field("code", "the code or the answer to your security question is not correct")
		left, err := r.FailTx(ctx, tx, regID)
		if err != nil {
			return err
		}
		switch {
		case left == 0:
			newState, result = "failed", ErrMethodLocked
		case left == 1:
			result = apperr.Field("code", "the code or the answer to your security question is not correct; "+
				"one more wrong entry locks the method")
		case failures >= MaxConfirmFailures:
			newState = "failed"
			result = apperr.New(apperr.Locked, "too many wrong entries; request a new code")
		}
		_, err = tx.Exec(ctx, `UPDATE step_ups SET failures = $2, state = $3 WHERE id = $1`, id, failures, newState)
		return err
	})
	if err != nil {
		return err
	}
	return result
}

// MaxPINFailures wrong app PINs lock the app binding; the PIN cannot be reset, the card is registered
// again (R-REG-7).
const MaxPINFailures = 5

// CheckPIN checks the app PIN of the card's active app registration against its HSM-keyed verifier. A
// wrong PIN is counted; the fifth locks the binding. A right PIN resets the count.
func (r *Registrar) CheckPIN(ctx context.Context, cardID uuid.UUID, pin string) error {
	var result error
	err := store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		result = nil
		var id, em uuid.UUID
		var stored []byte
		var failures int
		var locked bool
		err := tx.QueryRow(ctx, `SELECT id, em_cert_id, pin_verifier, auth_failures, locked_at IS NOT NULL FROM registrations
			WHERE card_id = $1 AND state = 'active' AND method = 'app' FOR UPDATE`, cardID).Scan(&id, &em, &stored, &failures, &locked)
		if errors.Is(err, pgx.ErrNoRows) {
			result = apperr.New(apperr.NotFound, "no active app registration for this card")
			return nil
		}
		if err != nil {
			return err
		}
		if locked || failures >= MaxPINFailures {
			result = ErrPINLocked
			return nil
		}
		v, err := r.verifier("pin", em.String(), pin)
		if err != nil {
			return err
		}
		if hmac.Equal(v, stored) {
			return r.SucceedTx(ctx, tx, id)
		}
		// The PIN counts with the app's other failures (offline password): one count per card and method.
		left, err := r.FailTx(ctx, tx, id)
		result = apperr.Field("pin", fmt.Sprintf("the PIN is not correct; %d tries left", left))
		if left == 0 {
			result = ErrPINLocked
		}
		return err
	})
	if err != nil {
		return err
	}
	return result
}

// ErrPINLocked refuses the PIN of an app locked by wrong ones (MaxPINFailures).
var ErrPINLocked = apperr.New(apperr.Locked, "the app is locked after 5 wrong PINs; register the card again")

// PINMatches reports whether pin is the app PIN whose HSM-keyed verifier is stored for the registration
// whose device certificate is emCertID: the comparison CheckPIN makes, for a caller that read the
// registration with its own statement (an app's answer, issue 13). A wrong PIN must then be counted
// through CheckPIN.
func (r *Registrar) PINMatches(emCertID uuid.UUID, pin string, stored []byte) (bool, error) {
	v, err := r.verifier("pin", emCertID.String(), pin)
	if err != nil {
		return false, err
	}
	return hmac.Equal(v, stored), nil
}

// StepUpExpires is when the code of step-up id stops being valid, for the page that asks for it.
func (r *Registrar) StepUpExpires(ctx context.Context, id uuid.UUID) (time.Time, error) {
	var t time.Time
	err := r.d.Pool.QueryRow(ctx, `SELECT expires_at FROM step_ups WHERE id = $1`, id).Scan(&t)
	return t, err
}
