// Package demo is the development-only front of the product: a demo shop at /demo that plays merchant
// and 3DS Server (checkout, AReq, the challenge in an iframe the EMV way, final CRes, RReq, result), and a
// virtual phone at /demo/phone that plays the bank's app for the demo phone that `acs demo seed` wrote
// (pending confirmations, approve with PIN or biometric, decline, offline password). With the SMS inbox
// at /dev/sms, a purchase can be walked through with nothing but a browser.
//
// It is mounted only when the configuration enables it, which is refused together with a real SMS
// gateway. Orders live in this process's memory: a demo needs no more.
package demo

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/appapi"
	"example.com/acs/apperr"
	"example.com/acs/emv"
	"example.com/acs/internal/sim3ds"
	"example.com/acs/internal/web"
)

//go:embed templates/*.html areq.json
var files embed.FS

// Deps are what the demo needs.
type Deps struct {
	// PublicURL is where the shop reaches the ACS (its own server) and where the browser comes back.
	PublicURL  string
	Challenges *acs.Challenges
	// PhoneState is the demo phone's acs-app state file.
	PhoneState string
	Clock      clockwork.Clock
	Client     *http.Client
	// SDKRoots is the DS CA the in-app checkout's SDK trusts (acsSignedContent); nil: no in-app checkout.
	SDKRoots *x509.CertPool
}

// Demo serves the shop and the phone.
type Demo struct {
	d    Deps
	tmpl *template.Template

	mu     sync.Mutex
	orders map[string]*order // by threeDSServerTransID
}

// order is one checkout as the shop sees it.
type order struct {
	ID         string
	Card       DemoCard
	Merchant   DemoMerchant
	Amount     decimal.Decimal
	ARes       map[string]any
	CRes       map[string]any
	RReq       map[string]any
	WindowSize string
	// The in-app checkout: its SDK and the screen the last CRes described.
	SDK    *sim3ds.SDK
	Screen map[string]any
}

// DemoCard is a demo card the checkout offers (testdata/cards.csv).
type DemoCard struct{ PAN, Label, Expiry string }

// DemoMerchant is a merchant the checkout plays.
type DemoMerchant struct{ Name, MerchantID string }

// Cards and Merchants make every path reachable: mTAN, app, not registered, blocked.
var (
	Cards = []DemoCard{
		{"4000110000000017", "Anna Schmidt · Visa · mTAN", "2909"},
		{"5200110000000012", "Noah Schröder · Mastercard · App", "2905"},
		{"4000110000000025", "Jonas Müller · Visa · nicht registriert", "2803"},
		{"4000110000000058", "gesperrte Karte · Visa", "2912"},
	}
	Merchants = []DemoMerchant{{"Beispiel-Shop", "M-000123"}, {"Buchladen am Markt", "M-000456"}, {"Elektro Müller & Söhne", "M-000789"}}
)

// New parses the templates.
func New(d Deps) *Demo {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 15 * time.Second}
	}
	t := template.Must(template.New("").Funcs(template.FuncMap{
		"last4": func(pan string) string { return pan[len(pan)-4:] },
		"euro":  func(a decimal.Decimal) string { return acs.FormatAmount(a, "978") },
	}).ParseFS(files, "templates/*.html"))
	return &Demo{d: d, tmpl: t, orders: map[string]*order{}}
}

// Routes mounts the shop and the phone on g (/demo).
func (dm *Demo) Routes(g *echo.Group) {
	g.Use(headers)
	g.GET("", dm.checkout)
	g.POST("/app/pay", dm.payInApp)
	g.POST("/app/:id", dm.appStep)
	g.POST("/pay", dm.pay)
	g.POST("/notify", dm.notify)
	g.POST("/rreq", dm.rreq)
	g.GET("/order/:id", dm.orderPage)
	g.GET("/phone", dm.phone)
	g.POST("/phone/answer", dm.phoneAnswer)
	g.POST("/phone/offline", dm.phoneOffline)
}

