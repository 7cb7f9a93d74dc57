package emv

import "strings"

// Error codes of the Erro message (2.3.1 Annex A.9, Table A.4 in 2.1.0/2.2.0). The ACS sends the
// ones it can detect; the others are listed so that an Erro it receives can be named.
const (
	ErrMessageInvalid     = "101" // not a message of this type, or not JSON
	ErrVersionUnsupported = "102" // errorDetail: the supported versions
	ErrMessagesExceeded   = "103"
	ErrRequiredMissing    = "201" // errorDetail: every missing element, comma-separated
	ErrCriticalExtension  = "202" // errorDetail: the id of the extension not recognised
	ErrFormat             = "203" // errorDetail: the element(s) whose value is not as specified
	ErrDuplicate          = "204" // errorDetail: the element that appears more than once
	ErrReservedValue      = "207" // errorDetail: the element whose value is reserved for future use
	ErrTransactionUnknown = "301" // transaction id not recognised
	ErrDecryption         = "302"
	ErrAccessDenied       = "303"
	ErrISOCode            = "304" // currency or country code not in the ISO table
	ErrTransactionData    = "305" // transaction data not valid
	ErrMCC                = "306"
	ErrSerialNumber       = "307"
	ErrTransactionStatus  = "315" // message not valid for the transaction's state (e.g. a CReq after its result)
	ErrTimedOut           = "402"
	ErrTransientFailure   = "403"
	ErrPermanentFailure   = "404"
	ErrSystemConnection   = "405"
)

var errorDescriptions = map[string]string{
	ErrMessageInvalid:     "Message Received Invalid",
	ErrVersionUnsupported: "Message Version Number Not Supported",
	ErrMessagesExceeded:   "Sent Messages Limit Exceeded",
	ErrRequiredMissing:    "Required Data Element Missing",
	ErrCriticalExtension:  "Critical Message Extension Not Recognised",
	ErrFormat:             "Format of one or more Data Elements is Invalid according to the Specification",
	ErrDuplicate:          "Duplicate Data Element",
	ErrReservedValue:      "Invalid Data Element Value, reserved for future use",
	ErrTransactionUnknown: "Transaction ID Not Recognised",
	ErrDecryption:         "Data Decryption Failure",
	ErrAccessDenied:       "Access Denied, Invalid Endpoint",
	ErrISOCode:            "ISO Code Invalid",
	ErrTransactionData:    "Transaction data not valid",
	ErrMCC:                "Merchant Category Code (MCC) Not Valid for Payment System",
	ErrSerialNumber:       "Serial Number not Valid",
	ErrTransactionStatus:  "Transaction Status Invalid",
	ErrTimedOut:           "Transaction Timed Out",
	ErrTransientFailure:   "Transient System Failure",
	ErrPermanentFailure:   "Permanent System Failure",
	ErrSystemConnection:   "System Connection Failure",
}

// Erro is an error message. The ACS is errorComponent A. It implements error so that the acs package
// can return one from deep inside a decision and the edge can send it as it is.
type Erro struct {
	ThreeDSServerTransID string `json:"threeDSServerTransID,omitempty"`
	ACSTransID           string `json:"acsTransID,omitempty"`
	DSTransID            string `json:"dsTransID,omitempty"`
	SDKTransID           string `json:"sdkTransID,omitempty"`
	MessageType          string `json:"messageType"`
	MessageVersion       string `json:"messageVersion"`
	ErrorCode            string `json:"errorCode"`
	ErrorComponent       string `json:"errorComponent"`
	ErrorDescription     string `json:"errorDescription"`
	ErrorDetail          string `json:"errorDetail"`
	ErrorMessageType     string `json:"errorMessageType,omitempty"`
}

func (e *Erro) Error() string { return "Erro " + e.ErrorCode + ": " + e.ErrorDetail }

// NewErro returns the ACS's Erro for a message of type about in version v. An unknown or missing
// version is answered in the newest one this ACS speaks, since the sender's cannot be known.
func NewErro(code, detail string, v Version, about MessageType) *Erro {
	if !Supported(string(v)) {
		v = Versions[len(Versions)-1]
	}
	code = codeFor(code, v)
	if detail == "" {
		detail = errorDescriptions[code]
	}
	return &Erro{MessageType: string(TypeErro), MessageVersion: string(v), ErrorCode: code, ErrorComponent: "A",
		ErrorDescription: errorDescriptions[code], ErrorDetail: clipDetail(detail), ErrorMessageType: string(about)}
}

// olderCodes maps the codes 2.3.1 added to the closest code of the versions without them (Req 217:
// where no code fits, the closest one is used): a reserved value is a format error there, and a message
// the transaction's state does not allow is transaction data that is not valid.
var olderCodes = map[string]string{ErrReservedValue: ErrFormat, ErrTransactionStatus: ErrTransactionData}

// codeFor returns code, or its closest equivalent where version v's Erro table has no such code.
func codeFor(code string, v Version) string {
	t, ok := tableOf(TypeErro, v)
	if !ok {
		return code
	}
	if i := indexOf(t.Elements, "errorCode"); i >= 0 && t.Elements[i].Values != nil && t.Elements[i].Values.classify(code) != valueOK {
		if alt, ok := olderCodes[code]; ok {
			return alt
		}
	}
	return code
}

// Echo copies the transaction ids of the message the Erro is about, exactly as they were received.
func (e *Erro) Echo(m *Message) *Erro {
	if m == nil {
		return e
	}
	e.ThreeDSServerTransID = validID(m.Str("threeDSServerTransID"))
	e.ACSTransID = validID(m.Str("acsTransID"))
	e.DSTransID = validID(m.Str("dsTransID"))
	e.SDKTransID = validID(m.Str("sdkTransID"))
	return e
}

// validID echoes an id only when it is a well-formed one: an Erro must itself be a valid message.
func validID(s string) string {
	if checkUUID(s) {
		return s
	}
	return ""
}

// errorDetail is at most 2048 characters (Annex A, errorDetail).
func clipDetail(s string) string {
	if r := []rune(s); len(r) > 2048 {
		return string(r[:2048])
	}
	return s
}

// Supported reports whether v is a version with tables.
func Supported(v string) bool {
	for _, s := range Versions {
		if string(s) == v {
			return true
		}
	}
	return false
}

// versionList is errorDetail of Erro 102: the supported versions, comma-separated.
func versionList() string {
	s := make([]string, len(Versions))
	for i, v := range Versions {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

// joinNames lists element names for errorDetail in table order, without repeats.
func joinNames(names []string) string {
	seen := map[string]bool{}
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}
