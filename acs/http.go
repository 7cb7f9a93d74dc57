package acs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // purchase dates are shown in the bank's time zone on any host

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"

	"example.com/acs/apperr"
	"example.com/acs/emv"
	"example.com/acs/emv/sdkcrypto"
	"example.com/acs/envelope"
	"example.com/acs/internal/web"
	"example.com/acs/registration"
)

// Sealer encrypts the per-transaction page tokens (envelope.Keyring).
type Sealer interface {
	Encrypt(ad envelope.AD, plaintext []byte) ([]byte, error)
	Decrypt(ctx context.Context, ad envelope.AD, ciphertext []byte) ([]byte, error)
}

// HandlerDeps are what the EMV endpoints and challenge pages need.
type HandlerDeps struct {
	Decider    *Decider
	Challenges *Challenges
	Results    *Results
	Tokens     Sealer
	Clock      clockwork.Clock
	Log        *slog.Logger
	Issuer     string
	// LoopbackFraming lets http pages on loopback frame the challenge (development: the simulator's
	// checkout page); in production only https pages may.
	LoopbackFraming bool
	// RequireDSCertificate refuses an AReq whose TLS connection presented no client certificate that the
	// server verified against the DS CA (mutual TLS on the DS link, 2.3.1 6.1.3.1) with Erro 303.
	RequireDSCertificate bool
	// DSCertificateNames, when set, are the names (subject common name or DNS name) the DS's client
	// certificate must carry: the DS CA also certifies 3DS Servers and ACSs.
	DSCertificateNames []string
}

// Handler serves the merchant-facing EMV surface: the AReq endpoint for 3DS Servers and Directory
// Servers, and the challenge pages a cardholder's browser sees inside the merchant's iframe.
type Handler struct {
	d    HandlerDeps
	tmpl *template.Template
	zone *time.Location
}

// NewHandler parses the page templates.
func NewHandler(d HandlerDeps) *Handler {
	zone, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		zone = time.UTC
	}
	t := template.Must(template.New("").Funcs(template.FuncMap{"t": func(l, key string) string { return tr(l, key) }}).
		ParseFS(templateFS, "templates/*.html"))
	return &Handler{d: d, tmpl: t, zone: zone}
}

// Routes mounts the endpoints on g (/3ds).
func (h *Handler) Routes(g *echo.Group) {
	g.POST("/areq", h.areq)
	pages := g.Group("/challenge", h.challengeHeaders)
	pages.POST("", h.creq)
	pages.POST("/step", h.step)
	pages.POST("/status", h.status)
	// The app channel: a merchant app's 3DS SDK posts its JWE-protected CReqs here (the acsURL inside
	// acsSignedContent). No cookies, frames or pages: the SDK renders the native UI itself.
	g.POST("/app", h.appCReq)
}

// appCReq answers an SDK's CReq with a JWE CRes (application/jose, Req 191) or an Erro in JSON (Req
// 190), with X-Response-ID the ACS Transaction ID where known (Table A.29). A failure of this system is
// Erro 403 with HTTP 503, as for the AReq; the SDK may try again with the same CReq.
func (h *Handler) appCReq(c echo.Context) error {
	ctx := c.Request().Context()
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxAppCReq+1))
	if err != nil {
		return h.emvJSON(c, http.StatusOK, emv.EncodeErro(newErro(emv.ErrMessageInvalid, "Invalid Formatted Message", "", emv.TypeCReq)), "", "")
	}
	reply, err := h.d.Challenges.AppStep(ctx, body)
	if err != nil {
		h.d.Log.ErrorContext(ctx, "app creq failed", "err", err)
		return h.emvJSON(c, http.StatusServiceUnavailable, emv.EncodeErro(newErro(emv.ErrTransientFailure, "ACS", "", emv.TypeCReq)), "", "")
	}
	if reply.Erro != nil {
		return h.emvJSON(c, http.StatusOK, emv.EncodeErro(reply.Erro), reply.SDKTransID, reply.Erro.ACSTransID)
	}
	if reply.JWE == "" {
		return c.NoContent(http.StatusOK) // an Erro from the SDK: taken, nothing to answer
	}
	hd := c.Response().Header()
	hd.Del("X-Request-ID") // Req 469: the SDK Transaction ID, not the middleware's request id
	hd.Set("X-Request-ID", reply.SDKTransID)
	if kid, err := sdkcrypto.KeyID(reply.JWE); err == nil {
		hd.Set("X-Response-ID", kid)
	}
	return c.Blob(http.StatusOK, "application/jose; charset=UTF-8", []byte(reply.JWE))
}

