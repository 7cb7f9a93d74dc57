package acs

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"example.com/acs/apperr"
	"example.com/acs/authval"
	"example.com/acs/cards"
	"example.com/acs/hsm"
)

// The authentication value and ECI of a Y or A (R-AUTH-8, issue 15) are package authval's: the scheme's
// layout, chosen by the card directory's scheme, with the BIN range's key in the HSM. This file maps
// what the ACS knows about a transaction onto its input.

// avMethod is the method a value encodes for the way a challenge ended: the channel (via) and, for the
// bank's app, how the app verified the cardholder.
func avMethod(via Via, how Verification) authval.Method {
	switch via {
	case ViaOffline:
		return authval.AppOTP
	case ViaApp:
		if how == VerifiedPIN {
			return authval.AppPIN
		}
		return authval.AppBiometric
	}
	return authval.SMSOTP
}

// decidedMethod is the method a value encodes for a Y or A the AReq's decision gave (no challenge):
// an attempt, a 3RI payment, or a frictionless purchase.
func decidedMethod(status, channel string) authval.Method {
	switch {
	case status == "A":
		return authval.Attempted
	case channel == Channel3RI:
		return authval.MerchantInitiated
	}
	return authval.Frictionless
}

// avTransaction is the value's input for the transaction an AReq started.
func avTransaction(a *AReq, scheme cards.Scheme, acsTransID, status string, m authval.Method) authval.Transaction {
	ds, _ := uuid.Parse(a.DSTransID) // validated as a UUID with the AReq
	return authval.Transaction{Scheme: scheme, PAN: a.AcctNumber, ACSTransID: uuid.MustParse(acsTransID), DSTransID: ds,
		Status: status, Method: m, Category: a.MessageCategory, Channel: a.DeviceChannel, HasAmount: a.HasAmount,
		MinorUnits: a.MinorUnits, Currency: a.Currency, MerchantName: a.MerchantName}
}

// generateAV computes a value. A token failure is Unavailable (the ACS answers as when the HSM is
// down); anything else is a configuration mistake (a card outside every BIN range of its scheme) and
// says so, rather than sending the operator to the HSM.
func generateAV(s *authval.Service, t authval.Transaction) (authval.Value, error) {
	v, err := s.Generate(t)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, hsm.ErrUnavailable):
		return v, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	default:
		return v, fmt.Errorf("acs: no authentication value for a %s card (authentication_values ranges?): %w", t.Scheme, err)
	}
}