// headers: the demo pages frame the ACS's challenge (same origin), run one nonce'd script each, and are
// themselves framed by nobody.
func headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		nonce := web.Nonce()
		c.Set("nonce", nonce)
		c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+
			"'; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'")
		return next(c)
	}
}

type page struct {
	Nonce     string
	Cards     []DemoCard
	Merchants []DemoMerchant
	Order     *order
	Error     string
	// challenge
	ACSURL, CReq string
	// phone
	Pending  []pendingView
	Notice   string
	Password string
}

func (dm *Demo) render(c echo.Context, status int, name string, pg page) error {
	pg.Nonce, _ = c.Get("nonce").(string)
	pg.Cards, pg.Merchants = Cards, Merchants
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return dm.tmpl.ExecuteTemplate(c.Response(), name, pg)
}

func (dm *Demo) checkout(c echo.Context) error {
	return dm.render(c, http.StatusOK, "shop.html", page{})
}

// windowSizes are the EMV challenge window sizes (layout.html sizes the iframe by class).
var windowSizes = map[string]bool{"01": true, "02": true, "03": true, "04": true, "05": true}

// pay sends the AReq for the checkout and shows the answer or the challenge.
func (dm *Demo) pay(c echo.Context) error {
	o, err := dm.newOrder(c)
	if err != nil {
		return dm.render(c, http.StatusUnprocessableEntity, "shop.html", page{Error: "Bitte Karte, Händler und einen Betrag über 0 wählen."})
	}
	size := c.FormValue("window")
	if !windowSizes[size] {
		size = "03"
	}
	o.WindowSize = size
	areq, err := dm.areq(o, c.Request().Header.Get("Accept-Language"), c.Request().UserAgent())
	if err != nil {
		return err
	}
	ares, err := dm.submit(c.Request().Context(), o, areq)
	if err != nil {
		return err
	}
	if ares["transStatus"] != "C" {
		return c.Redirect(http.StatusSeeOther, "/demo/order/"+o.ID)
	}
	creq, _ := json.Marshal(map[string]string{"threeDSServerTransID": o.ID, "acsTransID": fmt.Sprint(ares["acsTransID"]),
		"messageType": "CReq", "messageVersion": fmt.Sprint(ares["messageVersion"]), "challengeWindowSize": size})
	return dm.render(c, http.StatusOK, "challenge.html", page{Order: o, ACSURL: fmt.Sprint(ares["acsURL"]),
		CReq: base64.RawURLEncoding.EncodeToString(creq)})
}

// areq builds the AReq from the embedded template, with the browser's own language and user agent.
func (dm *Demo) areq(o *order, lang, ua string) ([]byte, error) {
	raw, err := files.ReadFile("areq.json")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(dm.d.PublicURL, "/")
	language := "de-DE"
	if tag := strings.TrimSpace(strings.SplitN(strings.SplitN(lang, ",", 2)[0], ";", 2)[0]); tag != "" && len(tag) <= 8 {
		language = tag
	}
	if ua == "" || len(ua) > 2048 {
		ua = "unknown"
	}
	m["threeDSServerTransID"], m["dsTransID"] = o.ID, uuid.NewString()
	m["acctNumber"], m["cardExpiryDate"] = o.Card.PAN, o.Card.Expiry
	m["merchantName"], m["acquirerMerchantID"] = o.Merchant.Name, o.Merchant.MerchantID
	m["purchaseAmount"] = o.Amount.Shift(2).String()
	m["purchaseDate"] = dm.d.Clock.Now().UTC().Format("20060102150405")
	// The demo shop plays the 3DS Server and the DS: the RReq comes to its DS endpoint (dsURL).
	m["notificationURL"], m["threeDSServerURL"], m["dsURL"] = base+"/demo/notify", base+"/demo/3ds-server", base+"/demo/rreq"
	m["browserLanguage"], m["browserUserAgent"] = language, ua
	return json.Marshal(m)
}

