package appapi

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
	"example.com/acs/push"
)

// PushTokenRequest registers (or renews) the app's push token for a card: the FCM registration token
// on Android, the APNs device token on iOS. Signed by the device key like every app request.
type PushTokenRequest struct {
	CardID   uuid.UUID `json:"card_id" validate:"required"`
	Platform string    `json:"platform" validate:"required,oneof=android ios"`
	Token    string    `json:"token" validate:"required,max=4096"`
}

func (r *PushTokenRequest) card() uuid.UUID { return r.CardID }

// pushToken stores the token with the card's active registration; pushes then wake the app when a
// confirmation waits.
func (a *API) pushToken(c echo.Context) error {
	if a.d.Push == nil {
		return apperr.New(apperr.NotFound, "push is not configured")
	}
	ctx := c.Request().Context()
	var req PushTokenRequest
	if err := a.bindActive(c, &req); err != nil {
		return err
	}
	reg, err := a.d.Registrar.Active(ctx, req.CardID)
	if err != nil {
		return err
	}
	if err := a.d.Push.SetToken(ctx, reg.ID, push.Platform(req.Platform), req.Token, a.d.Clock.Now()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
