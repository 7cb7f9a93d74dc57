package acs

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"example.com/acs/emv"
	"example.com/acs/emv/sdkcrypto"
)

// Erro is the EMV error message (package emv); the acs package returns one as an error where a request
// is refused, and the edge sends it as it is.
type Erro = emv.Erro

func newErro(code, detail string, v emv.Version, about emv.MessageType) *Erro {
	return emv.NewErro(code, detail, v, about)
}

// AReq holds what the ACS's decision reads of an authentication request, after package emv has checked
// the message against its version's element table. Ids are kept exactly as received: every answer
// echoes them byte for byte.
type AReq struct {
	Message              *emv.Message
	MessageVersion       emv.Version
	ThreeDSServerTransID string
	DSTransID            string
	DeviceChannel        string // 01 app, 02 browser, 03 3RI
	MessageCategory      string // 01 payment, 02 non-payment
	AcctNumber           string // the card number: never logged, never stored in clear
	CardExpiryDate       string // YYMM, optional
	AcquirerBIN          string
	AcquirerMerchantID   string
	MerchantName         string
	MCC                  string
	MerchantCountryCode  string
	HasAmount            bool            // false for a non-payment authentication without purchase data
	Amount               decimal.Decimal // purchaseAmount scaled by purchaseExponent
	MinorUnits           int64
	Currency             string // ISO 4217 numeric
	Exponent             int
	PurchaseDate         time.Time
	ChallengeInd         string   // the first threeDSRequestorChallengeInd, "01" when absent
	ChallengeInds        []string // all of them, in the requestor's order of preference (2.3.1: up to two)
	AuthenticationInd    string   // threeDSRequestorAuthenticationInd
	ThreeRIInd           string   // 3RI only
	PriorACSTransID      string   // threeDSRequestorPriorAuthenticationInfo.threeDSReqPriorRef
	DecoupledRequested   bool     // threeDSRequestorDecReqInd Y, F or B
	// DecoupledPrimary: threeDSRequestorDecReqInd Y or B, decoupled may answer the ARes (D);
	// DecoupledMaxTime is threeDSRequestorDecMaxTime (minutes; 0 when absent).
	DecoupledPrimary     bool
	DecoupledMaxTime     time.Duration
	NotificationURL      string
	ThreeDSServerURL     string
	DSURL                string
	BrowserLanguage      string
	BrowserUserAgent     string
	BrowserAcceptHeader  string
	BrowserIP            string
	BrowserScreenHeight  string
	BrowserScreenWidth   string
	BrowserJavaScript    bool
	ThreeDSRequestorID   string
	ThreeDSRequestorName string
	// The app channel's (deviceChannel 01) SDK: its ephemeral key (checked on P-256 here), reference
	// number (the key derivation's PartyVInfo), type, and what UI it can render.
	SDKEphemPubKey         *ecdh.PublicKey
	SDKEphemJWK            json.RawMessage // as received: acsSignedContent repeats it
	SDKReferenceNumber     string
	SDKTransID             string
	SDKType                string   // 01 Default-SDK, 02 Split-SDK (2.3.1); "" before
	SDKInterface           string   // deviceRenderOptions.sdkInterface: 01 native, 02 HTML, 03 both
	SDKUITypes             []string // deviceRenderOptions.sdkUiType
	ThreeDSServerRefNumber string
}

// Channels and categories of an AReq.
const (
	ChannelApp         = "01"
	ChannelBrowser     = "02"
	Channel3RI         = "03"
	CategoryPayment    = "01"
	CategoryNonPayment = "02"
)