// submit keeps the order (its RReq and final CRes find it by id) and sends its AReq.
func (dm *Demo) submit(ctx context.Context, o *order, areq []byte) (map[string]any, error) {
	dm.mu.Lock()
	dm.orders[o.ID] = o
	dm.mu.Unlock()
	ares, err := dm.send(ctx, areq)
	if err != nil {
		return nil, err
	}
	dm.mu.Lock()
	o.ARes = ares
	dm.mu.Unlock()
	return ares, nil
}

func (dm *Demo) send(ctx context.Context, areq []byte) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(dm.d.PublicURL, "/")+"/3ds/areq", bytes.NewReader(areq))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := dm.d.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("demo: AReq: %w", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&m); err != nil {
		return nil, fmt.Errorf("demo: ARes: %w", err)
	}
	return m, nil
}

// notify receives the final CRes inside the iframe and sends the top window to the order's page.
func (dm *Demo) notify(c echo.Context) error {
	b, err := base64.RawURLEncoding.DecodeString(c.FormValue("cres"))
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		return c.String(http.StatusBadRequest, "bad cres")
	}
	id := fmt.Sprint(m["threeDSServerTransID"])
	dm.mu.Lock()
	o := dm.orders[id]
	if o != nil {
		o.CRes = m
	}
	dm.mu.Unlock()
	if o == nil || c.FormValue("threeDSSessionData") != base64.RawURLEncoding.EncodeToString([]byte(id)) {
		return c.String(http.StatusBadRequest, "unknown order")
	}
	return dm.render(c, http.StatusOK, "notify.html", page{Order: o})
}

// rreq plays the DS's results endpoint (which forwards to the 3DS Server): checks the RReq against the
// emv tables, keeps it and answers RRes, or Erro.
func (dm *Demo) rreq(c echo.Context) error {
	body, _ := io.ReadAll(io.LimitReader(c.Request().Body, 256<<10))
	msg, erro := emv.Decode(body, emv.TypeRReq, emv.Context{Channel: emv.BRW})
	if erro != nil {
		erro.ErrorComponent = "D"
		return c.Blob(http.StatusOK, "application/json; charset=utf-8", emv.EncodeErro(erro))
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	id := msg.Str("threeDSServerTransID")
	dm.mu.Lock()
	if o := dm.orders[id]; o != nil {
		o.RReq = m
	}
	dm.mu.Unlock()
	out, err := emv.RResFor(msg, "01")
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json; charset=utf-8", out)
}

func (dm *Demo) orderPage(c echo.Context) error {
	dm.mu.Lock()
	o := dm.orders[c.Param("id")]
	var cp order
	if o != nil {
		cp = *o
	}
	dm.mu.Unlock()
	if o == nil {
		return apperr.New(apperr.NotFound, "no such order")
	}
	return dm.render(c, http.StatusOK, "order.html", page{Order: &cp})
}

// Status is the order's outcome: the final CRes's, else the ARes's.
func (o *order) Status() string {
	if o.CRes != nil {
		return fmt.Sprint(o.CRes["transStatus"])
	}
	return fmt.Sprint(o.ARes["transStatus"])
}

// Result returns an element of the result: from the RReq after a challenge, else from the ARes.
func (o *order) Result(name string) string {
	src := o.ARes
	if o.RReq != nil {
		src = o.RReq
	}
	if v, ok := src[name]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

// SessionData is the threeDSSessionData the shop gives the ACS: its order id, base64url.
func (o *order) SessionData() string { return base64.RawURLEncoding.EncodeToString([]byte(o.ID)) }

// The virtual phone.

type pendingView struct {
	acs.Confirmation
	Card   string
	Amount string
	Date   string
}

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return l
}()

func (dm *Demo) loadPhone() (*appapi.DeviceState, *ecdsa.PrivateKey, error) {
	raw, err := os.ReadFile(dm.d.PhoneState)
	if err != nil {
		return nil, nil, apperr.New(apperr.NotFound, "no demo phone: run `acs demo seed "+dm.d.PhoneState+"`")
	}
	var st appapi.DeviceState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(st.DeviceKey)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, nil, errors.New("demo phone: bad device key")
	}
	return &st, key, nil
}

