// Package emv owns the EMV 3-D Secure wire format and nothing else: the message types, one element table
// per message and protocol version (2.1.0, 2.2.0, 2.3.1) taken from Annex A of the EMV 3DS Core
// Specification, reading and writing messages through those tables, and the Erro codes of Annex A.9.
// It knows no database, no HTTP framework and no ACS decision: the acs package decides, this package
// says what a message may and must contain.
//
// A version's rules live in its tables (tables_*.go) and nowhere else. Each row names the Annex A data
// element, its JSON type, its length in characters (one UTF-8 character each, Annex A introduction),
// its format and accepted values with the EMVCo- and DS-reserved ranges, and its inclusion per device
// channel and message category (required, conditional with the condition, optional), so that a
// newcomer can put the table next to the specification and check it line by line.
package emv

// Version is a protocol version this package reads and writes.
type Version string

// The versions with element tables.
const (
	V210 Version = "2.1.0"
	V220 Version = "2.2.0"
	V231 Version = "2.3.1"
)

// Versions lists the supported versions in ascending order (Erro 102 names them).
var Versions = []Version{V210, V220, V231}

// MessageType is the value of messageType.
type MessageType string

// The message types of the ACS's interfaces (Annex A.5, Table A.1 messageType).
const (
	TypeAReq MessageType = "AReq"
	TypeARes MessageType = "ARes"
	TypeCReq MessageType = "CReq"
	TypeCRes MessageType = "CRes"
	TypeRReq MessageType = "RReq"
	TypeRRes MessageType = "RRes"
	TypeErro MessageType = "Erro"
	TypeOReq MessageType = "OReq" // 2.3.1 only: 3DS Requestor-initiated message (not supported by this ACS)
	TypeORes MessageType = "ORes"
)

// Channel is a set of device channels (deviceChannel values), as Annex A's "Device Channel" column lists
// them.
type Channel uint8

// The device channels.
const (
	APP        Channel = 1 << iota // 01: app-based, through a 3DS SDK
	BRW                            // 02: browser-based
	RI3                            // 03: 3DS Requestor Initiated (3RI), no cardholder present
	AnyChannel = APP | BRW | RI3
)

// ChannelOf maps a deviceChannel value to its Channel (0 if unknown).
func ChannelOf(deviceChannel string) Channel {
	switch deviceChannel {
	case "01":
		return APP
	case "02":
		return BRW
	case "03":
		return RI3
	}
	return 0
}

// Category is a set of message categories (messageCategory values).
type Category uint8

// The message categories.
const (
	PA          Category = 1 << iota // 01: payment authentication
	NPA                              // 02: non-payment authentication
	AnyCategory = PA | NPA
)

// CategoryOf maps a messageCategory value to its Category (0 if unknown or reserved).
func CategoryOf(messageCategory string) Category {
	switch messageCategory {
	case "01":
		return PA
	case "02":
		return NPA
	}
	return 0
}

// Type is the JSON data type of an element.
type Type uint8

// JSON data types of Annex A ("JSON Data Type").
const (
	String      Type = iota // JSON string
	StringArray             // JSON array of strings; Min/Max count elements, Item gives each string's rules
	Object                  // JSON object; Max counts the characters of its JSON text
	ObjectArray             // JSON array of objects; Min/Max count elements
	Boolean                 // JSON true or false
)

// Format is the edit criterion of a string's content beyond its length.
type Format uint8

// String formats used by the tables.
const (
	Any          Format = iota // any characters
	Numeric                    // digits only
	UUID                       // canonical RFC 4122 form: 36 characters, lower or upper case hex with hyphens
	URL                        // fully qualified http(s) URL
	DateTime                   // YYYYMMDDHHMMSS (UTC)
	Date                       // YYYYMMDD
	YYMM                       // card expiry: YYMM
	CountryCode                // ISO 3166-1 numeric, 3 digits
	CurrencyCode               // ISO 4217 numeric, 3 digits, a code of the ISO table (else Erro 304)
	Email                      // an e-mail address (RFC 5322 addr-spec, checked loosely)
	Base64URL                  // base64url characters (A-Z a-z 0-9 - _), padding tolerated
	Base64                     // standard base64
	Alphanumeric               // letters and digits
	IPAddress                  // an IPv4 or IPv6 address
	Language                   // an IETF BCP 47 language tag
)