// ParseAReq decodes an AReq through the element table of its version (package emv) and reads what the
// decision needs. A problem is an *Erro naming the elements, never their values. The only checks made
// here beyond the table are ones that need two elements: the purchase exponent must be the currency's
// ISO 4217 exponent, so that an amount is never misread by a factor of ten.
func ParseAReq(body []byte) (*AReq, *Erro) {
	m, erro := emv.Decode(body, emv.TypeAReq, emv.Context{})
	if erro != nil {
		return nil, erro
	}
	a := &AReq{Message: m, MessageVersion: m.Version, ThreeDSServerTransID: m.Str("threeDSServerTransID"),
		DSTransID: m.Str("dsTransID"), DeviceChannel: m.Str("deviceChannel"), MessageCategory: m.Str("messageCategory"),
		AcctNumber: m.Str("acctNumber"), CardExpiryDate: m.Str("cardExpiryDate"), AcquirerBIN: m.Str("acquirerBIN"),
		AcquirerMerchantID: m.Str("acquirerMerchantID"), MerchantName: m.Str("merchantName"), MCC: m.Str("mcc"),
		MerchantCountryCode: m.Str("merchantCountryCode"), AuthenticationInd: m.Str("threeDSRequestorAuthenticationInd"),
		ThreeRIInd: m.Str("threeRIInd"), NotificationURL: m.Str("notificationURL"), ThreeDSServerURL: m.Str("threeDSServerURL"),
		DSURL: m.Str("dsURL"), BrowserLanguage: m.Str("browserLanguage"), BrowserUserAgent: m.Str("browserUserAgent"),
		BrowserAcceptHeader: m.Str("browserAcceptHeader"), BrowserIP: m.Str("browserIP"),
		BrowserScreenHeight: m.Str("browserScreenHeight"), BrowserScreenWidth: m.Str("browserScreenWidth"),
		ThreeDSRequestorID: m.Str("threeDSRequestorID"), ThreeDSRequestorName: m.Str("threeDSRequestorName"),
		ThreeDSServerRefNumber: m.Str("threeDSServerRefNumber")}
	a.BrowserJavaScript, _ = m.Bool("browserJavascriptEnabled")
	if m.Version == emv.V210 && a.DeviceChannel == ChannelBrowser {
		a.BrowserJavaScript = true // 2.1.0 has no such element: its browsers always ran the 3DS Server's script
	}
	a.ChallengeInds = m.Strs("threeDSRequestorChallengeInd")
	a.ChallengeInd = "01" // Annex A: absent means no preference
	if len(a.ChallengeInds) > 0 {
		a.ChallengeInd = a.ChallengeInds[0]
	}
	switch m.Str("threeDSRequestorDecReqInd") {
	case "Y", "B":
		a.DecoupledPrimary = true
		fallthrough
	case "F":
		a.DecoupledRequested = true
	}
	if n, err := strconv.Atoi(m.Str("threeDSRequestorDecMaxTime")); err == nil {
		a.DecoupledMaxTime = time.Duration(n) * time.Minute // the table checked 00001-10080
	}
	if prior := m.Raw("threeDSRequestorPriorAuthenticationInfo"); prior != nil {
		// An object up to 2.2.0, an array of them in 2.3.1: the first names the prior transaction.
		type info struct {
			Ref string `json:"threeDSReqPriorRef"`
		}
		var one info
		var list []info
		if json.Unmarshal(prior, &one) != nil && json.Unmarshal(prior, &list) == nil && len(list) > 0 {
			one = list[0]
		}
		a.PriorACSTransID = one.Ref
	}
	if amount := m.Str("purchaseAmount"); amount != "" && m.Has("purchaseCurrency") && m.Has("purchaseExponent") {
		a.Currency = m.Str("purchaseCurrency")
		exp := m.Str("purchaseExponent")
		digits, _, _ := emv.CurrencyExponent(a.Currency)
		if int(exp[0]-'0') != digits {
			return nil, newErro(emv.ErrFormat, "purchaseExponent", m.Version, emv.TypeAReq).Echo(m)
		}
		units, err := decimal.NewFromString(amount)
		if err != nil || !units.LessThan(decimal.New(1, 15)) {
			return nil, newErro(emv.ErrFormat, "purchaseAmount", m.Version, emv.TypeAReq).Echo(m)
		}
		a.HasAmount, a.Exponent, a.MinorUnits = true, digits, units.IntPart()
		a.Amount = units.Shift(int32(-digits))
	}
	if a.DeviceChannel == ChannelApp {
		// The table checked that sdkEphemPubKey is an object; EMV 6.2.3.2 has the ACS check that it is a
		// point on P-256. A key that is not is a format error naming it (Annex A.2, 203).
		a.SDKEphemJWK = m.Raw("sdkEphemPubKey")
		pub, err := sdkcrypto.ParsePublicJWK(a.SDKEphemJWK)
		if err != nil {
			return nil, newErro(emv.ErrFormat, "sdkEphemPubKey", m.Version, emv.TypeAReq).Echo(m)
		}
		a.SDKEphemPubKey, a.SDKReferenceNumber, a.SDKTransID = pub, m.Str("sdkReferenceNumber"), m.Str("sdkTransID")
		a.SDKType = m.Str("sdkType")
		var ro struct {
			Interface string   `json:"sdkInterface"`
			UITypes   []string `json:"sdkUiType"`
		}
		_ = json.Unmarshal(m.Raw("deviceRenderOptions"), &ro) // its form was checked by the table
		a.SDKInterface, a.SDKUITypes = ro.Interface, ro.UITypes
		a.BrowserLanguage = deviceLocale(m.Str("deviceInfo"))
	}
	if pd := m.Str("purchaseDate"); pd != "" {
		a.PurchaseDate, _ = time.Parse("20060102150405", pd) // the table checked the format
	}
	return a, nil
}

// localeTag is what a locale may look like to be kept (de-DE, en_US, de).
var localeTag = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$`)

// deviceLocale is the phone's locale from the SDK's deviceInfo (base64url JSON; data element C005,
// "Locale", of EMVCo's 3DS SDK Device Information specification), which the app channel's screens are
// written in, as browserLanguage is for the browser; empty when absent or malformed (the screens are
// then German, the bank's language). deviceInfo is the SDK's and can be anything: only a tag of the
// expected shape is kept.
func deviceLocale(deviceInfo string) string {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(deviceInfo, "="))
	if err != nil || len(raw) > 64<<10 {
		return ""
	}
	var di struct {
		DD map[string]any `json:"DD"`
	}
	if json.Unmarshal(raw, &di) != nil {
		return ""
	}
	loc, _ := di.DD["C005"].(string)
	if !localeTag.MatchString(loc) {
		return ""
	}
	return loc
}

// screenLang is the language of the app channel's screens for a locale (or browser language) tag.
func screenLang(tag string) string {
	if strings.HasPrefix(strings.ToLower(tag), "en") {
		return "en"
	}
	return "de"
}
