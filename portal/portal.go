// Package portal is the cardholder's registration portal: server-rendered pages in German and English
// for registering a card with the mTAN method (R-REG-1, -2, -6), activating it with the ID code from the
// letter (R-REG-3), confirming the mobile number by SMS, and managing the card's trusted merchants after a
// strong authentication (R-WL-3, whitelist.go). It only translates forms to calls of
// package registration and renders the answers; the rules live there.
//
// The pages keep no server-side session and set no cookie: the card a visitor has proved to know travels
// between steps in a short-lived flow token, an AEAD ciphertext only this server can open.
package portal

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/cards"
	"example.com/acs/envelope"
	"example.com/acs/internal/web"
	"example.com/acs/registration"
	"example.com/acs/whitelist"
)

//go:embed templates/*.html
var templateFS embed.FS

// Deps are what the portal needs.
type Deps struct {
	Registrar *registration.Registrar
	Cards     *cards.Directory
	Audit     *audit.Log
	Keys      *envelope.Keyring
	Clock     clockwork.Clock
	Log       *slog.Logger
	Issuer    string
	Whitelist *whitelist.List
}

// Portal serves the pages.
type Portal struct {
	d    Deps
	tmpl *template.Template
	// agreements are the price agreement PDFs made so far, by terms and language.
	agreements sync.Map
}

// New parses the templates.
func New(d Deps) *Portal {
	t := template.Must(template.New("").Funcs(template.FuncMap{"t": func(l lang, key string) string { return l.t(key) },
		"invalid": invalidAttrs, "fielderror": fieldErrorHTML}).
		ParseFS(templateFS, "templates/*.html"))
	return &Portal{d: d, tmpl: t}
}

// Routes mounts the portal on g (/portal).
func (p *Portal) Routes(g *echo.Group) {
	g.Use(securityHeaders)
	g.GET("", p.start)
	g.GET("/register", p.registerForm)
	g.GET("/price-agreement.pdf", p.agreement)
	g.POST("/register", p.register)
	g.POST("/register/mtan", p.registerMTAN)
	g.GET("/activate", p.activateForm)
	g.POST("/activate", p.activate)
	g.POST("/activate/confirm", p.confirm)
	g.POST("/activate/resend", p.resend)
	g.GET("/whitelist", p.whitelistForm)
	g.POST("/whitelist", p.whitelistStart)
	g.POST("/whitelist/verify", p.whitelistVerify)
	g.POST("/whitelist/remove", p.whitelistRemove)
	g.POST("/whitelist/security-level", p.securityLevel)
	g.POST("/flow/extend", p.extendFlow)
}

// securityHeaders: the portal is never framed and loads nothing from elsewhere; its one inline style
// element carries the request's nonce.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		nonce := web.Nonce()
		c.Set("nonce", nonce)
		c.Response().Header().Set("Content-Security-Policy",
			"default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		return next(c)
	}
}

// flow is what the flow token carries: the card the visitor proved to know, until when; for the
// whitelist pages also the step-up in progress or, once passed, the strong authentication.
type flow struct {
	CardID  uuid.UUID `json:"c"`
	Expires time.Time `json:"e"`
	// Step is the one step the token opens, and Reg the registration it is for: a card check's token
	// opens the choice of method only, the confirmation step only for the registration its activation
	// moved there, so no token of someone else's card check reaches a cardholder's later step.
	Step   step      `json:"p,omitempty"`
	Reg    uuid.UUID `json:"r,omitempty"`
	StepUp uuid.UUID `json:"s,omitempty"`
	SCA    bool      `json:"a,omitempty"`
	// AuthAt is when the strong authentication passed: the tokens each page hands on keep it, so that
	// scaTTL bounds the whole session, not only the idle time; Reg is then the registration it
	// authenticated, and a change is refused once that is no longer the card's active one.
	AuthAt time.Time `json:"t,omitempty"`
	// Extended counts the extensions a cardholder asked for (WCAG 2.2.1), at most maxExtensions.
	Extended int `json:"x,omitempty"`
}

// step names what a flow token opens.
type step string

const (
	stepMethod    step = "method"    // after the card check: request an mTAN registration
	stepConfirm   step = "confirm"   // after the activation: confirm (or resend) the number's code
	stepWhitelist step = "whitelist" // the whitelist pages (StepUp, then SCA)
)

const flowTTL = 15 * time.Minute

