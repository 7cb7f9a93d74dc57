package appapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

// The card's trusted merchants in the app (R-WL-3). Listing takes the device's signature (possession);
// removing takes the app PIN as well (knowledge), checked against its HSM verifier: the strong
// authentication PSD2 RTS Art. 13 asks for a change of the list.

// WhitelistRequest names the card whose list is read.
type WhitelistRequest struct {
	CardID uuid.UUID `json:"card_id" validate:"required"`
}

// WhitelistRemoveRequest removes one entry, confirmed with the app PIN.
type WhitelistRemoveRequest struct {
	CardID  uuid.UUID `json:"card_id" validate:"required"`
	EntryID uuid.UUID `json:"entry_id" validate:"required"`
	PIN     string    `json:"pin" validate:"required,len=4,numeric"`
}

// WhitelistResponse is the card's list.
type WhitelistResponse struct {
	Entries []whitelist.Entry `json:"entries"`
}

// cardRequest is a request made in a card's name by the card's active device.
type cardRequest interface{ card() uuid.UUID }

func (r *WhitelistRequest) card() uuid.UUID       { return r.CardID }
func (r *WhitelistRemoveRequest) card() uuid.UUID { return r.CardID }
func (r *ConfirmationsRequest) card() uuid.UUID   { return r.CardID }
func (r *AnswerRequest) card() uuid.UUID          { return r.CardID }

// bindActive reads the JSON body into req and checks that it is signed by the device key of the card's
// active app registration, with a fresh nonce.
func (a *API) bindActive(c echo.Context, req cardRequest) error {
	nonce, err := a.bindActiveNonce(c, req)
	if err != nil {
		return err
	}
	return replayed(nonce.Exec(c.Request().Context(), a.d.Pool))
}

// bindActiveNonce is bindActive with the nonce returned to be recorded by the caller, with the
// request's own statements (check).
func (a *API) bindActiveNonce(c echo.Context, req cardRequest) (*store.Queued, error) {
	raw, err := readBody(c)
	if err != nil {
		return nil, err
	}
	if err := server.BindJSON(c, req); err != nil {
		return nil, err
	}
	der, err := a.d.Registrar.DeviceKey(c.Request().Context(), req.card(), registration.Active)
	if apperr.KindOf(err) == apperr.NotFound {
		return nil, errSignature // no active app binding: no device key signed this
	}
	if err != nil {
		// The database or the HSM is away (issue 12: seen during a PostgreSQL restart): a 401 would tell the
		// app that its key is wrong; the error handler answers 503, and the app tries again.
		return nil, err
	}
	pub, err := parseKey(der)
	if err != nil {
		return nil, err
	}
	return a.check(c.Request().Context(), c, raw, pub)
}

func (a *API) whitelistList(c echo.Context) error {
	ctx := c.Request().Context()
	var req WhitelistRequest
	if err := a.bindActive(c, &req); err != nil {
		return err
	}
	entries, err := a.d.Whitelist.List(ctx, req.CardID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, WhitelistResponse{Entries: append([]whitelist.Entry{}, entries...)})
}

func (a *API) whitelistRemove(c echo.Context) error {
	ctx := c.Request().Context()
	var req WhitelistRemoveRequest
	if err := a.bindActive(c, &req); err != nil {
		return err
	}
	if err := a.d.Registrar.CheckPIN(ctx, req.CardID, req.PIN); err != nil {
		return err
	}
	if err := a.d.Whitelist.Remove(ctx, req.CardID, req.EntryID, "app"); err != nil {
		return err
	}
	entries, err := a.d.Whitelist.List(ctx, req.CardID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, WhitelistResponse{Entries: append([]whitelist.Entry{}, entries...)})
}

// SecurityLevelRequest sets the card's security level (R-X-1), confirmed with the app PIN.
type SecurityLevelRequest struct {
	CardID        uuid.UUID `json:"card_id" validate:"required"`
	SecurityLevel string    `json:"security_level" validate:"required,oneof=adaptive always_confirm"`
	PIN           string    `json:"pin" validate:"required,len=4,numeric"`
}

// securityLevel answers POST /security-level: the card's level after the change.
func (a *API) securityLevel(c echo.Context) error {
	ctx := c.Request().Context()
	var req SecurityLevelRequest
	if err := a.bindActive(c, &req); err != nil {
		return err
	}
	if err := a.d.Registrar.CheckPIN(ctx, req.CardID, req.PIN); err != nil {
		return err
	}
	changed, err := a.d.Registrar.SetSecurityLevel(ctx, req.CardID, registration.SecurityLevel(req.SecurityLevel), "cardholder:app")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"security_level": req.SecurityLevel, "changed": changed})
}

func (r *SecurityLevelRequest) card() uuid.UUID { return r.CardID }

// IssuerDataReadsResponse answers POST /issuer-data-reads: how often the issuer's data of the card
// were read (registration checks, letters, activations) in the last 13 months (R-REG-9).
type IssuerDataReadsResponse struct {
	Reads int       `json:"issuer_data_reads_13_months"`
	Since time.Time `json:"since"`
}

// issuerDataReads shows the count on demand; the device's signature is enough, as for the list of
// trusted merchants: it changes nothing.
func (a *API) issuerDataReads(c echo.Context) error {
	var req WhitelistRequest
	if err := a.bindActive(c, &req); err != nil {
		return err
	}
	n, since, err := a.d.Registrar.IssuerDataReads(c.Request().Context(), req.CardID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, IssuerDataReadsResponse{Reads: n, Since: since})
}
