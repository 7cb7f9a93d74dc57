package acs

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// SupportedVersions are the protocol versions this ACS answers (Erro 102 lists them for any other).
var SupportedVersions = []string{"2.1.0", "2.2.0", "2.3.1"}

// Erro is the EMV 3DS error message. errorDetail names the offending data element.
type Erro struct {
	ThreeDSServerTransID string `json:"threeDSServerTransID,omitempty"`
	ACSTransID           string `json:"acsTransID,omitempty"`
	DSTransID            string `json:"dsTransID,omitempty"`
	MessageType          string `json:"messageType"`
	MessageVersion       string `json:"messageVersion"`
	ErrorCode            string `json:"errorCode"`
	ErrorComponent       string `json:"errorComponent"`
	ErrorDescription     string `json:"errorDescription"`
	ErrorDetail          string `json:"errorDetail"`
	ErrorMessageType     string `json:"errorMessageType,omitempty"`
}

func (e *Erro) Error() string { return "Erro " + e.ErrorCode + ": " + e.ErrorDetail }

// EMV error codes used by the ACS (EMV 3DS 2.2.0, Table A.4).
const (
	ErrMessageInvalid    = "101"
	ErrVersion           = "102"
	ErrRequiredMissing   = "201"
	ErrFormat            = "203"
	ErrDuplicate         = "204"
	ErrTransactionIDGone = "301"
	ErrISOCode           = "304"
	ErrTransactionData   = "305"
	ErrTransientFailure  = "403"
)

var errDescriptions = map[string]string{
	ErrMessageInvalid:    "Message Received Invalid",
	ErrVersion:           "Message Version Number Not Supported",
	ErrRequiredMissing:   "Required Data Element Missing",
	ErrFormat:            "Format of one or more Data Elements is Invalid according to the Specification",
	ErrDuplicate:         "Duplicate Data Element",
	ErrTransactionIDGone: "Transaction ID Not Recognised",
	ErrISOCode:           "ISO Code Invalid",
	ErrTransactionData:   "Transaction data not valid",
	ErrTransientFailure:  "Transient System Failure",
}

func newErro(code, detail, version, forType string) *Erro {
	if version == "" {
		version = "2.2.0"
	}
	return &Erro{MessageType: "Erro", MessageVersion: version, ErrorCode: code, ErrorComponent: "A",
		ErrorDescription: errDescriptions[code], ErrorDetail: detail, ErrorMessageType: forType}
}

// AReq holds the elements of an authentication request this ACS uses, decoded and validated.
type AReq struct {
	MessageVersion         string
	ThreeDSServerTransID   uuid.UUID
	DSTransID              uuid.UUID
	DeviceChannel          string // 02 browser
	MessageCategory        string // 01 payment
	AcctNumber             string // the card number: never logged, never stored in clear
	CardExpiryDate         string // YYMM, optional
	AcquirerBIN            string
	AcquirerMerchantID     string
	MerchantName           string
	MCC                    string
	MerchantCountryCode    string
	Amount                 decimal.Decimal // purchaseAmount scaled by purchaseExponent
	MinorUnits             int64
	Currency               string // ISO 4217 numeric
	Exponent               int
	PurchaseDate           time.Time
	ChallengeInd           string // threeDSRequestorChallengeInd, "01" when absent
	NotificationURL        string
	ThreeDSServerURL       string
	BrowserLanguage        string
	BrowserUserAgent       string
	BrowserAcceptHeader    string
	BrowserIP              string
	BrowserScreenHeight    string
	BrowserScreenWidth     string
	ThreeDSRequestorID     string
	ThreeDSRequestorName   string
	ThreeDSServerRefNumber string
}

var (
	reDigits    = regexp.MustCompile(`^[0-9]+$`)
	reCurrency  = regexp.MustCompile(`^[0-9]{3}$`)
	reCountry   = regexp.MustCompile(`^[0-9]{3}$`)
	reMCC       = regexp.MustCompile(`^[0-9]{4}$`)
	reYYMM      = regexp.MustCompile(`^[0-9]{2}(0[1-9]|1[0-2])$`)
	reTwoDigits = regexp.MustCompile(`^[0-9]{2}$`)
)

