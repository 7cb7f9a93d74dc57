package appapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"example.com/acs/registration"
	"example.com/acs/server"
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

// active checks that the request is signed by the device key of the card's active app registration.
func (a *API) active(ctx context.Context, c echo.Context, raw []byte, cardID uuid.UUID) error {
	der, err := a.d.Registrar.DeviceKey(ctx, cardID, registration.Active)
	if err != nil {
		return errSignature
	}
	pub, err := parseKey(der)
	if err != nil {
		return err
	}
	return a.verify(ctx, c, raw, pub)
}

func (a *API) whitelistList(c echo.Context) error {
	ctx := c.Request().Context()
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var req WhitelistRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	if err := a.active(ctx, c, raw, req.CardID); err != nil {
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
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var req WhitelistRemoveRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	if err := a.active(ctx, c, raw, req.CardID); err != nil {
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