var flowAD = envelope.AD{Table: "portal", Column: "flow", Row: "v1"}

func (p *Portal) sealFlow(cardID uuid.UUID, s step, reg uuid.UUID) (string, error) {
	return p.seal(flow{CardID: cardID, Step: s, Reg: reg})
}

func (p *Portal) seal(f flow) (string, error) {
	f.Expires = p.d.Clock.Now().Add(flowTTL)
	if f.SCA {
		f.Expires = f.AuthAt.Add(scaTTL)
	}
	b, _ := json.Marshal(f)
	ct, err := p.d.Keys.Encrypt(flowAD, b)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// scaTTL bounds how long a strong authentication lets the cardholder change the whitelist.
const scaTTL = 10 * time.Minute

var errFlow = apperr.New(apperr.Expired, "this form has expired; please start again")

func (p *Portal) openFlow(ctx context.Context, token string) (flow, error) {
	var f flow
	ct, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(token) > 1000 {
		return f, errFlow
	}
	b, err := p.d.Keys.Decrypt(ctx, flowAD, ct)
	if err != nil {
		return f, errFlow
	}
	if json.Unmarshal(b, &f) != nil || !p.d.Clock.Now().Before(f.Expires) {
		return flow{}, errFlow
	}
	return f, nil
}

// page is the data every template gets.
type page struct {
	Lang   lang
	Nonce  string
	Issuer string
	Error  string
	// Fields are the problems of single fields, in the form's order: shown at the field (aria-invalid,
	// aria-describedby) and as links in the error summary (WCAG 3.3.1).
	Fields    []fieldError
	Form      map[string]string
	Flow      string
	Questions []question
	Price     string
	Charged   bool
	// The page's time limit (WCAG 2.2.1): seconds left (the flow token's, or the code's when sooner),
	// how long before the end the page warns and with which words, what it says at the end, and whether
	// the cardholder may ask for more time (a step's token, not a code nor the strong authentication).
	TimeLeft, WarnBefore int
	WarnText, TimeUpText string
	CanExtend            bool
	// CodeExpires is when the code the page asks for stops being valid (zero: no code).
	CodeExpires time.Time
	// Terms identify the price agreement shown (registration.PriceTerms.ID), posted back with the order.
	Terms        string
	TermsVersion string
	Card         string
	Mobile       string
	Reads        int
	Question     string
	Entries      []whitelist.Entry
	Notice       string
	// SecurityLevel is the card's level on the page that manages it after a strong authentication.
	SecurityLevel string
}

type question struct{ Key, Text string }

func (p *Portal) render(c echo.Context, status int, name string, pg page) error {
	pg.Lang = pickLang(c.Request())
	pg.Nonce, _ = c.Get("nonce").(string)
	pg.Issuer = p.d.Issuer
	if pg.Form == nil {
		pg.Form = map[string]string{}
	}
	terms := p.d.Registrar.PriceTerms()
	pg.Price, pg.Terms, pg.TermsVersion = formatPrice(terms, pg.Lang), terms.ID(), terms.Version
	pg.Charged = p.d.Registrar.Charged()
	if pg.Flow != "" {
		if f, err := p.openFlow(c.Request().Context(), pg.Flow); err == nil {
			p.timeLimit(&pg, f)
		}
	}
	for k, v := range registration.Questions {
		pg.Questions = append(pg.Questions, question{k, v})
	}
	sort.Slice(pg.Questions, func(i, j int) bool { return pg.Questions[i].Key < pg.Questions[j].Key })
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return p.tmpl.ExecuteTemplate(c.Response(), name, pg)
}

// invalidAttrs marks input id as wrong when the page has a problem for it: aria-invalid and the message
// as its description. The error summary above takes the focus when the page loads (no script needed)
// and links to each field, so a screen reader hears what went wrong first, wherever it is.
func invalidAttrs(pg page, id string) template.HTMLAttr {
	mustBeID(id)
	for _, f := range pg.Fields {
		if f.ID == id {
			return template.HTMLAttr(`aria-invalid="true" aria-describedby="` + id + `-error"`)
		}
	}
	return ""
}

var idChars = regexp.MustCompile(`^[a-z_]+$`)

// mustBeID guards the markup built from id: the templates pass constants.
func mustBeID(id string) {
	if !idChars.MatchString(id) {
		panic("portal: not an element id: " + id)
	}
}

// fieldErrorHTML is the message shown under input id, if it has one.
func fieldErrorHTML(pg page, id string) template.HTML {
	mustBeID(id)
	for _, f := range pg.Fields {
		if f.ID == id {
			return template.HTML(`<p class="field-error" id="` + id + `-error">` + template.HTMLEscapeString(f.Msg) + `</p>`)
		}
	}
	return ""
}

// fail renders the form again with what went wrong. Only domain errors are shown; anything else goes to
// the server's error handler (logged, no detail).
func (p *Portal) fail(c echo.Context, name string, err error, pg page) error {
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Kind == apperr.Internal || ae.Kind == apperr.Unavailable {
		return err
	}
	pg.Error, pg.Fields = localize(pickLang(c.Request()), ae.Msg, ae.Fields)
	status := http.StatusUnprocessableEntity
	switch ae.Kind {
	case apperr.Expired:
		status = http.StatusGone
	case apperr.TooMany:
		status = http.StatusTooManyRequests
	}
	return p.render(c, status, name, pg)
}

func (p *Portal) start(c echo.Context) error { return p.render(c, http.StatusOK, "start.html", page{}) }

func (p *Portal) registerForm(c echo.Context) error {
	return p.render(c, http.StatusOK, "register.html", page{})
}

// holderForm reads the card-check fields; the card number is never put back into a page.
func holderForm(c echo.Context) (registration.HolderData, map[string]string) {
	form := map[string]string{
		"expiry": c.FormValue("expiry"), "name": c.FormValue("name"), "date_of_birth": c.FormValue("date_of_birth"),
	}
	in := registration.HolderData{PAN: c.FormValue("pan"), Name: form["name"], DateOfBirth: form["date_of_birth"]}
	// Expiry as printed on the card: MM/YY or MM/YYYY.
	if m, y, ok := strings.Cut(strings.TrimSpace(form["expiry"]), "/"); ok {
		in.ExpiryMonth, _ = strconv.Atoi(strings.TrimSpace(m))
		in.ExpiryYear, _ = strconv.Atoi(strings.TrimSpace(y))
		if in.ExpiryYear > 0 && in.ExpiryYear < 100 {
			in.ExpiryYear += 2000
		}
	}
	return in, form
}

func (p *Portal) register(c echo.Context) error {
	in, form := holderForm(c)
	card, err := p.d.Registrar.VerifyCardFrom(c.Request().Context(), in, c.RealIP())
	if err != nil {
		return p.fail(c, "register.html", err, page{Form: form})
	}
	tok, err := p.sealFlow(card.ID, stepMethod, uuid.Nil)
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "method.html", page{Flow: tok, Card: card.Masked()})
}

