package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/emv/sdkcrypto"
	"example.com/acs/internal/sim3ds"
)

// The in-app checkout: the shop plays a merchant's app with its 3DS SDK (internal/sim3ds's SDK, as
// the EMV specification describes it): the AReq for deviceChannel 01, acsSignedContent verified
// against the development DS CA, the JWE CReqs, and the native UI the CRes describes, drawn here as a
// phone screen. The cardholder confirms on the virtual phone as for a browser purchase.

// payInApp sends the app-channel AReq and shows the SDK's first screen, or the order's result.
func (dm *Demo) payInApp(c echo.Context) error {
	if dm.d.SDKRoots == nil {
		return apperr.New(apperr.NotFound, "the in-app checkout needs the app channel (signing_cert_file) and the DS CA (ds_link.ca_file)")
	}
	o, err := dm.newOrder(c)
	if err != nil {
		return dm.render(c, http.StatusUnprocessableEntity, "shop.html", page{Error: "Bitte Karte, Händler und einen Betrag über 0 wählen."})
	}
	sdk, err := sim3ds.NewSDK("2.3.1", dm.d.SDKRoots, sdkcrypto.A128GCM)
	if err != nil {
		return err
	}
	sdk.Client = dm.d.Client
	raw, err := dm.areq(o, "de-DE", "")
	if err != nil {
		return err
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["messageVersion"], m["threeDSRequestorChallengeInd"] = "2.3.1", []string{"01"}
	m["acquirerCountryCode"], m["acquirerCountryCodeSource"] = "276", "01"
	sim3ds.Apply(m, sdk.AReqFields())
	areq, _ := json.Marshal(m)
	ares, err := dm.submit(c.Request().Context(), o, areq)
	if err != nil {
		return err
	}
	if ares["transStatus"] != "C" {
		return c.Redirect(http.StatusSeeOther, "/demo/order/"+o.ID)
	}
	if err := sdk.Accept(ares); err != nil {
		return err
	}
	cres, erro, err := sdk.Step(nil)
	return dm.showStep(c, o, sdk, cres, erro, err)
}

// appStep sends the screen's answer as the next CReq.
func (dm *Demo) appStep(c echo.Context) error {
	dm.mu.Lock()
	o := dm.orders[c.Param("id")]
	dm.mu.Unlock()
	if o == nil || o.SDK == nil {
		return apperr.New(apperr.NotFound, "no such in-app order")
	}
	var fields map[string]any
	switch c.FormValue("action") {
	case "continue":
		fields = map[string]any{"oobContinue": o.SDK.OOBContinue()}
	case "verify":
		fields = map[string]any{"challengeDataEntry": c.FormValue("mtan"), "challengeDataEntryTwo": c.FormValue("answer")}
	case "resend":
		fields = map[string]any{"resendChallenge": "Y"}
	default:
		fields = map[string]any{"challengeCancel": "01"}
	}
	cres, erro, err := o.SDK.Step(fields)
	return dm.showStep(c, o, o.SDK, cres, erro, err)
}

// showStep shows the CRes as the app's screen, or the order once the challenge is complete.
func (dm *Demo) showStep(c echo.Context, o *order, sdk *sim3ds.SDK, cres, erro map[string]any, err error) error {
	if err != nil {
		return err
	}
	if erro != nil {
		return fmt.Errorf("demo: the ACS answered the CReq with Erro %v: %v", erro["errorCode"], erro["errorDetail"])
	}
	dm.mu.Lock()
	o.SDK, o.Screen = sdk, cres
	if cres["challengeCompletionInd"] == "Y" {
		o.CRes = cres
	}
	dm.mu.Unlock()
	if o.CRes != nil {
		return c.Redirect(http.StatusSeeOther, "/demo/order/"+o.ID)
	}
	return dm.render(c, http.StatusOK, "app.html", page{Order: o})
}

// newOrder reads the checkout form (shared by both checkouts).
func (dm *Demo) newOrder(c echo.Context) (*order, error) {
	var card *DemoCard
	for i := range Cards {
		if Cards[i].PAN == c.FormValue("card") {
			card = &Cards[i]
		}
	}
	var merchant *DemoMerchant
	for i := range Merchants {
		if Merchants[i].MerchantID == c.FormValue("merchant") {
			merchant = &Merchants[i]
		}
	}
	amount, err := decimal.NewFromString(strings.ReplaceAll(strings.TrimSpace(c.FormValue("amount")), ",", "."))
	if card == nil || merchant == nil || err != nil || !amount.IsPositive() || amount.GreaterThan(decimal.NewFromInt(100000)) {
		return nil, apperr.New(apperr.Invalid, "card, merchant or amount")
	}
	return &order{ID: uuid.NewString(), Card: *card, Merchant: *merchant, Amount: amount.Round(2), WindowSize: "05"}, nil
}

// Screen reads an element of the app's current screen (the last CRes).
func (o *order) ScreenText(name string) string {
	if v, ok := o.Screen[name]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// ScreenLines is challengeInfoText split at its line breaks (2.3.1 Req 370).
func (o *order) ScreenLines() []string {
	return strings.Split(o.ScreenText("challengeInfoText"), "\n")
}

// ScreenBox reads the label of an entry box of the screen.
func (o *order) ScreenBox(name string) string {
	if b, ok := o.Screen[name].(map[string]any); ok {
		return fmt.Sprint(b["challengeDataEntryLabel"])
	}
	return ""
}