// Inclusion is an element's inclusion in a message (Annex A "Message Inclusion").
type Inclusion uint8

// Inclusion values.
const (
	Absent      Inclusion = iota // not part of this message (in this version, channel, category)
	Required                     // R: present and not empty
	Conditional                  // C: required when Need holds; absent otherwise where Only says so
	Optional                     // O: validated when present
)

// Cond is a condition on the message being read or written: it sees the elements already decoded.
type Cond func(m *Message) bool

// Enum lists accepted values and the reserved ranges of an enumerated element, written as in Annex A:
// comma-separated values and ranges, e.g. OK "01-10", EMVCo "11-79", DS "80-99". A value in the EMVCo
// range is reserved for future use and invalid until defined; a value in the DS range is the DS's to
// define and is accepted.
type Enum struct {
	OK    string
	EMVCo string
	DS    string
}

// Element is one row of an element table: a data element as one message of one version has it.
type Element struct {
	Name   string
	Type   Type
	Min    int // minimum length in characters (String) or items (arrays); 0: none
	Max    int // maximum length in characters (String, Object) or items (arrays); 0: none
	Format Format
	Values *Enum
	// Item describes each string of a StringArray (length, format, values).
	Item *Element
	// Sub, for an Object or the objects of an ObjectArray, lists the elements inside it that this
	// package validates; nil: only the JSON type and length are checked.
	Sub []Element
	// Ch and Cat restrict the element to device channels and message categories; zero means all.
	Ch  Channel
	Cat Category
	Inc Inclusion
	// Need, for a Conditional element, says when it is required; nil: never required (present only
	// where the sender judges it applies, validated like an optional one).
	Need Cond
	// Only says when the element may be present at all; present when it returns false is Erro 203. nil:
	// whenever its channel and category apply.
	Only Cond
	// Ref is where in the specification the row comes from, e.g. "A.4 Table A.1".
	Ref string
	// Lines: the value may hold line breaks (\n), which the SDK shows as a new line; no other control
	// character (2.3.1 Req 370, Req 445: challengeInfoText, expandInfoText, whyInfoText).
	Lines bool
}

// Table is the element table of one message in one version.
type Table struct {
	Type     MessageType
	Version  Version
	Elements []Element
	// Source names the specification text the table was taken from.
	Source string
}

// An edit changes a table when a version is derived from another (derive).
type edit func([]Element) []Element

// derive copies base and applies edits, so that a version's table reads as "the other version, with
// these differences", each difference next to the specification reference that makes it.
func derive(base []Element, edits ...edit) []Element {
	out := append([]Element(nil), base...)
	for _, e := range edits {
		out = e(out)
	}
	return out
}

// drop removes the named elements; naming one that is not there is a programming error.
func drop(names ...string) edit {
	return func(es []Element) []Element {
		for _, n := range names {
			i := indexOf(es, n)
			if i < 0 {
				panic("emv: drop of unknown element " + n)
			}
			es = append(es[:i], es[i+1:]...)
		}
		return es
	}
}

// replace puts e in place of the element of the same name.
func replace(rows ...Element) edit {
	return func(es []Element) []Element {
		for _, e := range rows {
			i := indexOf(es, e.Name)
			if i < 0 {
				panic("emv: replace of unknown element " + e.Name)
			}
			es[i] = e
		}
		return es
	}
}

// add appends elements that the base does not have.
func add(rows ...Element) edit {
	return func(es []Element) []Element {
		for _, e := range rows {
			if indexOf(es, e.Name) >= 0 {
				panic("emv: add of existing element " + e.Name)
			}
			es = append(es, e)
		}
		return es
	}
}

func indexOf(es []Element, name string) int {
	for i := range es {
		if es[i].Name == name {
			return i
		}
	}
	return -1
}