// flowCard opens the flow token of a posted form for step s and returns the card and the flow it
// carries; a token for another step is refused as expired.
func (p *Portal) flowCard(c echo.Context, s step) (*cards.Card, flow, string, error) {
	tok := c.FormValue("flow")
	f, err := p.openFlow(c.Request().Context(), tok)
	if err == nil && f.Step != s {
		err = errFlow
	}
	if err != nil {
		return nil, f, tok, err
	}
	card, err := p.d.Cards.Get(c.Request().Context(), f.CardID)
	return card, f, tok, err
}

func (p *Portal) registerMTAN(c echo.Context) error {
	ctx := c.Request().Context()
	form := map[string]string{"mobile": c.FormValue("mobile"), "question": c.FormValue("question")}
	card, _, tok, err := p.flowCard(c, stepMethod)
	if err != nil {
		return p.fail(c, "register.html", err, page{})
	}
	pg := page{Flow: tok, Card: card.Masked(), Form: form}
	_, err = p.d.Registrar.RequestMTAN(ctx, card, registration.MTANRequest{Mobile: form["mobile"], Question: form["question"],
		Answer: c.FormValue("answer"), AcceptPrice: c.FormValue("accept_price") == "yes", Terms: c.FormValue("terms")})
	if err != nil {
		return p.fail(c, "method.html", err, pg)
	}
	if pg.Reads, err = p.d.Audit.IssuerDataReads(ctx, card.ID); err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "requested.html", pg)
}

func (p *Portal) activateForm(c echo.Context) error {
	return p.render(c, http.StatusOK, "activate.html", page{})
}