// status answers the app-challenge page's script: has the challenge ended? Any process can answer, since
// the state is in the database: the app's answer may have arrived through another one.
func (h *Handler) status(c echo.Context) error {
	id, ok := h.open(c.Request().Context(), c.FormValue("t"))
	if !ok {
		return c.JSON(http.StatusGone, map[string]bool{"ended": true})
	}
	v, err := h.d.Challenges.View(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"ended": v.Final != nil})
}

// areq answers an AReq with ARes or Erro, as JSON in UTF-8 (Req 190) with the headers of Table A.29
// (X-Request-ID: dsTransID, X-Response-ID: acsTransID). Protocol problems are Erro in an HTTP 200, as
// the Directory Server reads them (the specification defines no HTTP status); a failure of this system
// is Erro 403 (transient) with HTTP 503.
func (h *Handler) areq(c echo.Context) error {
	if h.d.RequireDSCertificate && !h.fromDS(c.Request()) {
		return h.emvJSON(c, http.StatusForbidden, emv.EncodeErro(newErro(emv.ErrAccessDenied,
			"a Directory Server's client certificate is required", "", emv.TypeAReq)), "", "")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, emv.MaxMessageSize+1))
	if err != nil {
		return h.emvJSON(c, http.StatusOK, emv.EncodeErro(newErro(emv.ErrMessageInvalid, "Invalid Formatted Message", "", emv.TypeAReq)), "", "")
	}
	switch emv.TypeOf(body) {
	case emv.TypeOReq:
		return h.oreq(c, body)
	case emv.TypeErro:
		return h.erro(c, body)
	}
	a, erro := ParseAReq(body)
	if erro != nil {
		return h.emvJSON(c, http.StatusOK, emv.EncodeErro(erro), erro.DSTransID, "")
	}
	res, dec, err := h.d.Decider.Decide(c.Request().Context(), a)
	var e *Erro
	if errors.As(err, &e) {
		return h.emvJSON(c, http.StatusOK, emv.EncodeErro(e), a.DSTransID, "")
	}
	if err != nil {
		h.d.Log.ErrorContext(c.Request().Context(), "areq failed", "err", err)
		e := newErro(emv.ErrTransientFailure, "ACS", a.MessageVersion, emv.TypeAReq).Echo(a.Message)
		return h.emvJSON(c, http.StatusServiceUnavailable, emv.EncodeErro(e), a.DSTransID, "")
	}
	return h.emvJSON(c, http.StatusOK, res, a.DSTransID, dec.ACSTransID)
}

// fromDS reports whether the request came over TLS with a client certificate the server verified
// against the DS CA and, where names are configured, issued to one of the DSs.
func (h *Handler) fromDS(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return false
	}
	if len(h.d.DSCertificateNames) == 0 {
		return true
	}
	leaf := r.TLS.VerifiedChains[0][0]
	for _, want := range h.d.DSCertificateNames {
		if strings.EqualFold(leaf.Subject.CommonName, want) {
			return true
		}
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, want) {
				return true
			}
		}
	}
	return false
}

