package support

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
	"example.com/acs/server"
)

// Routes mounts the staff JSON API on g (/support/v1). POST /session signs in with the staff token
// (bearer) and a TOTP code and returns a session token; every other route needs that session (bearer).
func (s *Service) Routes(g *echo.Group) {
	g.POST("/session", s.signIn)
	g.DELETE("/session", s.signOut, s.authenticate)
	g.POST("/cards/search", s.search, s.authenticate)
	g.GET("/cards/:id", s.view, s.authenticate)
	g.POST("/cards/:id/letters", s.newLetter, s.authenticate)
	g.POST("/cards/:id/block", s.block, s.authenticate)
	g.POST("/cards/:id/unlock", s.unlock, s.authenticate)
	g.POST("/cards/:id/sms/:sms/abuse", s.smsAbuse, s.authenticate)
	g.POST("/cards/:id/unblock", s.unblock, s.authenticate)
	g.POST("/cards/:id/whitelist/:entry/remove", s.removeTrustedMerchant, s.authenticate)
	g.GET("/outreach/:kind", s.outreach, s.authenticate)
}

func (s *Service) unblock(c echo.Context) error {
	id, reason, err := cardAndReason(c)
	if err != nil {
		return err
	}
	if err := s.Unblock(c.Request().Context(), staff(c), id, reason); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "active"})
}

func (s *Service) removeTrustedMerchant(c echo.Context) error {
	id, err := cardID(c)
	if err != nil {
		return err
	}
	entry, err := uuid.Parse(c.Param("entry"))
	if err != nil {
		return apperr.Field("entry", "must be an entry id of the card's trusted merchants")
	}
	var req reasonRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	if err := s.RemoveTrustedMerchant(c.Request().Context(), staff(c), id, entry, req.Reason); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"removed": true})
}

// outreach lists a page of cards to contact: GET /outreach/{kind}?limit=100&after=<card id>.
func (s *Service) outreach(c echo.Context) error {
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return apperr.Field("limit", fmt.Sprintf("must be 1 to %d", MaxOutreachPage))
		}
		limit = n
	}
	after := uuid.Nil
	if v := c.QueryParam("after"); v != "" {
		var err error
		if after, err = uuid.Parse(v); err != nil {
			return apperr.Field("after", "must be the next cursor of the previous page")
		}
	}
	list, next, err := s.Outreach(c.Request().Context(), staff(c), OutreachKind(c.Param("kind")), after, limit)
	if err != nil {
		return err
	}
	res := map[string]any{"cards": list}
	if next != uuid.Nil {
		res["next"] = next
	}
	return c.JSON(http.StatusOK, res)
}

// smsAbuse marks one of the card's SMS (an id of the card view's sms_cost_lines) as caused by abuse:
// the monthly statement does not charge it (R-AUTH-9).
func (s *Service) smsAbuse(c echo.Context) error {
	id, err := cardID(c)
	if err != nil {
		return err
	}
	smsID, err := uuid.Parse(c.Param("sms"))
	if err != nil {
		return apperr.Field("sms", "must be an SMS id")
	}
	var req reasonRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	marked, err := s.MarkSMSAbuse(c.Request().Context(), staff(c), id, smsID, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sms": smsID, "abuse": true, "changed": marked})
}

const staffKey = "staff"

func bearer(c echo.Context) (string, bool) {
	return strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
}

func (s *Service) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearer(c)
		if !ok {
			return errSession
		}
		st, err := s.Authenticate(c.Request().Context(), token, c.RealIP())
		if err != nil {
			return err
		}
		c.Set(staffKey, *st)
		return next(c)
	}
}

type signInRequest struct {
	OTP string `json:"otp" validate:"required,len=6,numeric"`
}

func (s *Service) signIn(c echo.Context) error {
	token, ok := bearer(c)
	if !ok {
		return errStaffToken
	}
	var req signInRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	sess, err := s.SignIn(c.Request().Context(), token, req.OTP, c.RealIP())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"session": sess.Token, "expires_at": sess.ExpiresAt,
		"idle_timeout_seconds": int(SessionIdle.Seconds()), "name": sess.Staff.Name, "role": sess.Staff.Role})
}

func (s *Service) signOut(c echo.Context) error {
	token, _ := bearer(c)
	if err := s.SignOut(c.Request().Context(), staff(c), token); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func staff(c echo.Context) Staff { return c.Get(staffKey).(Staff) }

func cardID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, apperr.Field("card_id", "must be a card id from a search")
	}
	return id, nil
}

type searchRequest struct {
	// Either the full number (never echoed back) ...
	PAN string `json:"pan" validate:"required_without=Last4,excluded_with=Last4"`
	// ... or the last four digits with the holder's name.
	Last4      string `json:"last4" validate:"omitempty,len=4,numeric"`
	HolderName string `json:"holder_name" validate:"required_with=Last4,max=70"`
}

func (s *Service) search(c echo.Context) error {
	var req searchRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if req.PAN != "" {
		ref, err := s.FindByPAN(ctx, staff(c), req.PAN)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"cards": []CardRef{*ref}})
	}
	refs, err := s.FindByLast4(ctx, staff(c), req.Last4, req.HolderName)
	if err != nil {
		return err
	}
	if refs == nil {
		refs = []CardRef{}
	}
	return c.JSON(http.StatusOK, map[string]any{"cards": refs})
}

func (s *Service) view(c echo.Context) error {
	id, err := cardID(c)
	if err != nil {
		return err
	}
	v, err := s.View(c.Request().Context(), staff(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

type reasonRequest struct {
	Reason string `json:"reason" validate:"required,max=200"`
}

// cardAndReason reads the card of the path and the reason of the body, the two every card action of a
// staff member names.
func cardAndReason(c echo.Context) (uuid.UUID, string, error) {
	id, err := cardID(c)
	if err != nil {
		return uuid.Nil, "", err
	}
	var req reasonRequest
	if err := server.BindJSON(c, &req); err != nil {
		return uuid.Nil, "", err
	}
	return id, req.Reason, nil
}

func (s *Service) newLetter(c echo.Context) error {
	id, reason, err := cardAndReason(c)
	if err != nil {
		return err
	}
	letterID, err := s.NewLetter(c.Request().Context(), staff(c), id, reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"letter_id": letterID, "state": "requested"})
}

func (s *Service) block(c echo.Context) error {
	id, reason, err := cardAndReason(c)
	if err != nil {
		return err
	}
	if err := s.Block(c.Request().Context(), staff(c), id, reason); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "blocked"})
}

// unlock lifts the lock of the card's confirmation method (five wrong entries in a row, PSD2 RTS
// Art. 4) after the agent has identified the caller; audited with the agent's name.
func (s *Service) unlock(c echo.Context) error {
	id, err := cardID(c)
	if err != nil {
		return err
	}
	if err := s.d.Registration.Unlock(c.Request().Context(), id, staff(c).Actor()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "unlocked"})
}