func (p *Portal) activate(c echo.Context) error {
	ctx := c.Request().Context()
	in, form := holderForm(c)
	card, err := p.d.Registrar.VerifyCardFrom(ctx, in, c.RealIP())
	if err != nil {
		return p.fail(c, "activate.html", err, page{Form: form})
	}
	reg, err := p.d.Registrar.Activate(ctx, card.ID, registration.MethodMTAN, c.FormValue("id_code"))
	if err != nil {
		return p.fail(c, "activate.html", err, page{Form: form})
	}
	return p.afterActivation(c, card, reg)
}

func (p *Portal) afterActivation(c echo.Context, card *cards.Card, reg *registration.Registration) error {
	pg := page{Card: card.Masked(), Mobile: reg.MobileMasked}
	if reg.State == registration.Confirming {
		tok, err := p.sealFlow(card.ID, stepConfirm, reg.ID)
		if err != nil {
			return err
		}
		pg.Flow = tok
		if pg.CodeExpires, err = p.d.Registrar.ConfirmExpires(c.Request().Context(), reg.ID); err != nil {
			return err
		}
		return p.render(c, http.StatusOK, "confirm.html", pg)
	}
	return p.render(c, http.StatusOK, "done.html", pg)
}

func (p *Portal) confirm(c echo.Context) error {
	ctx := c.Request().Context()
	card, f, tok, err := p.flowCard(c, stepConfirm)
	if err != nil {
		return p.fail(c, "activate.html", err, page{})
	}
	reg, err := p.d.Registrar.ConfirmNumber(ctx, card.ID, f.Reg, c.FormValue("code"))
	if err != nil {
		cur, _ := p.d.Registrar.Current(ctx, card.ID)
		pg := page{Flow: tok, Card: card.Masked()}
		if cur != nil {
			pg.Mobile = cur.MobileMasked
		}
		pg.CodeExpires, _ = p.d.Registrar.ConfirmExpires(ctx, f.Reg) // the page's warning only
		return p.fail(c, "confirm.html", err, pg)
	}
	return p.render(c, http.StatusOK, "done.html", page{Card: card.Masked(), Mobile: reg.MobileMasked})
}

func (p *Portal) resend(c echo.Context) error {
	ctx := c.Request().Context()
	card, f, _, err := p.flowCard(c, stepConfirm)
	if err != nil {
		return p.fail(c, "activate.html", err, page{})
	}
	if err := p.d.Registrar.ResendConfirmation(ctx, card.ID, f.Reg); err != nil {
		return p.fail(c, "activate.html", err, page{})
	}
	reg, err := p.d.Registrar.Current(ctx, card.ID)
	if err != nil {
		return err
	}
	return p.afterActivation(c, card, reg)
}

// maxExtensions bounds how often one flow token is extended: an hour of a step at most.
const maxExtensions = 3

// extendFlow gives the page's flow token its time again (POST /portal/flow/extend, from the page's
// warning before it runs out; WCAG 2.2.1), for the same card and step. The strong authentication of the
// card page is not extended: its 10 minutes are the authentication's, not the page's.
func (p *Portal) extendFlow(c echo.Context) error {
	f, err := p.openFlow(c.Request().Context(), c.FormValue("flow"))
	if err != nil {
		return err
	}
	if f.SCA || f.Extended >= maxExtensions {
		return apperr.New(apperr.Conflict, "this form cannot be extended; please start again")
	}
	f.Extended++
	tok, err := p.seal(f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"flow": tok, "expires_in": int(flowTTL.Seconds()), "extensions_left": maxExtensions - f.Extended})
}

// timeLimit sets the page's time limit from its flow token f and the code it asks for, if any.
func (p *Portal) timeLimit(pg *page, f flow) {
	now := p.d.Clock.Now()
	end := f.Expires
	pg.WarnBefore, pg.WarnText, pg.TimeUpText = 120, "flow_expiring", "flow_expired"
	pg.CanExtend = f.Step == stepMethod && f.Extended < maxExtensions
	if f.SCA {
		pg.WarnText = "flow_expiring_final"
	}
	if !pg.CodeExpires.IsZero() && pg.CodeExpires.Before(end) {
		end, pg.WarnBefore, pg.WarnText, pg.TimeUpText, pg.CanExtend = pg.CodeExpires, 60, "code_expiring", "code_expired", false
	}
	pg.TimeLeft = max(int(end.Sub(now).Seconds()), 1)
}