// erro takes an Erro from the DS (Req 203: the ACS accepts Erro). One about a challenge that has not
// started ends it without an RReq; any other is logged. An Erro gets no answer message.
func (h *Handler) erro(c echo.Context, body []byte) error {
	m, erro := emv.Decode(body, emv.TypeErro, emv.Context{})
	if erro != nil {
		return h.emvJSON(c, http.StatusOK, emv.EncodeErro(erro), erro.DSTransID, "")
	}
	ended, err := h.d.Results.DSErro(c.Request().Context(), m)
	if err != nil {
		return err
	}
	h.d.Log.WarnContext(c.Request().Context(), "erro from the DS", "error_code", m.Str("errorCode"),
		"error_component", m.Str("errorComponent"), "acs_trans_id", m.Str("acsTransID"), "ended_challenge", ended)
	return c.NoContent(http.StatusOK)
}

// oreq acknowledges a DS's operation message: the ACS acts on none, so the ORes says 03 (action not
// supported or not executed); an OReq that breaks its table gets the Erro (Req 438).
func (h *Handler) oreq(c echo.Context, body []byte) error {
	m, erro := emv.Decode(body, emv.TypeOReq, emv.Context{})
	if erro != nil {
		return h.emvJSON(c, http.StatusOK, emv.EncodeErro(erro), erro.DSTransID, "")
	}
	id := uuid.NewString()
	res := emv.NewMessage(emv.TypeORes, m.Version)
	res.Set("dsTransID", m.Str("dsTransID"))
	res.Set("acsTransID", id)
	res.Set("acsReferenceNumber", h.d.Decider.d.ReferenceNumber)
	res.Set("opStatus", "03")
	out, err := emv.Encode(res)
	if err != nil {
		return err
	}
	h.d.Log.InfoContext(c.Request().Context(), "oreq acknowledged, not acted on", "ds_trans_id", m.Str("dsTransID"))
	return h.emvJSON(c, http.StatusOK, out, m.Str("dsTransID"), id)
}

// emvJSON writes an EMV message with the Table A.29 headers: X-Request-ID echoes the request's
// dsTransID as its body gave it (Req 469), X-Response-ID is the ACS's transaction id.
func (h *Handler) emvJSON(c echo.Context, status int, body []byte, requestID, responseID string) error {
	hd := c.Response().Header()
	// Never the header's own value that the request-id middleware copied (Req 469: the body's id).
	hd.Del("X-Request-ID")
	if requestID != "" {
		hd.Set("X-Request-ID", requestID)
	}
	if responseID != "" {
		hd.Set("X-Response-ID", responseID)
	}
	return c.Blob(status, "application/json; charset=utf-8", body)
}

// challengeHeaders: the challenge pages are the only pages of this ACS that may be framed (inside the
// merchant's checkout); they load nothing from elsewhere, and their one style and one script element
// carry the response's nonce. form-action is widened per page to the notificationURL's origin.
func (h *Handler) challengeHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		nonce := web.Nonce()
		c.Set("nonce", nonce)
		hd := c.Response().Header()
		hd.Del("X-Frame-Options")
		hd.Set("Content-Security-Policy", h.csp(nonce, ""))
		return next(c)
	}
}

func (h *Handler) csp(nonce, postTo string) string {
	ancestors := "'self' https:"
	if h.d.LoopbackFraming {
		ancestors += " http://127.0.0.1:* http://localhost:*"
	}
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce + "'; connect-src 'self'; form-action 'self'" + postTo +
		"; frame-ancestors " + ancestors + "; base-uri 'none'"
}

// pageToken carries a challenge's transaction between the page's requests instead of a cookie, which a
// browser blocks in a third-party iframe. Only this server can make or read one.
type pageToken struct {
	ID      uuid.UUID `json:"i"`
	Expires time.Time `json:"e"`
}

var tokenAD = envelope.AD{Table: "acs", Column: "challenge_page", Row: "v1"}