// currencies this ACS accepts with their ISO 4217 minor-unit exponents; an AReq whose exponent
// disagrees is refused rather than misread by a factor of ten.
var currencies = map[string]int{"978": 2, "840": 2, "826": 2, "756": 2, "203": 2, "985": 2, "752": 2, "208": 2, "578": 2, "392": 0}

// maxAReqSize bounds what is read of a message; EMV allows larger for app channels, browsers' AReqs stay
// far below.
const maxAReqSize = 64 << 10

// ParseAReq decodes and validates an AReq. A problem is returned as an *Erro with the error code and the
// name of the data element, never with its value.
func ParseAReq(body []byte) (*AReq, *Erro) {
	if len(body) > maxAReqSize {
		return nil, newErro(ErrMessageInvalid, "Invalid Formatted Message", "", "AReq")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, newErro(ErrMessageInvalid, "Invalid Formatted Message", "", "AReq")
	}
	if dup := duplicateKey(body); dup != "" {
		return nil, newErro(ErrDuplicate, dup, "", "AReq")
	}
	str := func(name string) (string, bool, error) {
		v, ok := raw[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", true, err
		}
		return s, true, nil
	}
	// Message type and version come first: they decide how the rest is read.
	mt, _, err := str("messageType")
	if err != nil || mt != "AReq" {
		return nil, newErro(ErrMessageInvalid, "Invalid Message Type", "", "AReq")
	}
	version, present, err := str("messageVersion")
	switch {
	case !present:
		return nil, newErro(ErrRequiredMissing, "messageVersion", "", "AReq")
	case err != nil || !supported(version):
		return nil, newErro(ErrVersion, strings.Join(SupportedVersions, ","), "", "AReq")
	}

	a := &AReq{MessageVersion: version}
	var problem *Erro
	// get reads a string element; required ones missing or empty give 201, a wrong JSON type 203.
	get := func(name string, required bool) string {
		if problem != nil {
			return ""
		}
		s, present, err := str(name)
		switch {
		case err != nil:
			problem = newErro(ErrFormat, name, version, "AReq")
		case required && (!present || s == ""):
			problem = newErro(ErrRequiredMissing, name, version, "AReq")
		}
		return s
	}
	check := func(ok bool, name string) {
		if problem == nil && !ok {
			problem = newErro(ErrFormat, name, version, "AReq")
		}
	}

	if id, err := uuid.Parse(get("threeDSServerTransID", true)); problem == nil {
		check(err == nil, "threeDSServerTransID")
		a.ThreeDSServerTransID = id
	}
	if id, err := uuid.Parse(get("dsTransID", true)); problem == nil {
		check(err == nil, "dsTransID")
		a.DSTransID = id
	}
	a.DeviceChannel = get("deviceChannel", true)
	check(a.DeviceChannel == "02", "deviceChannel") // this ACS serves the browser channel
	a.MessageCategory = get("messageCategory", true)
	check(a.MessageCategory == "01", "messageCategory") // payment authentication
	a.ThreeDSRequestorID = get("threeDSRequestorID", true)
	check(len(a.ThreeDSRequestorID) <= 35, "threeDSRequestorID")
	a.ThreeDSRequestorName = get("threeDSRequestorName", true)
	check(len(a.ThreeDSRequestorName) <= 40, "threeDSRequestorName")
	a.ThreeDSServerRefNumber = get("threeDSServerRefNumber", true)
	check(len(a.ThreeDSServerRefNumber) <= 32, "threeDSServerRefNumber")

	a.AcctNumber = get("acctNumber", true)
	check(len(a.AcctNumber) >= 13 && len(a.AcctNumber) <= 19 && reDigits.MatchString(a.AcctNumber), "acctNumber")
	if a.CardExpiryDate = get("cardExpiryDate", false); a.CardExpiryDate != "" {
		check(reYYMM.MatchString(a.CardExpiryDate), "cardExpiryDate")
	}
	a.AcquirerBIN = get("acquirerBIN", true)
	check(len(a.AcquirerBIN) <= 11 && reDigits.MatchString(a.AcquirerBIN), "acquirerBIN")
	a.AcquirerMerchantID = get("acquirerMerchantID", true)
	check(len(a.AcquirerMerchantID) <= 35, "acquirerMerchantID")
	a.MerchantName = get("merchantName", true)
	check(len(a.MerchantName) <= 40, "merchantName")
	a.MCC = get("mcc", true)
	check(reMCC.MatchString(a.MCC), "mcc")
	a.MerchantCountryCode = get("merchantCountryCode", true)
	check(reCountry.MatchString(a.MerchantCountryCode), "merchantCountryCode")

	amount := get("purchaseAmount", true)
	check(len(amount) <= 48 && reDigits.MatchString(amount), "purchaseAmount")
	a.Currency = get("purchaseCurrency", true)
	check(reCurrency.MatchString(a.Currency), "purchaseCurrency")
	exp := get("purchaseExponent", true)
	check(len(exp) == 1 && reDigits.MatchString(exp), "purchaseExponent")
	if problem == nil {
		want, known := currencies[a.Currency]
		if !known {
			problem = newErro(ErrISOCode, "purchaseCurrency", version, "AReq")
		} else if int(exp[0]-'0') != want {
			problem = newErro(ErrFormat, "purchaseExponent", version, "AReq")
		}
	}
	if problem == nil {
		a.Exponent = int(exp[0] - '0')
		units, err := decimal.NewFromString(amount)
		check(err == nil && units.LessThan(decimal.New(1, 15)), "purchaseAmount")
		if problem == nil {
			a.MinorUnits = units.IntPart()
			a.Amount = units.Shift(int32(-a.Exponent))
		}
	}
	pd := get("purchaseDate", true)
	if problem == nil {
		t, err := time.Parse("20060102150405", pd)
		check(err == nil, "purchaseDate")
		a.PurchaseDate = t.UTC()
	}
	if a.ChallengeInd = get("threeDSRequestorChallengeInd", false); a.ChallengeInd == "" {
		a.ChallengeInd = "01"
	}
	check(reTwoDigits.MatchString(a.ChallengeInd), "threeDSRequestorChallengeInd")

	a.NotificationURL = get("notificationURL", true)
	check(httpsURL(a.NotificationURL), "notificationURL")
	if a.ThreeDSServerURL = get("threeDSServerURL", false); a.ThreeDSServerURL != "" {
		check(httpsURL(a.ThreeDSServerURL), "threeDSServerURL")
	}
	a.BrowserAcceptHeader = get("browserAcceptHeader", true)
	check(len(a.BrowserAcceptHeader) <= 2048, "browserAcceptHeader")
	a.BrowserLanguage = get("browserLanguage", true)
	check(len(a.BrowserLanguage) <= 8, "browserLanguage")
	a.BrowserUserAgent = get("browserUserAgent", true)
	check(len(a.BrowserUserAgent) <= 2048, "browserUserAgent")
	a.BrowserScreenHeight = get("browserScreenHeight", true)
	check(len(a.BrowserScreenHeight) <= 6 && reDigits.MatchString(a.BrowserScreenHeight), "browserScreenHeight")
	a.BrowserScreenWidth = get("browserScreenWidth", true)
	check(len(a.BrowserScreenWidth) <= 6 && reDigits.MatchString(a.BrowserScreenWidth), "browserScreenWidth")
	a.BrowserIP = get("browserIP", false)
	check(len(a.BrowserIP) <= 45, "browserIP")

	if problem != nil {
		problem.ThreeDSServerTransID = a.ThreeDSServerTransID.String()
		if a.ThreeDSServerTransID == uuid.Nil {
			problem.ThreeDSServerTransID = ""
		}
		return nil, problem
	}
	return a, nil
}

func supported(v string) bool {
	for _, s := range SupportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// httpsURL accepts absolute http(s) URLs; plain http only for loopback, as local test set-ups use.
func httpsURL(s string) bool {
	if len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost"))
}

// duplicateKey returns the name of a top-level element that appears twice, or "". encoding/json keeps the
// last of two equal keys silently; EMV answers a duplicate with Erro 204.
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := t.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
