package appapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"example.com/acs/acs"
)

// Confirmations in the app (R-AUTH-2, R-AUTH-3, R-AUTH-6). The app lists what waits, or waits for it
// (long poll, woken through PostgreSQL so that it works whichever process the push came from), shows
// merchant, amount and date, and answers with a signature of the device key over exactly these data.

// ConfirmationsRequest names the card.
type ConfirmationsRequest struct {
	CardID uuid.UUID `json:"card_id" validate:"required"`
}

// ConfirmationsResponse lists waiting confirmations. Canonical is what the app signs, base64.
type ConfirmationsResponse struct {
	Confirmations []ConfirmationView `json:"confirmations"`
}

// ConfirmationView is a confirmation as the app receives it.
type ConfirmationView struct {
	acs.Confirmation
	Canonical []byte `json:"canonical"`
	// CanonicalTrusting is what the app signs to approve and trust the merchant (R-WL-1).
	CanonicalTrusting []byte `json:"canonical_trusting"`
}

// AnswerRequest approves or declines a confirmation.
type AnswerRequest struct {
	CardID         uuid.UUID `json:"card_id" validate:"required"`
	ConfirmationID uuid.UUID `json:"confirmation_id" validate:"required"`
	Decision       string    `json:"decision" validate:"required,oneof=approve decline"`
	// UserVerification is how the app verified the cardholder: pin, biometric, or biometric_failed.
	// A decline needs none.
	UserVerification string `json:"user_verification" validate:"required_if=Decision approve,omitempty,oneof=pin biometric biometric_failed"`
	PIN              string `json:"pin" validate:"required_if=UserVerification pin,omitempty,len=4,numeric"`
	// Signature is the device key's ECDSA signature (ASN.1 DER, base64) over the confirmation's canonical form.
	Signature []byte `json:"signature" validate:"required,max=128"`
	// TrustMerchant: approve and trust the merchant (R-WL-1); the signature is then over
	// canonical_trusting.
	TrustMerchant bool `json:"trust_merchant"`
}

// AnswerResponse is the purchase's outcome.
type AnswerResponse struct {
	TransStatus string `json:"trans_status"`
	Result      string `json:"result"`
}

// longPoll bounds a wait request; the app asks again.
const longPoll = 25 * time.Second

func (a *API) confirmations(c echo.Context) error {
	return a.listConfirmations(c, false)
}

func (a *API) waitConfirmations(c echo.Context) error {
	return a.listConfirmations(c, true)
}

func (a *API) listConfirmations(c echo.Context, wait bool) error {
	ctx := c.Request().Context()
	var req ConfirmationsRequest
	nonce, err := a.bindActiveNonce(c, &req)
	if err != nil {
		return err
	}
	deadline := time.NewTimer(longPoll)
	defer deadline.Stop()
	for {
		var changed <-chan struct{}
		if wait && a.d.Wake != nil {
			changed = a.d.Wake.Changed() // taken before reading, so no notification falls in between
		}
		// The first read records the request's nonce in the same round trip (issue 13).
		list, err := a.d.Challenges.PendingAfter(ctx, req.CardID, nonce)
		if err != nil {
			return replayed(err)
		}
		nonce = nil
		if len(list) > 0 || changed == nil {
			return c.JSON(http.StatusOK, views(list))
		}
		select {
		case <-changed:
		case <-deadline.C:
			return c.JSON(http.StatusOK, views(nil))
		case <-a.d.Stopping:
			return c.JSON(http.StatusOK, views(nil))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func views(list []acs.Confirmation) ConfirmationsResponse {
	out := ConfirmationsResponse{Confirmations: []ConfirmationView{}}
	for _, c := range list {
		out.Confirmations = append(out.Confirmations, ConfirmationView{Confirmation: c, Canonical: c.Canonical(),
			CanonicalTrusting: c.CanonicalTrusting()})
	}
	return out
}

func (a *API) answer(c echo.Context) error {
	ctx := c.Request().Context()
	var req AnswerRequest
	nonce, err := a.bindActiveNonce(c, &req)
	if err != nil {
		return err
	}
	// The nonce is written with the answer's end (issue 13: one commit less), or on its own where the
	// answer is refused.
	f, err := a.d.Challenges.AnswerApp(ctx, req.CardID, req.ConfirmationID, acs.Answer{Approve: req.Decision == "approve",
		Verification: acs.Verification(req.UserVerification), PIN: req.PIN, Signature: req.Signature, TrustMerchant: req.TrustMerchant,
		Nonce: nonce})
	if err != nil {
		return replayed(err)
	}
	return c.JSON(http.StatusOK, AnswerResponse{TransStatus: f.TransStatus, Result: f.Why})
}