func (h *Handler) seal(id uuid.UUID) (string, error) {
	b, _ := json.Marshal(pageToken{ID: id, Expires: h.d.Clock.Now().Add(ChallengeTimeout + time.Minute)})
	ct, err := h.d.Tokens.Encrypt(tokenAD, b)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

func (h *Handler) open(ctx context.Context, token string) (uuid.UUID, bool) {
	ct, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(token) > 1000 {
		return uuid.Nil, false
	}
	b, err := h.d.Tokens.Decrypt(ctx, tokenAD, ct)
	if err != nil {
		return uuid.Nil, false
	}
	var p pageToken
	if json.Unmarshal(b, &p) != nil || !h.d.Clock.Now().Before(p.Expires) {
		return uuid.Nil, false
	}
	return p.ID, true
}

// validSessionData accepts the 3DS Requestor's threeDSSessionData, returned unchanged with the final
// CRes: base64url, at most 1024 characters.
func validSessionData(s string) bool { return len(s) <= 1024 && sessionDataChars.MatchString(s) }

var sessionDataChars = regexp.MustCompile(`^[A-Za-z0-9_=-]*$`)

// page is what the challenge templates get.
type page struct {
	Lang        string
	Nonce       string
	Issuer      string
	Size        string
	Token       string
	SessionData string
	View        *View
	Amount      string
	Date        string
	Question    string
	Notice      string
	Error       string
	ErroCode    string
	ErroDetail  string
	CRes        string
	PostTo      string
	// Offline shows the offline-password form with its challenge number (app cards).
	Offline          bool
	OfflineChallenge string
	// The time limits as the page states them (clock time in the bank's zone) and as its script counts
	// them down (seconds left when the page was made).
	MTANUntil, DeadlineUntil string
	MTANLeft, DeadlineLeft   int
}

func (h *Handler) render(c echo.Context, status int, name string, pg page) error {
	pg.Nonce, _ = c.Get("nonce").(string)
	pg.Issuer = h.d.Issuer
	if pg.Lang == "" {
		fallback := ""
		if pg.View != nil {
			fallback = pg.View.BrowserLanguage
		}
		pg.Lang = web.Lang(c.Request(), fallback)
	}
	if pg.View != nil {
		pg.Size = pg.View.WindowSize
		pg.Amount = displayAmount(pg.View, pg.Lang)
		pg.Date = pg.View.PurchaseDate.In(h.zone).Format("02.01.2006 15:04")
		pg.Question = question(pg.View.QuestionKey, pg.Lang)
		now := h.d.Clock.Now()
		if t := pg.View.MTANExpires; t != nil && t.After(now) {
			pg.MTANUntil, pg.MTANLeft = t.In(h.zone).Format("15:04"), int(t.Sub(now).Seconds())
		}
		if t := pg.View.Deadline; t != nil && t.After(now) {
			pg.DeadlineUntil, pg.DeadlineLeft = t.In(h.zone).Format("15:04"), int(t.Sub(now).Seconds())
		}
	}
	if pg.Size == "" {
		pg.Size = "05"
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return h.tmpl.ExecuteTemplate(c.Response(), name, pg)
}

func displayAmount(v *View, lang string) string {
	s := FormatAmount(v.Amount, v.Currency)
	if lang == "en" {
		// "1.234,50 EUR" -> "1,234.50 EUR"
		s = strings.NewReplacer(".", ",", ",", ".").Replace(s)
	}
	return s
}

// question shows the registered security question in the page's language.
func question(key, lang string) string {
	q := registration.Questions[key]
	de, en, ok := strings.Cut(q, " / ")
	if !ok || lang != "en" {
		return de
	}
	return en
}

// refuse shows a CReq problem to the cardholder. Where the CReq named a transaction of this ACS, the
// page posts the Erro to the 3DS Requestor's notificationURL in the form field cres, base64url-encoded
// like a CRes (2.3.1 5.9.6 says "via the browser" and names no field; cres is what requestors' libraries
// read), with the threeDSSessionData it came with. Otherwise there is nowhere to post: the page says so.
func (h *Handler) refuse(c echo.Context, r *Refusal, sd string) error {
	e := r.Erro
	h.d.Log.WarnContext(c.Request().Context(), "creq refused", "error_code", e.ErrorCode, "error_detail", e.ErrorDetail)
	pg := page{Lang: web.Lang(c.Request(), ""), ErroCode: e.ErrorCode, ErroDetail: e.ErrorDetail}
	if id, err := uuid.Parse(e.ACSTransID); err == nil && r.NotificationURL != "" {
		// A refusal that ended the transaction queued its RReq: the DS hears first, as with a final CRes.
		h.deliver(c, &Final{ACSTransID: id})
	}
	if r.NotificationURL != "" {
		pg.PostTo, pg.CRes, pg.SessionData = r.NotificationURL, base64.RawURLEncoding.EncodeToString(emv.EncodeErro(e)), sd
		if u, err := url.Parse(r.NotificationURL); err == nil {
			nonce, _ := c.Get("nonce").(string)
			c.Response().Header().Set("Content-Security-Policy", h.csp(nonce, origin(u)))
		}
	}
	return h.render(c, http.StatusBadRequest, "refused.html", pg)
}

// creq receives the browser's CReq and shows the challenge.
func (h *Handler) creq(c echo.Context) error {
	ctx := c.Request().Context()
	sd := c.FormValue("threeDSSessionData")
	if !validSessionData(sd) {
		return h.refuse(c, &Refusal{Erro: newErro(emv.ErrFormat, "threeDSSessionData", "", emv.TypeCReq)}, "")
	}
	creq, erro := ParseCReq(c.FormValue("creq"))
	if erro != nil {
		r, err := h.d.Challenges.RefuseUnreadable(ctx, erro)
		if err != nil {
			return err
		}
		return h.refuse(c, r, sd)
	}
	v, err := h.d.Challenges.Open(ctx, creq)
	var r *Refusal
	if errors.As(err, &r) {
		return h.refuse(c, r, sd)
	}
	if apperr.KindOf(err) == apperr.TooMany {
		// The card's SMS budget is used up: no mTAN now; the cardholder tries later (the page says so).
		return h.render(c, http.StatusTooManyRequests, "refused.html", page{Error: "too_many_sms"})
	}
	if err != nil {
		return err
	}
	return h.show(c, v, sd, page{})
}

// show renders the challenge as it stands: the form, or, once the transaction has ended, the page that
// carries the final CRes to the notificationURL.
func (h *Handler) show(c echo.Context, v *View, sd string, pg page) error {
	pg.View, pg.SessionData = v, sd
	if v.Final != nil && v.Final.TransStatus == "U" {
		// Ended by a refused CReq: its Erro went to the notificationURL then; there is no CRes to post.
		return h.render(c, http.StatusGone, "refused.html", page{Lang: pg.Lang, Error: "ended"})
	}
	if v.Final != nil {
		return h.complete(c, v, pg)
	}
	var err error
	if pg.Token, err = h.seal(v.ACSTransID); err != nil {
		return apperr.Wrap(apperr.Unavailable, "keys unavailable", err)
	}
	name := "mtan.html"
	if v.Method == registration.MethodApp {
		name = "app.html"
		if pg.Offline {
			if pg.OfflineChallenge, err = h.d.Challenges.OfflineChallenge(c.Request().Context(), v.ACSTransID); err != nil {
				return err
			}
		}
	}
	status := http.StatusOK
	if pg.Error != "" {
		status = http.StatusUnprocessableEntity
	}
	return h.render(c, status, name, pg)
}

// complete posts the final CRes (and threeDSSessionData) to the notificationURL from the browser: a form
// that submits itself, with a button for browsers without script.
func (h *Handler) complete(c echo.Context, v *View, pg page) error {
	h.deliver(c, v.Final)
	b, err := v.Final.CRes()
	if err != nil {
		return err
	}
	pg.CRes = base64.RawURLEncoding.EncodeToString(b)
	pg.PostTo = v.NotificationURL
	if u, err := url.Parse(v.NotificationURL); err == nil {
		nonce, _ := c.Get("nonce").(string)
		c.Response().Header().Set("Content-Security-Policy", h.csp(nonce, origin(u)))
	}
	return h.render(c, http.StatusOK, "complete.html", pg)
}

// origin is " scheme://host" of a notificationURL for the CSP's form-action, or "" where the host has
// characters no host name has (a CSP source list is split at spaces, commas and semicolons).
func origin(u *url.URL) string {
	for _, r := range u.Host {
		if !(r == '.' || r == '-' || r == ':' || r == '[' || r == ']' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return ""
		}
	}
	return " " + u.Scheme + "://" + u.Host
}

// deliver sends an ended transaction's RReq before the browser brings the CRes, as the specification
// orders (2.3.1 5.8.2): the one f holds claimed if the request queued it so (Results.Deliver), else the
// queued one of f.ACSTransID; if the DS is unreachable now, the RReq is retried in the background.
func (h *Handler) deliver(c echo.Context, f *Final) {
	dctx, cancel := context.WithTimeout(c.Request().Context(), h.d.Results.SendBudget())
	defer cancel()
	if err := h.d.Results.Deliver(dctx, f); err != nil {
		h.d.Log.WarnContext(c.Request().Context(), "rreq delivery deferred", "acs_trans_id", f.ACSTransID, "err", err)
	}
}

// step handles the challenge form: confirm, new mTAN, cancel.
func (h *Handler) step(c echo.Context) error {
	ctx := c.Request().Context()
	sd := c.FormValue("threeDSSessionData")
	if !validSessionData(sd) {
		sd = ""
	}
	id, ok := h.open(ctx, c.FormValue("t"))
	if !ok {
		return h.render(c, http.StatusGone, "refused.html", page{Lang: web.Lang(c.Request(), ""), Error: "expired"})
	}
	var pg page
	var v *View // the view a step returns, else read after it
	switch c.FormValue("action") {
	case "cancel":
		if _, err := h.d.Challenges.Cancel(ctx, id); err != nil {
			return err
		}
	case "resend":
		switch err := h.d.Challenges.ResendMTAN(ctx, id); {
		case err == nil:
			pg.Notice = "resent"
		case apperr.KindOf(err) == apperr.TooMany:
			pg.Notice = "no_more_mtan" // the limit per purchase, or the card's SMS budget
		case apperr.KindOf(err) == apperr.Conflict, apperr.KindOf(err) == apperr.NotFound:
			// ended meanwhile: the view shows the end
		default:
			return err
		}
	case "verify":
		// Success and the fifth failure end the transaction; the view then shows the end.
		var err error
		v, err = h.d.Challenges.SubmitMTAN(ctx, id, c.FormValue("mtan"), c.FormValue("answer"), c.FormValue("trust") == "on")
		switch {
		case err == nil:
		case apperr.KindOf(err) == apperr.Invalid:
			pg.Error = "wrong"
		case apperr.KindOf(err) == apperr.Expired:
			pg.Error = "expired_mtan"
		case apperr.KindOf(err) == apperr.Conflict, apperr.KindOf(err) == apperr.NotFound:
		default:
			return err
		}
	case "status":
		// The page's script saw the app answer: the view shows the end.
	case "offline":
		pg.Offline = true
	case "offline_verify":
		pg.Offline = true
		_, err := h.d.Challenges.VerifyOffline(ctx, id, c.FormValue("offline_password"))
		switch {
		case err == nil:
		case apperr.KindOf(err) == apperr.Invalid:
			pg.Error = "wrong_offline"
		case apperr.KindOf(err) == apperr.Conflict, apperr.KindOf(err) == apperr.NotFound:
		default:
			return err
		}
	default:
		pg.Error = "action"
	}
	if v == nil {
		var err error
		if v, err = h.d.Challenges.View(ctx, id); err != nil {
			return err
		}
	}
	return h.show(c, v, sd, pg)
}