func (dm *Demo) phone(c echo.Context) error { return dm.phonePage(c, "", "") }

func (dm *Demo) phonePage(c echo.Context, notice, password string) error {
	st, _, err := dm.loadPhone()
	if err != nil {
		return err
	}
	var list []pendingView
	for _, card := range st.Cards {
		pending, err := dm.d.Challenges.Pending(c.Request().Context(), uuid.MustParse(card.CardID))
		if err != nil {
			return err
		}
		for _, p := range pending {
			// The same amount and local time as the payment page shows, for the cardholder to compare.
			list = append(list, pendingView{Confirmation: p, Card: card.Card, Amount: acs.FormatAmount(p.Amount, p.Currency),
				Date: p.Date.In(berlin).Format("02.01.2006 15:04")})
		}
	}
	return dm.render(c, http.StatusOK, "phone.html", page{Pending: list, Notice: notice, Password: password})
}

// phoneAnswer signs the confirmation with the demo phone's device key, as the app does, and answers.
func (dm *Demo) phoneAnswer(c echo.Context) error {
	ctx := c.Request().Context()
	st, key, err := dm.loadPhone()
	if err != nil {
		return err
	}
	id, err := uuid.Parse(c.FormValue("id"))
	if err != nil {
		return apperr.Field("id", "unknown confirmation")
	}
	for _, card := range st.Cards {
		cardID := uuid.MustParse(card.CardID)
		pending, err := dm.d.Challenges.Pending(ctx, cardID)
		if err != nil {
			return err
		}
		for _, p := range pending {
			if p.ID != id {
				continue
			}
			sum := sha256.Sum256(p.Canonical())
			sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
			if err != nil {
				return err
			}
			ans := acs.Answer{Approve: c.FormValue("action") != "decline", Verification: acs.Verification(c.FormValue("action")),
				PIN: c.FormValue("pin"), Signature: sig}
			if c.FormValue("action") == "decline" {
				ans.Verification = ""
			}
			f, err := dm.d.Challenges.AnswerApp(ctx, cardID, id, ans)
			if err != nil {
				var ae *apperr.Error
				if errors.As(err, &ae) && ae.Kind != apperr.Internal && ae.Kind != apperr.Unavailable {
					return dm.phonePage(c, ae.Msg+fieldText(ae), "")
				}
				return err
			}
			notice := "Zahlung freigegeben."
			switch {
			case f.Why == acs.ReasonIdentificationFailed:
				notice = "Identifikation fehlgeschlagen."
			case f.TransStatus != "Y":
				notice = "Zahlung abgelehnt."
			}
			return dm.phonePage(c, notice, "")
		}
	}
	return dm.phonePage(c, "Diese Anfrage ist nicht mehr offen.", "")
}

func fieldText(ae *apperr.Error) string {
	var parts []string
	for f, m := range ae.Fields {
		parts = append(parts, f+": "+m)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// phoneOffline computes the offline password as the app does offline: local PIN check, then the
// password from the challenge number and the amount typed from the payment page.
func (dm *Demo) phoneOffline(c echo.Context) error {
	st, _, err := dm.loadPhone()
	if err != nil {
		return err
	}
	if len(st.Cards) == 0 || st.Cards[0].PINCheck == nil ||
		!bytes.Equal(st.Cards[0].PINCheck, appapi.PINCheck(st.OfflineSecret, c.FormValue("pin"))) {
		return dm.phonePage(c, "Die PIN ist nicht korrekt.", "")
	}
	amount, err := decimal.NewFromString(strings.ReplaceAll(strings.TrimSpace(c.FormValue("amount")), ",", "."))
	challenge := strings.TrimSpace(c.FormValue("challenge"))
	if err != nil || challenge == "" {
		return dm.phonePage(c, "Challenge-Nummer und Betrag eingeben.", "")
	}
	return dm.phonePage(c, "", acs.OfflinePassword(st.OfflineSecret, challenge, amount.Shift(2).IntPart(), "978"))
}
