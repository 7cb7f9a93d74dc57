package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
	"example.com/acs/registration"
)

// The cardholder's trusted merchants (R-WL-3). Seeing and changing the list takes a strong
// authentication of its own (PSD2 RTS Art. 13): the card check, then a code sent by SMS to the
// registered number (possession) together with the security answer (knowledge). The flow token then
// carries the authentication for whitelistSession.

func (p *Portal) whitelistForm(c echo.Context) error {
	return p.render(c, http.StatusOK, "whitelist_start.html", page{})
}

// whitelistStart checks the card and sends the code.
func (p *Portal) whitelistStart(c echo.Context) error {
	ctx := c.Request().Context()
	in, form := holderForm(c)
	card, err := p.d.Registrar.VerifyCardFrom(ctx, in, c.RealIP())
	if err != nil {
		return p.fail(c, "whitelist_start.html", err, page{Form: form})
	}
	stepUp, err := p.d.Registrar.StartStepUp(ctx, card.ID, registration.PurposeWhitelist)
	if apperr.KindOf(err) == apperr.NotFound {
		err = apperr.New(apperr.NotFound, "this card is not registered for secure online payments")
	}
	if err != nil {
		return p.fail(c, "whitelist_start.html", err, page{Form: form})
	}
	return p.whitelistVerifyPage(c, card.ID, stepUp, http.StatusOK, nil)
}

func (p *Portal) whitelistVerifyPage(c echo.Context, cardID, stepUp uuid.UUID, status int, problem error) error {
	reg, err := p.d.Registrar.Active(c.Request().Context(), cardID)
	if err != nil {
		return err
	}
	tok, err := p.seal(flow{CardID: cardID, Step: stepWhitelist, StepUp: stepUp})
	if err != nil {
		return err
	}
	pg := page{Flow: tok, Mobile: reg.MobileMasked, Question: questionText(reg.Question, pickLang(c.Request()))}
	if pg.CodeExpires, err = p.d.Registrar.StepUpExpires(c.Request().Context(), stepUp); err != nil {
		return err
	}
	if problem != nil {
		return p.fail(c, "whitelist_verify.html", problem, pg)
	}
	return p.render(c, status, "whitelist_verify.html", pg)
}

// questionText shows a security question in the page's language.
func questionText(key string, l lang) string {
	de, en, _ := strings.Cut(registration.Questions[key], " / ")
	if l == "en" && en != "" {
		return en
	}
	return de
}

// whitelistVerify checks code and answer; on success the list is shown.
func (p *Portal) whitelistVerify(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := p.openFlow(ctx, c.FormValue("flow"))
	if err != nil || f.Step != stepWhitelist || f.StepUp == uuid.Nil {
		return p.fail(c, "whitelist_start.html", errFlow, page{})
	}
	err = p.d.Registrar.VerifyStepUp(ctx, f.StepUp, f.CardID, c.FormValue("code"), c.FormValue("answer"))
	var ae *apperr.Error
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.Kind == apperr.Invalid:
		return p.whitelistVerifyPage(c, f.CardID, f.StepUp, http.StatusUnprocessableEntity, err)
	default:
		return p.fail(c, "whitelist_start.html", err, page{})
	}
	reg, err := p.d.Registrar.Active(ctx, f.CardID)
	if err != nil {
		return err
	}
	return p.whitelistList(c, flow{CardID: f.CardID, Step: stepWhitelist, SCA: true, AuthAt: p.d.Clock.Now(), Reg: reg.ID}, "", nil)
}

// scaFlow opens the posted flow token of an authenticated card page: it must carry the strong
// authentication, and the registration it authenticated must still be the card's active mTAN one (a
// card moved to the app since changes its settings in the app, with the device's signature).
func (p *Portal) scaFlow(c echo.Context) (flow, error) {
	ctx := c.Request().Context()
	f, err := p.openFlow(ctx, c.FormValue("flow"))
	if err != nil || f.Step != stepWhitelist || !f.SCA {
		return f, errFlow
	}
	reg, err := p.d.Registrar.Active(ctx, f.CardID)
	if apperr.KindOf(err) == apperr.NotFound || (err == nil && (reg.ID != f.Reg || reg.Method != registration.MethodMTAN)) {
		return f, errFlow
	}
	return f, err
}

// whitelistList shows the card page (trusted merchants, security level, reads) with a fresh token of
// the authenticated flow f.
func (p *Portal) whitelistList(c echo.Context, f flow, notice string, problem error) error {
	ctx := c.Request().Context()
	cardID := f.CardID
	card, err := p.d.Cards.Get(ctx, cardID)
	if err != nil {
		return err
	}
	entries, err := p.d.Whitelist.List(ctx, cardID)
	if err != nil {
		return err
	}
	reg, err := p.d.Registrar.Active(ctx, cardID)
	if err != nil {
		return err
	}
	tok, err := p.seal(f)
	if err != nil {
		return err
	}
	pg := page{Flow: tok, Card: card.Masked(), Entries: entries, Notice: notice, SecurityLevel: string(reg.SecurityLevel)}
	if pg.Reads, err = p.d.Audit.IssuerDataReads(ctx, cardID); err != nil {
		return err
	}
	if problem != nil {
		return p.fail(c, "whitelist.html", problem, pg)
	}
	return p.render(c, http.StatusOK, "whitelist.html", pg)
}

// securityLevel sets the card's security level (R-X-1) under the same strong authentication as the
// list: the mTAN and the security answer confirmed the cardholder, so "always confirm" cannot be
// switched off by someone who only knows the card data.
func (p *Portal) securityLevel(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := p.scaFlow(c)
	if err != nil {
		return p.fail(c, "whitelist_start.html", err, page{})
	}
	if _, err := p.d.Registrar.SetSecurityLevel(ctx, f.CardID, registration.SecurityLevel(c.FormValue("security_level")), "cardholder:portal"); err != nil {
		return p.whitelistList(c, f, "", err) // the card page again, with the problem at the field
	}
	return p.whitelistList(c, f, "level_set", nil)
}

// whitelistRemove takes an entry off the list; the flow token must carry the strong authentication.
func (p *Portal) whitelistRemove(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := p.scaFlow(c)
	if err != nil {
		return p.fail(c, "whitelist_start.html", err, page{})
	}
	entry, err := uuid.Parse(c.FormValue("entry"))
	if err != nil {
		return p.fail(c, "whitelist_start.html", apperr.Field("entry", "unknown entry"), page{})
	}
	if err := p.d.Whitelist.Remove(ctx, f.CardID, entry, "portal"); err != nil && apperr.KindOf(err) != apperr.NotFound {
		return err
	}
	return p.whitelistList(c, f, "removed", nil)
}
