package emv

// Element tables of the ARes, CReq, CRes, RReq, RRes and Erro messages.
//
// The 2.3.1 rows are read from the EMV 3DS Core Specification v2.3.1, Annex A.4 Table A.1 (the
// "Message Inclusion" column), cross-checked against the per-message lists of Annex B (Tables B.2 to
// B.5, B.8, B.9, B.12). Page numbers in Ref are those of the 2.3.1 PDF.
//
// The 2.2.0 and 2.1.0 tables are derived from 2.3.1 with drop/replace/add edits. No 2.2.0 or 2.1.0
// specification text was available while writing them: each difference comes from what is known of
// those versions, checked where possible against public models of them (the Clearhaus 3DSv2 API
// documentation for ARes, RReq, CRes and Erro, the Stripe 3DS2 SDK for CReq and CRes). A row marked
// "unverified for 2.x.0" keeps the 2.3.1 rule because nothing better was at hand.
//
// Notes on how the decoder (decode.go) reads these rows, which shaped some choices:
//   - a row whose Ch or Cat does not match the transaction is skipped, so an element sent on another
//     channel is ignored rather than rejected;
//   - the conditions of rows inside an object (Sub) are evaluated against the top-level message, so
//     sub-element conditions that name sibling members are left out (Need nil) and described in a
//     comment instead.
//
// Helpers and unexported names of this file start with "ot" so that they cannot collide with those of
// the AReq tables written alongside.

// ---------------------------------------------------------------------------------------------------
// Enumerations the ACS needs.

// Transaction Status Reason (transStatusReason) values per version. 2.3.1: Table A.1 p.289-291.
// 2.2.0 stops at 26 and 2.1.0 at 21 (both per the Clearhaus models of those versions).
var (
	transStatusReason231 = Enum{OK: "01-30", EMVCo: "31-79", DS: "80-99"}
	transStatusReason220 = Enum{OK: "01-26", EMVCo: "27-79", DS: "80-99"}
	transStatusReason210 = Enum{OK: "01-21", EMVCo: "22-79", DS: "80-99"}
)

// Challenge Cancelation Indicator (challengeCancel) values per version. 2.3.1: Table A.1 p.232-233
// (02 is reserved, 09 and 10 are new). 2.2.0: 02 reserved, 03 is the decoupled timeout, up to 08.
// 2.1.0: 01-08 (02 and 03 had requestor-side meanings there); the reserved ranges of 2.2.0 and
// 2.1.0 are unverified.
var (
	challengeCancel231 = Enum{OK: "01,03-10", EMVCo: "02,11-79", DS: "80-99"}
	challengeCancel220 = Enum{OK: "01,03-08", EMVCo: "02,09-79", DS: "80-99"}
	challengeCancel210 = Enum{OK: "01-08", EMVCo: "09-79", DS: "80-99"}
)

// Error Code (errorCode) values per version: 2.3.1 Annex A.9 Table A.4 p.304-308; 2.2.0 and 2.1.0
// per the Clearhaus 2.2.0 Erro model (no 205-207, no 308-315).
var (
	otErrorCodes231 = Enum{OK: "101-103,201-207,301-315,402-405"}
	otErrorCodes220 = Enum{OK: "101-103,201-204,301-307,402-405"}
)

// ---------------------------------------------------------------------------------------------------
// Helpers.

// otEnum builds the Values of a row.
func otEnum(ok, emvco, ds string) *Enum { return &Enum{OK: ok, EMVCo: emvco, DS: ds} }

// otYN is the Y/N enumeration used by many indicators.
func otYN() *Enum { return &Enum{OK: "Y,N"} }

// otStatus holds when transStatus has one of the values.
func otStatus(v ...string) Cond { return Eq("transStatus", v...) }

// otUI holds when the CRes's acsUiType is one of the values (Table A.20 columns).
func otUI(v ...string) Cond { return Eq("acsUiType", v...) }

// otNotUI holds unless the CRes's acsUiType is one of the values: used for Table A.20's "N" cells.
func otNotUI(v ...string) Cond { return Not(Eq("acsUiType", v...)) }

// otFinalCRes holds for the final CRes: every browser CRes, and an app CRes that completes the
// challenge.
var otFinalCRes = Or(OnChannel(BRW), Eq("challengeCompletionInd", "Y"))

// otID is a 36-character RFC 4122 transaction identifier.
func otID(name string, inc Inclusion, ch Channel, ref string) Element {
	return Element{Name: name, Type: String, Min: 36, Max: 36, Format: UUID, Ch: ch, Inc: inc, Ref: ref}
}

// otMessageType is the messageType row, which must name the table's own type.
func otMessageType(t MessageType) Element {
	return Element{Name: "messageType", Type: String, Min: 4, Max: 4, Values: &Enum{OK: string(t)},
		Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.259"}
}

// otMessageVersion is the messageVersion row (major.minor.patch).
func otMessageVersion() Element {
	return Element{Name: "messageVersion", Type: String, Min: 5, Max: 8, Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.260"}
}

// otMessageExtensionSub is the content of each messageExtension object (2.3.1 A.12.1 Table A.9 p.321;
// same in 2.2.0 and 2.1.0).
var otMessageExtensionSub = []Element{
	{Name: "name", Type: String, Max: 64, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
	{Name: "id", Type: String, Max: 64, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
	{Name: "criticalityIndicator", Type: Boolean, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
	{Name: "data", Type: Object, Max: 8059, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
}

// otMessageExtension is the messageExtension row: 1-15 objects in 2.3.1, at most 10 before. Its
// presence is the DS's to rule on (Need nil).
func otMessageExtension(max int, ref string) Element {
	return Element{Name: "messageExtension", Type: ObjectArray, Min: 1, Max: max, Sub: otMessageExtensionSub,
		Inc: Conditional, Ref: ref}
}

const otRefExt231 = "2.3.1 A.4 Table A.1 p.258"

// otMessageExtension220 replaces messageExtension in 2.2.0 and 2.1.0 tables: at most 10 extensions.
var otMessageExtension220 = otMessageExtension(10, "2.2.0 Table A.1 (max 10 extensions, per the Clearhaus 2.1.0/2.2.0 models)")

// ---------------------------------------------------------------------------------------------------
// Objects shared by several messages.

// ACS Rendering Type (acsRenderingType), 2.3.1 A.13.5 Table A.14 p.336-337. Template 05 and 06 are
// only valid with interface 02 (HTML); that pairing is not checked here.
var otRenderingTypeSub231 = []Element{
	{Name: "acsInterface", Type: String, Min: 2, Max: 2, Values: otEnum("01-02", "", ""), Inc: Required,
		Ref: "2.3.1 A.13.5 Table A.14 p.336"},
	{Name: "acsUiTemplate", Type: String, Min: 2, Max: 2, Values: otEnum("01-07", "", ""), Inc: Required,
		Ref: "2.3.1 A.13.5 Table A.14 p.337"},
	{Name: "deviceUserInterfaceMode", Type: String, Min: 2, Max: 2, Format: Numeric,
		Values: otEnum("01-04", "", ""), Inc: Required, Ref: "2.3.1 A.13.5 Table A.14 p.337"},
}

// 2.2.0: no deviceUserInterfaceMode; templates 01-06 (06 = HTML OOB; unverified for 2.2.0).
var otRenderingTypeSub220 = []Element{
	otRenderingTypeSub231[0],
	{Name: "acsUiTemplate", Type: String, Min: 2, Max: 2, Values: otEnum("01-06", "", ""), Inc: Required,
		Ref: "2.2.0 Table A.14 (06 HTML OOB; unverified)"},
}

// 2.1.0: templates 01-05 (per the Clearhaus model of Table A.14).
var otRenderingTypeSub210 = []Element{
	otRenderingTypeSub231[0],
	{Name: "acsUiTemplate", Type: String, Min: 2, Max: 2, Values: otEnum("01-05", "", ""), Inc: Required,
		Ref: "2.1.0 Table A.14 (per the Clearhaus model)"},
}

// Cardholder Information Text (cardholderInfo) in 2.3.1 is an object (Table A.1 p.225).
var otCardholderInfoSub231 = []Element{
	{Name: "text", Type: String, Min: 1, Max: 128, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.225"},
	{Name: "issuerImage", Type: String, Max: 256, Format: URL, Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.225"},
	{Name: "paymentSystemImage", Type: String, Max: 256, Format: URL, Inc: Optional,
		Ref: "2.3.1 A.4 Table A.1 p.225"},
}

// Broadcast Information (broadInfo), 2.3.1 A.19 Table A.27 p.366-368.
var otBroadInfoSub231 = []Element{
	{Name: "category", Type: String, Min: 2, Max: 2, Values: otEnum("01-06", "07-79", "80-99"), Inc: Required,
		Ref: "2.3.1 A.19 Table A.27 p.366"},
	{Name: "description", Type: String, Max: 4000, Inc: Optional, Ref: "2.3.1 A.19 Table A.27 p.366"},
	{Name: "expDate", Type: String, Min: 8, Max: 8, Format: Date, Inc: Optional, Ref: "2.3.1 A.19 Table A.27 p.367"},
	{Name: "severity", Type: String, Min: 2, Max: 2, Values: otEnum("01-04", "", ""), Inc: Required,
		Ref: "2.3.1 A.19 Table A.27 p.367"},
	{Name: "recipients", Type: StringArray, Min: 1, Max: 3, Inc: Required, Ref: "2.3.1 A.19 Table A.27 p.367",
		Item: &Element{Min: 2, Max: 2, Values: otEnum("01-04", "", "")}},
	{Name: "source", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "", ""), Inc: Required,
		Ref: "2.3.1 A.19 Table A.27 p.368"},
}

// SPC Transaction Data (spcTransData), 2.3.1 A.21 Table A.28 p.371-375. payeeName and payeeOrigin
// are each required when the other is absent; issuerImageSpc, psImageSpc and challengeInfoText when
// the SPC API supports them: none of that can be read from inside the object, so those rows are
// Conditional without Need.
var otSpcTransDataSub231 = []Element{
	{Name: "additionalData", Type: Object, Max: 90000, Inc: Optional, Ref: "2.3.1 A.21 Table A.28 p.371"},
	{Name: "challenge", Type: String, Min: 43, Max: 100, Format: Base64URL, Inc: Required,
		Ref: "2.3.1 A.21 Table A.28 p.371"},
	{Name: "challengeInfoText", Type: String, Max: 350, Inc: Conditional, Ref: "2.3.1 A.21 Table A.28 p.371"},
	// Alphabetic ISO 4217 code: there is no alphabetic-only Format, so only the length is checked.
	{Name: "currency", Type: String, Min: 3, Max: 3, Inc: Required, Ref: "2.3.1 A.21 Table A.28 p.371"},
	{Name: "displayName", Type: String, Max: 40, Inc: Required, Ref: "2.3.1 A.21 Table A.28 p.372"},
	// A fully qualified URL or a data: URL, so no URL format.
	{Name: "icon", Type: String, Max: 4096, Inc: Required, Ref: "2.3.1 A.21 Table A.28 p.372"},
	{Name: "issuerImageSpc", Type: Object, Max: 90000, Inc: Conditional, Ref: "2.3.1 A.21 Table A.28 p.372"},
	{Name: "payeeName", Type: String, Max: 40, Inc: Conditional, Ref: "2.3.1 A.21 Table A.28 p.373"},
	{Name: "payeeOrigin", Type: String, Max: 2048, Format: URL, Inc: Conditional, Ref: "2.3.1 A.21 Table A.28 p.373"},
	{Name: "psImageSpc", Type: Object, Max: 90000, Inc: Conditional, Ref: "2.3.1 A.21 Table A.28 p.373"},
	// "Integer coded as a string in the range 60000-500000", written as one range per width.
	{Name: "timeout", Type: String, Min: 5, Max: 6, Format: Numeric, Values: otEnum("60000-99999,100000-500000", "", ""),
		Inc: Required, Ref: "2.3.1 A.21 Table A.28 p.374"},
	{Name: "value", Type: String, Max: 40, Inc: Required, Ref: "2.3.1 A.21 Table A.28 p.374"},
	{Name: "extInd", Type: String, Min: 1, Max: 1, Values: otEnum("Y", "", ""), Inc: Optional,
		Ref: "2.3.1 A.21 Table A.28 p.375"},
}

// WebAuthn Credential List (webAuthnCredList) objects, 2.3.1 Table A.1 p.295. The table does not
// mark the members' inclusion; both are taken as required.
var otWebAuthnCredSub231 = []Element{
	{Name: "rpID", Type: String, Max: 2048, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.295"},
	{Name: "credentialIds", Type: String, Min: 16, Max: 1000, Format: Base64URL, Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.295"},
}

// Issuer Image and Payment System Image (issuerImage, psImage), 2.3.1 A.14.1/A.14.2 Tables A.21 and
// A.22 p.356-357: default is mandatory when the object is present.
var otImageSub231 = []Element{
	{Name: "default", Type: String, Format: URL, Inc: Required, Ref: "2.3.1 A.14.1 Table A.21 p.356"},
	{Name: "dark", Type: String, Format: URL, Inc: Optional, Ref: "2.3.1 A.14.1 Table A.21 p.356"},
	{Name: "monochrome", Type: String, Format: URL, Inc: Optional, Ref: "2.3.1 A.14.1 Table A.21 p.356"},
}

// Before 2.3.x the image objects held medium, high and extraHigh density URLs (per the Stripe SDK).
var otImageSub220 = []Element{
	{Name: "medium", Type: String, Format: URL, Inc: Optional, Ref: "2.2.0 Table A.1 (unverified)"},
	{Name: "high", Type: String, Format: URL, Inc: Optional, Ref: "2.2.0 Table A.1 (unverified)"},
	{Name: "extraHigh", Type: String, Format: URL, Inc: Optional, Ref: "2.2.0 Table A.1 (unverified)"},
}

// Challenge Text Box Settings (challengeEntryBox, challengeEntryBoxTwo), 2.3.1 A.18 Table A.26
// p.363-365. challengeDataEntryAutofillType is required when autofill is Y and challengeDataEntryToggle
// when masking is Y: sibling conditions, so not expressed (see the file comment).
var otEntryBoxSub231 = []Element{
	{Name: "challengeDataEntryKeyboardType", Type: String, Min: 2, Max: 2, Values: otEnum("01-02", "03-99", ""),
		Inc: Optional, Ref: "2.3.1 A.18 Table A.26 p.363"},
	{Name: "challengeDataEntryAutofill", Type: String, Min: 1, Max: 1, Values: otEnum("Y", "", ""),
		Inc: Optional, Ref: "2.3.1 A.18 Table A.26 p.363"},
	{Name: "challengeDataEntryAutofillType", Type: String, Min: 2, Max: 2, Values: otEnum("01-02", "03-99", ""),
		Inc: Conditional, Ref: "2.3.1 A.18 Table A.26 p.364"},
	{Name: "challengeDataEntryLengthMax", Type: String, Min: 2, Max: 2, Format: Numeric,
		Values: otEnum("01-45", "", ""), Inc: Optional, Ref: "2.3.1 A.18 Table A.26 p.364"},
	{Name: "challengeDataEntryLabel", Type: String, Max: 45, Inc: Required, Ref: "2.3.1 A.18 Table A.26 p.364"},
	{Name: "challengeDataEntryMasking", Type: String, Min: 1, Max: 1, Values: otYN(), Inc: Optional,
		Ref: "2.3.1 A.18 Table A.26 p.364"},
	{Name: "challengeDataEntryToggle", Type: String, Min: 1, Max: 1, Values: otYN(), Inc: Conditional,
		Ref: "2.3.1 A.18 Table A.26 p.365"},
}

// ---------------------------------------------------------------------------------------------------
// ARes (2.3.1 Annex B.2 Table B.2 lists 34 elements).
//
// ARes carries no deviceChannel or messageCategory: Channel and Category come from the AReq.

var aresElements231 = []Element{
	{Name: "threeDSRequestorAppURLInd", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP, Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.189"},
	otID("threeDSServerTransID", Required, 0, "2.3.1 A.4 Table A.1 p.196"),
	{Name: "acsChallengeMandated", Type: String, Min: 1, Max: 1, Values: otYN(), Inc: Conditional,
		Need: otStatus("C", "D"), Ref: "2.3.1 A.4 Table A.1 p.201"},
	// With transStatus D the value N is not valid, and Y needs a decoupled request in the AReq: both
	// left to the acs package.
	{Name: "acsDecConInd", Type: String, Min: 1, Max: 1, Values: otYN(), Inc: Conditional,
		Need: otStatus("D"), Ref: "2.3.1 A.4 Table A.1 p.201"},
	// Presence is DS-specific.
	{Name: "acsOperatorID", Type: String, Max: 32, Inc: Conditional, Ref: "2.3.1 A.4 Table A.1 p.202"},
	{Name: "acsReferenceNumber", Type: String, Max: 32, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.203"},
	{Name: "acsRenderingType", Type: Object, Sub: otRenderingTypeSub231, Ch: APP, Inc: Conditional,
		Need: otStatus("C"), Ref: "2.3.1 A.4 Table A.1 p.203"},
	// JWS compact serialisation carrying acsURL, acsEphemPubKey and sdkEphemPubKey (those three are not
	// top-level ARes elements for the app channel).
	{Name: "acsSignedContent", Type: String, Max: 16000, Ch: APP, Inc: Conditional, Need: otStatus("C"),
		Ref: "2.3.1 A.4 Table A.1 p.204"},
	otID("acsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.205"),
	// For the app channel acsURL travels inside acsSignedContent.
	{Name: "acsURL", Type: String, Max: 2048, Format: URL, Ch: BRW, Inc: Conditional, Need: otStatus("C"),
		Ref: "2.3.1 A.4 Table A.1 p.207"},
	// For 3RI only with decoupled authentication (Only). With SDK type 02 and a limited split-SDK, 01 and
	// 06 are not valid: left to the acs package.
	{Name: "authenticationMethod", Type: StringArray, Min: 1, Max: 99, Inc: Conditional, Need: otStatus("C", "D"),
		Only: Or(Not(OnChannel(RI3)), otStatus("D")), Ref: "2.3.1 A.4 Table A.1 p.208-209",
		Item: &Element{Min: 2, Max: 2, Values: otEnum("01-16", "17-79", "80-99")}},
	// Required for PA when Y or A; for I and for NPA the DS rules decide.
	{Name: "authenticationValue", Type: String, Max: 4000, Inc: Conditional,
		Need: And(OnCategory(PA), otStatus("Y", "A")), Ref: "2.3.1 A.4 Table A.1 p.210"},
	{Name: "broadInfo", Type: Object, Max: 4096, Sub: otBroadInfoSub231, Inc: Optional,
		Ref: "2.3.1 A.4 Table A.1 p.210"},
	{Name: "cardholderInfo", Type: Object, Sub: otCardholderInfoSub231, Inc: Conditional,
		Need: Eq("acsDecConInd", "Y"), Ref: "2.3.1 A.4 Table A.1 p.225"},
	{Name: "cardSecurityCodeStatusSource", Type: String, Min: 2, Max: 2, Values: otEnum("01-02", "03-79", "80-99"),
		Inc: Conditional, Need: Present("cardSecurityCodeStatus"), Ref: "2.3.1 A.4 Table A.1 p.218"},
	// Presence by DS rules.
	{Name: "cardSecurityCodeStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,U", "", ""),
		Inc: Conditional, Ref: "2.3.1 A.4 Table A.1 p.217"},
	{Name: "deviceBindingStatus", Type: String, Min: 2, Max: 2, Values: otEnum("01-05,11-15", "06-10,16-79", "80-99"),
		Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.245-246"},
	{Name: "deviceBindingStatusSource", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"),
		Inc: Conditional, Need: Present("deviceBindingStatus"), Ref: "2.3.1 A.4 Table A.1 p.246"},
	{Name: "deviceInfoRecognisedVersion", Type: String, Min: 3, Ch: APP, Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.248"},
	{Name: "dsReferenceNumber", Type: String, Max: 32, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.249"},
	otID("dsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.249"),
	// Presence is DS-specific.
	{Name: "eci", Type: String, Min: 2, Max: 2, Inc: Conditional, Ref: "2.3.1 A.4 Table A.1 p.250"},
	otMessageExtension(15, otRefExt231),
	otMessageType(TypeARes),
	otMessageVersion(),
	otID("sdkTransID", Required, APP, "2.3.1 A.4 Table A.1 p.282"),
	{Name: "spcTransData", Type: Object, Sub: otSpcTransDataSub231, Ch: BRW, Inc: Conditional,
		Need: otStatus("S"), Ref: "2.3.1 A.4 Table A.1 p.285"},
	{Name: "transChallengeExemption", Type: String, Min: 2, Max: 2,
		Values: otEnum("05,08,10,11,79", "01-04,06,07,09,12-78", "80-99"), Inc: Optional,
		Ref: "2.3.1 A.4 Table A.1 p.288"},
	// Required for PA (Table A.17 p.341-342 gives the values valid in the ARes); for NPA the DS rules
	// decide. C and S are not valid for 3RI, C not with challenge indicator 06: left to the acs package.
	{Name: "transStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,U,A,C,D,R,I,S", "", ""),
		Inc: Conditional, Need: OnCategory(PA), Ref: "2.3.1 A.4 Table A.1 p.288-289; A.13.8 Table A.17"},
	{Name: "transStatusReason", Type: String, Min: 2, Max: 2, Values: &transStatusReason231, Inc: Conditional,
		Need: And(OnCategory(PA), otStatus("N", "U", "R")), Ref: "2.3.1 A.4 Table A.1 p.289-291"},
	{Name: "transStatusReasonInfo", Type: String, Max: 256, Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.292"},
	{Name: "trustListStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,E,P,R,U", "", ""), Inc: Optional,
		Ref: "2.3.1 A.4 Table A.1 p.294"},
	{Name: "trustListStatusSource", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"),
		Inc: Conditional, Need: Present("trustListStatus"), Ref: "2.3.1 A.4 Table A.1 p.294"},
	{Name: "webAuthnCredList", Type: ObjectArray, Min: 1, Max: 10, Sub: otWebAuthnCredSub231, Ch: BRW,
		Inc: Conditional, Need: otStatus("S"), Ref: "2.3.1 A.4 Table A.1 p.295"},
}

// 2.2.0 authenticationType (one value, replaced by the authenticationMethod array in 2.3.x):
// 01 static, 02 dynamic, 03 OOB, 04 decoupled.
var otAuthenticationType220 = Element{Name: "authenticationType", Type: String, Min: 2, Max: 2,
	Values: otEnum("01-04", "05-79", "80-99"), Inc: Conditional, Need: otStatus("C", "D"),
	Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model; EMVCo range unverified)"}

// 2.2.0 whitelist elements, renamed trust list in 2.3.x.
var (
	otWhiteListStatus220 = Element{Name: "whiteListStatus", Type: String, Min: 1, Max: 1,
		Values: otEnum("Y,N,E,P,R,U", "", ""), Inc: Optional, Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"}
	otWhiteListStatusSource220 = Element{Name: "whiteListStatusSource", Type: String, Min: 2, Max: 2,
		Values: otEnum("01-03", "04-79", "80-99"), Inc: Conditional, Need: Present("whiteListStatus"),
		Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"}
)

// Before 2.3.x the Authentication Value was exactly 28 characters (a 20-byte value in base64).
var otAuthenticationValue220 = Element{Name: "authenticationValue", Type: String, Min: 28, Max: 28,
	Format: Base64, Inc: Conditional, Need: And(OnCategory(PA), otStatus("Y", "A")),
	Ref: "2.2.0/2.1.0 Table A.1 (28 characters, per the Clearhaus models)"}

var aresElements220 = derive(aresElements231,
	// Elements new in 2.3.x: OOB App URL support, device information version, card security code
	// status, device binding, SPC, WebAuthn, status reason text.
	drop("threeDSRequestorAppURLInd", "deviceInfoRecognisedVersion", "cardSecurityCodeStatus",
		"cardSecurityCodeStatusSource", "deviceBindingStatus", "deviceBindingStatusSource", "spcTransData",
		"webAuthnCredList", "transStatusReasonInfo"),
	// authenticationMethod (2.3.x array) was authenticationType (single value).
	drop("authenticationMethod"),
	add(otAuthenticationType220),
	// trustListStatus/trustListStatusSource were whiteListStatus/whiteListStatusSource.
	drop("trustListStatus", "trustListStatusSource"),
	add(otWhiteListStatus220, otWhiteListStatusSource220),
	replace(
		otAuthenticationValue220,
		// No deviceUserInterfaceMode before 2.3.x.
		Element{Name: "acsRenderingType", Type: Object, Sub: otRenderingTypeSub220, Ch: APP, Inc: Conditional,
			Need: otStatus("C"), Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		// Unstructured object before Table A.27 was defined in 2.3.x (unverified for 2.2.0).
		Element{Name: "broadInfo", Type: Object, Max: 4096, Inc: Optional, Ref: "2.2.0 Table A.1 (unverified)"},
		// cardholderInfo was a string of at most 128 characters before 2.3.x.
		Element{Name: "cardholderInfo", Type: String, Max: 128, Inc: Conditional, Need: Eq("acsDecConInd", "Y"),
			Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		// No S (SPC) before 2.3.x.
		Element{Name: "transStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,U,A,C,D,R,I", "", ""),
			Inc: Conditional, Need: OnCategory(PA), Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		Element{Name: "transStatusReason", Type: String, Min: 2, Max: 2, Values: &transStatusReason220,
			Inc: Conditional, Need: And(OnCategory(PA), otStatus("N", "U", "R")),
			Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		// Kept as in 2.3.1: present from 2.2.0 on; its 2.2.0 values are unverified for 2.x.0.
		Element{Name: "transChallengeExemption", Type: String, Min: 2, Max: 2,
			Values: otEnum("05,08,10,11,79", "01-04,06,07,09,12-78", "80-99"), Inc: Optional,
			Ref: "2.2.0 Table A.1 (values as 2.3.1; unverified for 2.x.0)"},
		otMessageExtension220,
	),
)

var aresElements210 = derive(aresElements220,
	// Decoupled authentication, broadcast information, whitelisting and exemptions came with 2.2.0.
	drop("acsDecConInd", "broadInfo", "whiteListStatus", "whiteListStatusSource", "transChallengeExemption"),
	replace(
		// 2.1.0: only for C (no D), and not part of 3RI.
		Element{Name: "acsChallengeMandated", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP | BRW,
			Inc: Conditional, Need: otStatus("C"), Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		// 2.1.0: required when C; no 04 (decoupled).
		Element{Name: "authenticationType", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"),
			Inc: Conditional, Need: otStatus("C"), Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		Element{Name: "acsRenderingType", Type: Object, Sub: otRenderingTypeSub210, Ch: APP, Inc: Conditional,
			Need: otStatus("C"), Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		// 2.1.0: optional string for app and browser.
		Element{Name: "cardholderInfo", Type: String, Max: 128, Ch: APP | BRW, Inc: Optional,
			Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		// No D or I before 2.2.0.
		Element{Name: "transStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,U,A,C,R", "", ""),
			Inc: Conditional, Need: OnCategory(PA), Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		Element{Name: "transStatusReason", Type: String, Min: 2, Max: 2, Values: &transStatusReason210,
			Inc: Conditional, Need: And(OnCategory(PA), otStatus("N", "U", "R")),
			Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
	),
)

// ---------------------------------------------------------------------------------------------------
// CReq (2.3.1 Annex B.3 Table B.3 lists 22 elements).
//
// The browser CReq, posted by the 3DS Requestor through the browser, holds the transaction ids,
// messageType, messageVersion, challengeWindowSize and possibly messageExtension; every other element
// comes from the 3DS SDK (Ch APP). Most app-side conditions depend on the previous CRes (its UI type
// and what it displayed), which the message does not carry: those rows are Conditional without Need,
// and Table A.16's combinations are the acs package's to check.

var creqElements231 = []Element{
	{Name: "threeDSRequestorAppURL", Type: String, Max: 2048, Format: URL, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.189"},
	otID("threeDSServerTransID", Required, 0, "2.3.1 A.4 Table A.1 p.196"),
	otID("acsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.205"),
	{Name: "challengeAddCode", Type: String, Min: 1, Max: 1, Values: otEnum("Y", "", ""), Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.231"},
	{Name: "challengeCancel", Type: String, Min: 2, Max: 2, Values: &challengeCancel231, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.232-233"},
	{Name: "challengeDataEntry", Type: String, Max: 45, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.233-234; A.13.7 Table A.16"},
	{Name: "challengeDataEntryTwo", Type: String, Max: 45, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.234-235"},
	{Name: "challengeHTMLDataEntry", Type: String, Max: 256, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.238"},
	{Name: "challengeNoEntry", Type: String, Min: 1, Max: 1, Values: otEnum("Y", "", ""), Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.240-241"},
	{Name: "challengeWindowSize", Type: String, Min: 2, Max: 2, Values: otEnum("01-05", "", ""), Ch: BRW,
		Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.242"},
	{Name: "deviceBindingDataEntry", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.244"},
	// Only true is valid when present: the decoder has no value list for booleans.
	{Name: "infoContinueIndicator", Type: Boolean, Ch: APP, Inc: Conditional, Ref: "2.3.1 A.4 Table A.1 p.254"},
	otMessageExtension(15, otRefExt231),
	otMessageType(TypeCReq),
	otMessageVersion(),
	{Name: "oobAppStatus", Type: String, Min: 2, Max: 2, Values: otEnum("01", "02-99", ""), Ch: APP,
		Inc: Conditional, Ref: "2.3.1 A.4 Table A.1 p.262"},
	{Name: "oobAppURLInd", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"), Ch: APP,
		Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.264"},
	{Name: "oobContinue", Type: String, Min: 2, Max: 2, Values: otEnum("01-02", "03-99", ""), Ch: APP,
		Inc: Conditional, Ref: "2.3.1 A.4 Table A.1 p.265"},
	{Name: "resendChallenge", Type: String, Min: 1, Max: 1, Values: otEnum("Y", "", ""), Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.278"},
	{Name: "sdkCounterStoA", Type: String, Min: 3, Max: 3, Format: Numeric, Values: otEnum("000-255", "", ""),
		Ch: APP, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.280"},
	otID("sdkTransID", Required, APP, "2.3.1 A.4 Table A.1 p.282"),
	{Name: "trustListDataEntry", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.293"},
}

var creqElements220 = derive(creqElements231,
	// New in 2.3.x: challenge additional choice, second entry box, device binding, information UI,
	// OOB App URL.
	drop("challengeAddCode", "challengeDataEntryTwo", "deviceBindingDataEntry", "infoContinueIndicator",
		"oobAppStatus", "oobAppURLInd"),
	// trustListDataEntry was whitelistingDataEntry.
	drop("trustListDataEntry"),
	add(Element{Name: "whitelistingDataEntry", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP,
		Inc: Conditional, Ref: "2.2.0 Table A.1 (name per the Stripe SDK)"}),
	replace(
		// oobContinue was a boolean (true only) before 2.3.x.
		Element{Name: "oobContinue", Type: Boolean, Ch: APP, Inc: Conditional,
			Ref: "2.2.0 Table A.1 (boolean, per the Stripe SDK)"},
		Element{Name: "challengeCancel", Type: String, Min: 2, Max: 2, Values: &challengeCancel220, Ch: APP,
			Inc: Conditional, Ref: "2.2.0 Table A.1 (values per the Clearhaus/Stripe models)"},
		otMessageExtension220,
	),
)

var creqElements210 = derive(creqElements220,
	// 3DS Requestor App URL, whitelisting and the empty-answer indicator came with 2.2.0
	// (challengeNoEntry unverified for 2.1.0).
	drop("threeDSRequestorAppURL", "whitelistingDataEntry", "challengeNoEntry"),
	replace(Element{Name: "challengeCancel", Type: String, Min: 2, Max: 2, Values: &challengeCancel210, Ch: APP,
		Inc: Conditional, Ref: "2.1.0 Table A.1 (values 01-08; ranges unverified)"}),
)

// ---------------------------------------------------------------------------------------------------
// CRes (2.3.1 Annex B.4 Table B.4 lists 33 elements, plus transStatus of the final CRes, Table B.5).
//
// Table A.1 gives challengeCompletionInd to the app channel only (01-APP), and the 2.3.1 browser CRes
// example of Annex A.8 has none; the browser CRes is always final. UI elements follow Table A.20
// (p.352-355): M cells become Need, N cells become Only.

var cresElements231 = []Element{
	otID("threeDSServerTransID", Required, 0, "2.3.1 A.4 Table A.1 p.196"),
	{Name: "acsCounterAtoS", Type: String, Min: 3, Max: 3, Format: Numeric, Values: otEnum("000-255", "", ""),
		Ch: APP, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.201"},
	otID("acsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.205"),
	{Name: "acsHTML", Type: String, Max: 300000, Format: Base64URL, Ch: APP, Inc: Conditional,
		Need: otUI("05", "06"), Ref: "2.3.1 A.4 Table A.1 p.202"},
	{Name: "acsUiType", Type: String, Min: 2, Max: 2, Values: otEnum("01-07", "08-79", "80-99"), Ch: APP,
		Inc: Conditional, Need: Not(Eq("challengeCompletionInd", "Y")), Ref: "2.3.1 A.4 Table A.1 p.206"},
	{Name: "challengeAddLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.231; A.14 Table A.20"},
	{Name: "challengeCompletionInd", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP, Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.233"},
	{Name: "challengeEntryBox", Type: Object, Sub: otEntryBoxSub231, Ch: APP, Inc: Conditional, Need: otUI("01"),
		Only: otNotUI("02", "03", "04", "07"), Ref: "2.3.1 A.4 Table A.1 p.236; A.14 Table A.20"},
	{Name: "challengeEntryBoxTwo", Type: Object, Sub: otEntryBoxSub231, Ch: APP, Inc: Conditional,
		Only: otNotUI("02", "03", "04", "07"), Ref: "2.3.1 A.4 Table A.1 p.237; A.14 Table A.20"},
	{Name: "challengeInfoHeader", Type: String, Max: 45, Ch: APP, Inc: Conditional,
		Need: otUI("01", "02", "03", "04", "07"), Ref: "2.3.1 A.4 Table A.1 p.238; A.14 Table A.20"},
	{Name: "challengeInfoLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional, Need: otUI("02", "03"),
		Only: otNotUI("01"), Ref: "2.3.1 A.4 Table A.1 p.238; A.14 Table A.20"},
	{Name: "challengeInfoText", Type: String, Max: 350, Ch: APP, Inc: Conditional, Lines: true,
		Need: otUI("01", "02", "03", "04", "07"), Ref: "2.3.1 A.4 Table A.1 p.239; A.14 Table A.20"},
	{Name: "challengeInfoTextIndicator", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.239; A.14 Table A.20"},
	// Objects of one key (at most 4 characters) and one value (at most 45): not expressible as Sub.
	{Name: "challengeSelectInfo", Type: ObjectArray, Min: 1, Max: 8, Ch: APP, Inc: Conditional,
		Need: otUI("02", "03"), Only: otNotUI("01", "04", "07"), Ref: "2.3.1 A.4 Table A.1 p.241; A.14 Table A.20"},
	{Name: "deviceBindingInfoText", Type: String, Max: 64, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.244; A.14 Table A.20"},
	{Name: "expandInfoLabel", Type: String, Max: 45, Ch: APP, Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.253"},
	{Name: "expandInfoText", Type: String, Max: 256, Ch: APP, Inc: Optional, Lines: true, Ref: "2.3.1 A.4 Table A.1 p.253"},
	{Name: "infoContinueLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional, Need: otUI("07"),
		Only: otNotUI("01", "02", "03", "04"), Ref: "2.3.1 A.4 Table A.1 p.254; A.14 Table A.20"},
	// Presence is Payment System-specific.
	{Name: "issuerImage", Type: Object, Max: 6144, Sub: otImageSub231, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.256; A.14.1 Table A.21"},
	otMessageExtension(15, otRefExt231),
	otMessageType(TypeCRes),
	otMessageVersion(),
	// Only for UI type 04, and only when the CReq had oobAppURLInd 01 and the ACS switches apps
	// automatically (those two are the acs package's to check).
	{Name: "oobAppLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional, Only: otUI("04"),
		Ref: "2.3.1 A.4 Table A.1 p.261"},
	{Name: "oobAppURL", Type: String, Max: 2048, Format: URL, Ch: APP, Inc: Conditional,
		Only: Or(And(otUI("04"), Present("oobAppLabel")), otUI("06")), Ref: "2.3.1 A.4 Table A.1 p.263"},
	{Name: "oobContinueLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional,
		Need: And(otUI("04"), Not(Present("oobAppLabel"))), Only: otNotUI("01", "02", "03", "07"),
		Ref: "2.3.1 A.4 Table A.1 p.265; A.14 Table A.20"},
	// Presence is Payment System-specific.
	{Name: "psImage", Type: Object, Max: 6144, Sub: otImageSub231, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.270; A.14.2 Table A.22"},
	{Name: "resendInformationLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional,
		Only: otNotUI("02", "03", "04", "07"), Ref: "2.3.1 A.4 Table A.1 p.278; A.14 Table A.20"},
	otID("sdkTransID", Required, APP, "2.3.1 A.4 Table A.1 p.282"),
	{Name: "submitAuthenticationLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional,
		Need: otUI("01", "02", "03"), Only: otNotUI("04", "07"), Ref: "2.3.1 A.4 Table A.1 p.287; A.14 Table A.20"},
	{Name: "togglePositionInd", Type: String, Min: 2, Max: 2, Values: otEnum("01", "02-99", ""), Ch: APP,
		Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.287"},
	// Final CRes only: required there for PA (DS-specific for NPA). Table A.17: the final CRes may only
	// carry Y, N or D (U, A, R, C, I, S end processing without an Erro).
	{Name: "transStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,D", "", ""), Inc: Conditional,
		Need: And(OnCategory(PA), otFinalCRes), Only: otFinalCRes,
		Ref: "2.3.1 A.4 Table A.1 p.288-289; A.13.8 Table A.17; B.5 Table B.5"},
	{Name: "trustListInfoText", Type: String, Max: 64, Ch: APP, Inc: Optional,
		Ref: "2.3.1 A.4 Table A.1 p.293; A.14 Table A.20"},
	{Name: "whyInfoLabel", Type: String, Max: 45, Ch: APP, Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.295"},
	{Name: "whyInfoText", Type: String, Max: 256, Ch: APP, Inc: Optional, Lines: true, Ref: "2.3.1 A.4 Table A.1 p.296"},
}

var cresElements220 = derive(cresElements231,
	// New in 2.3.x: additional choice, entry boxes, device binding, information UI, toggle position.
	drop("challengeAddLabel", "challengeEntryBox", "challengeEntryBoxTwo", "deviceBindingInfoText",
		"infoContinueLabel", "togglePositionInd"),
	// trustListInfoText was whitelistingInfoText.
	drop("trustListInfoText"),
	add(
		Element{Name: "whitelistingInfoText", Type: String, Max: 64, Ch: APP, Inc: Optional,
			Ref: "2.2.0 Table A.1 (name and length per the Stripe SDK)"},
		// Removed in 2.3.x: HTML to show when the app returns to the foreground in HTML OOB, and the
		// additional OOB text.
		Element{Name: "acsHTMLRefresh", Type: String, Max: 100000, Format: Base64URL, Ch: APP, Inc: Optional,
			Ref: "2.2.0 Table A.1 (per the Stripe SDK; length unverified)"},
		Element{Name: "challengeAddInfo", Type: String, Max: 256, Ch: APP, Inc: Optional,
			Ref: "2.2.0 Table A.1 (per the Stripe SDK; length unverified)"},
	),
	replace(
		Element{Name: "acsHTML", Type: String, Max: 100000, Format: Base64URL, Ch: APP, Inc: Conditional,
			Need: otUI("05", "06"), Ref: "2.2.0 Table A.1 (maximum unverified)"},
		// No 07 (Information) before 2.3.x.
		Element{Name: "acsUiType", Type: String, Min: 2, Max: 2, Values: otEnum("01-06", "07-79", "80-99"), Ch: APP,
			Inc: Conditional, Need: Not(Eq("challengeCompletionInd", "Y")),
			Ref: "2.2.0 Table A.1 (reserved ranges unverified)"},
		// Before the entry box carried its own label, the text template used challengeInfoLabel too.
		Element{Name: "challengeInfoLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional,
			Need: otUI("01", "02", "03"), Ref: "2.2.0 Table A.1 (per the Stripe SDK; unverified)"},
		Element{Name: "issuerImage", Type: Object, Sub: otImageSub220, Ch: APP, Inc: Conditional,
			Ref: "2.2.0 Table A.1 (medium/high/extraHigh, per the Stripe SDK)"},
		Element{Name: "psImage", Type: Object, Sub: otImageSub220, Ch: APP, Inc: Conditional,
			Ref: "2.2.0 Table A.1 (medium/high/extraHigh, per the Stripe SDK)"},
		// Before 2.3.x a deep link to the OOB app (not necessarily https), optional, with its label.
		Element{Name: "oobAppURL", Type: String, Max: 256, Ch: APP, Inc: Optional,
			Ref: "2.2.0 Table A.1 (optional deep link; length unverified)"},
		Element{Name: "oobAppLabel", Type: String, Max: 45, Ch: APP, Inc: Optional,
			Ref: "2.2.0 Table A.1 (optional; unverified)"},
		Element{Name: "oobContinueLabel", Type: String, Max: 45, Ch: APP, Inc: Conditional, Need: otUI("04"),
			Ref: "2.2.0 Table A.1 (required for UI type 04)"},
		// Before 2.3.x the browser's final CRes carries challengeCompletionInd too (Table A.1 lists
		// 01-APP and 02-BRW for it, and the browser CRes example of Annex A.8 has "Y"); 2.3.1 gives it to
		// the app channel only.
		Element{Name: "challengeCompletionInd", Type: String, Min: 1, Max: 1, Values: otYN(), Ch: APP | BRW, Inc: Required,
			Ref: "2.2.0 Table A.1 (01-APP, 02-BRW; Annex A.8 browser CRes example)"},
		// The final CRes carries Y or N only before 2.3.x (no decoupled fallback).
		Element{Name: "transStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N", "", ""), Inc: Conditional,
			Need: And(OnCategory(PA), otFinalCRes), Only: otFinalCRes,
			Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		otMessageExtension220,
	),
)

var cresElements210 = derive(cresElements220,
	// Whitelisting and HTML OOB came with 2.2.0 (acsHTMLRefresh in 2.1.0 unverified).
	drop("whitelistingInfoText", "acsHTMLRefresh"),
	replace(
		Element{Name: "acsHTML", Type: String, Max: 100000, Format: Base64URL, Ch: APP, Inc: Conditional,
			Need: otUI("05"), Ref: "2.1.0 Table A.1 (maximum unverified)"},
		Element{Name: "acsUiType", Type: String, Min: 2, Max: 2, Values: otEnum("01-05", "06-79", "80-99"), Ch: APP,
			Inc: Conditional, Need: Not(Eq("challengeCompletionInd", "Y")),
			Ref: "2.1.0 Table A.1 (reserved ranges unverified)"},
	),
)

// ---------------------------------------------------------------------------------------------------
// RReq (2.3.1 Annex B.8 Table B.8 lists 23 elements). Sent by the ACS; Channel and Category come from
// the AReq (messageCategory is also an element of its own).

var rreqElements231 = []Element{
	otID("threeDSServerTransID", Required, 0, "2.3.1 A.4 Table A.1 p.196"),
	// Required unless acsDecConInd was Y in the ARes, which the RReq does not carry: Need nil.
	{Name: "acsRenderingType", Type: Object, Sub: otRenderingTypeSub231, Ch: APP, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.203"},
	otID("acsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.205"),
	// For 3RI only with decoupled authentication: in the RReq that cannot be read from transStatus.
	{Name: "authenticationMethod", Type: StringArray, Min: 1, Max: 99, Inc: Conditional, Need: otStatus("Y", "N"),
		Ref:  "2.3.1 A.4 Table A.1 p.208-209",
		Item: &Element{Min: 2, Max: 2, Values: otEnum("01-16", "17-79", "80-99")}},
	// Also to be omitted from an RReq sent as an abandonment notification: left to the acs package.
	{Name: "authenticationValue", Type: String, Max: 4000, Inc: Conditional,
		Need: And(OnCategory(PA), otStatus("Y", "A")), Ref: "2.3.1 A.4 Table A.1 p.210"},
	{Name: "cardholderInfo", Type: Object, Sub: otCardholderInfoSub231, Inc: Optional,
		Ref: "2.3.1 A.4 Table A.1 p.225"},
	// Required when the ACS finds the authentication cancelled; with transStatusReason 14 it must be 04
	// or 05, so it is certainly required then.
	{Name: "challengeCancel", Type: String, Min: 2, Max: 2, Values: &challengeCancel231, Inc: Conditional,
		Need: Eq("transStatusReason", "14"), Ref: "2.3.1 A.4 Table A.1 p.232-233"},
	// A copy of the Erro message of the challenge (Annex B.12 elements).
	{Name: "challengeErrorReporting", Type: Object, Sub: erroElements231, Ch: APP | BRW, Inc: Conditional,
		Need: Eq("challengeCancel", "09", "10"), Ref: "2.3.1 A.4 Table A.1 p.237"},
	{Name: "deviceBindingStatus", Type: String, Min: 2, Max: 2, Values: otEnum("01-05,11-15", "06-10,16-79", "80-99"),
		Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.245-246"},
	{Name: "deviceBindingStatusSource", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"),
		Inc: Conditional, Need: Present("deviceBindingStatus"), Ref: "2.3.1 A.4 Table A.1 p.246"},
	otID("dsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.249"),
	// Presence is DS-specific.
	{Name: "eci", Type: String, Min: 2, Max: 2, Inc: Conditional, Ref: "2.3.1 A.4 Table A.1 p.250"},
	// Required unless acsDecConInd was Y in the ARes (not readable here): Need nil.
	{Name: "interactionCounter", Type: String, Min: 2, Max: 2, Format: Numeric, Ch: APP | BRW, Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.256"},
	{Name: "messageCategory", Type: String, Min: 2, Max: 2, Values: otEnum("01-02", "03-79", "80-99"),
		Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.258"},
	otMessageExtension(15, otRefExt231),
	otMessageType(TypeRReq),
	otMessageVersion(),
	otID("sdkTransID", Required, APP, "2.3.1 A.4 Table A.1 p.282"),
	// Required for PA; Table A.17 allows Y, N, U, A, R and D (D only after a decoupled fallback request).
	{Name: "transStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,U,A,R,D", "", ""), Inc: Conditional,
		Need: OnCategory(PA), Ref: "2.3.1 A.4 Table A.1 p.288-289; A.13.8 Table A.17"},
	{Name: "transStatusReason", Type: String, Min: 2, Max: 2, Values: &transStatusReason231, Inc: Conditional,
		Need: And(OnCategory(PA), otStatus("N", "U", "R")), Ref: "2.3.1 A.4 Table A.1 p.289-291"},
	{Name: "transStatusReasonInfo", Type: String, Max: 256, Inc: Optional, Ref: "2.3.1 A.4 Table A.1 p.292"},
	{Name: "trustListStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,E,P,R,U", "", ""), Inc: Optional,
		Ref: "2.3.1 A.4 Table A.1 p.294"},
	{Name: "trustListStatusSource", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"),
		Inc: Conditional, Need: Present("trustListStatus"), Ref: "2.3.1 A.4 Table A.1 p.294"},
}

var rreqElements220 = derive(rreqElements231,
	// New in 2.3.x in the RReq: cardholder text, error reporting, device binding, status reason text.
	drop("cardholderInfo", "challengeErrorReporting", "deviceBindingStatus", "deviceBindingStatusSource",
		"transStatusReasonInfo"),
	// authenticationMethod (2.3.x) was authenticationType, required in the RReq when Y or N.
	drop("authenticationMethod"),
	add(Element{Name: "authenticationType", Type: String, Min: 2, Max: 2, Values: otEnum("01-04", "05-79", "80-99"),
		Inc: Conditional, Need: otStatus("Y", "N"), Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"}),
	// trustList* were whiteList*.
	drop("trustListStatus", "trustListStatusSource"),
	add(otWhiteListStatus220, otWhiteListStatusSource220),
	replace(
		Element{Name: "acsRenderingType", Type: Object, Sub: otRenderingTypeSub220, Ch: APP, Inc: Conditional,
			Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		otAuthenticationValue220,
		// 2.2.0 states no condition that can be read from the message.
		Element{Name: "challengeCancel", Type: String, Min: 2, Max: 2, Values: &challengeCancel220, Inc: Conditional,
			Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		// No D in the RReq before 2.3.x.
		Element{Name: "transStatus", Type: String, Min: 1, Max: 1, Values: otEnum("Y,N,U,A,R", "", ""),
			Inc: Conditional, Need: OnCategory(PA), Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		Element{Name: "transStatusReason", Type: String, Min: 2, Max: 2, Values: &transStatusReason220,
			Inc: Conditional, Need: And(OnCategory(PA), otStatus("N", "U", "R")),
			Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
		otMessageExtension220,
	),
)

var rreqElements210 = derive(rreqElements220,
	// Whitelisting came with 2.2.0.
	drop("whiteListStatus", "whiteListStatusSource"),
	replace(
		// 2.1.0: required for the app channel (no decoupled exception).
		Element{Name: "acsRenderingType", Type: Object, Sub: otRenderingTypeSub210, Ch: APP, Inc: Required,
			Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		Element{Name: "authenticationType", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"),
			Inc: Conditional, Need: otStatus("Y", "N"), Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		Element{Name: "challengeCancel", Type: String, Min: 2, Max: 2, Values: &challengeCancel210, Ch: APP | BRW,
			Inc: Conditional, Ref: "2.1.0 Table A.1 (app and browser, per the Clearhaus 2.1.0 model)"},
		// 2.1.0: required for app and browser.
		Element{Name: "interactionCounter", Type: String, Min: 2, Max: 2, Format: Numeric, Ch: APP | BRW,
			Inc: Required, Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
		// The Clearhaus 2.1.0 RReq model has no sdkTransID: accepted, not required (unverified).
		otID("sdkTransID", Optional, APP, "2.1.0 Table A.1 (unverified)"),
		Element{Name: "transStatusReason", Type: String, Min: 2, Max: 2, Values: &transStatusReason210,
			Inc: Conditional, Need: And(OnCategory(PA), otStatus("N", "U", "R")),
			Ref: "2.1.0 Table A.1 (per the Clearhaus 2.1.0 model)"},
	),
)

// ---------------------------------------------------------------------------------------------------
// RRes (2.3.1 Annex B.9 Table B.9 lists 8 elements).

var rresElements231 = []Element{
	otID("threeDSServerTransID", Required, 0, "2.3.1 A.4 Table A.1 p.196"),
	otID("acsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.205"),
	otID("dsTransID", Required, 0, "2.3.1 A.4 Table A.1 p.249"),
	otMessageExtension(15, otRefExt231),
	otMessageType(TypeRRes),
	otMessageVersion(),
	{Name: "resultsStatus", Type: String, Min: 2, Max: 2, Values: otEnum("01-04", "05-79", "80-99"), Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.279"},
	otID("sdkTransID", Required, APP, "2.3.1 A.4 Table A.1 p.282"),
}

var rresElements220 = derive(rresElements231,
	replace(
		// 04 (decoupled in a subsequent authentication) is new in 2.3.x.
		Element{Name: "resultsStatus", Type: String, Min: 2, Max: 2, Values: otEnum("01-03", "04-79", "80-99"),
			Inc: Required, Ref: "2.2.0 Table A.1 (unverified)"},
		otMessageExtension220,
	),
)

var rresElements210 = derive(rresElements220,
	replace(
		// 03 (ARes not delivered) is new in 2.2.0.
		Element{Name: "resultsStatus", Type: String, Min: 2, Max: 2, Values: otEnum("01-02", "03-79", "80-99"),
			Inc: Required, Ref: "2.1.0 Table A.1 (unverified)"},
		// As in the RReq: accepted, not required (unverified).
		otID("sdkTransID", Optional, APP, "2.1.0 Table A.1 (unverified)"),
	),
)

// ---------------------------------------------------------------------------------------------------
// Erro (2.3.1 Annex B.12 Table B.12 lists 11 elements). The transaction ids are required when known
// (from the message in error or being generated), which the table cannot tell: Conditional, Need nil.
// sdkTransID is an app-channel element, but an Erro may be read before its channel is known, so the
// row has no channel restriction.

var erroElements231 = []Element{
	otID("threeDSServerTransID", Conditional, 0, "2.3.1 A.4 Table A.1 p.196"),
	otID("acsTransID", Conditional, 0, "2.3.1 A.4 Table A.1 p.205"),
	otID("dsTransID", Conditional, 0, "2.3.1 A.4 Table A.1 p.249"),
	{Name: "errorCode", Type: String, Min: 3, Max: 3, Format: Numeric, Values: &otErrorCodes231, Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.250; A.9 Table A.4 p.304-308"},
	{Name: "errorComponent", Type: String, Min: 1, Max: 1, Values: otEnum("C,S,D,A", "", ""), Inc: Required,
		Ref: "2.3.1 A.4 Table A.1 p.251"},
	{Name: "errorDescription", Type: String, Max: 2048, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.251"},
	{Name: "errorDetail", Type: String, Max: 2048, Inc: Required, Ref: "2.3.1 A.4 Table A.1 p.251"},
	// Present when the erroneous message's type could be recognised.
	{Name: "errorMessageType", Type: String, Min: 4, Max: 4,
		Values: otEnum("AReq,ARes,CReq,CRes,OReq,ORes,PReq,PRes,RReq,RRes,Erro", "", ""), Inc: Conditional,
		Ref: "2.3.1 A.4 Table A.1 p.251, p.259"},
	otMessageType(TypeErro),
	otMessageVersion(),
	otID("sdkTransID", Conditional, 0, "2.3.1 A.4 Table A.1 p.282"),
}

var erroElements220 = derive(erroElements231,
	replace(
		// No 205-207 and no 308-315 before 2.3.x.
		Element{Name: "errorCode", Type: String, Min: 3, Max: 3, Format: Numeric, Values: &otErrorCodes220,
			Inc: Required, Ref: "2.2.0 Table A.4 (per the Clearhaus 2.2.0 model)"},
		// No OReq/ORes before 2.3.x.
		Element{Name: "errorMessageType", Type: String, Min: 4, Max: 4,
			Values: otEnum("AReq,ARes,CReq,CRes,PReq,PRes,RReq,RRes,Erro", "", ""), Inc: Conditional,
			Ref: "2.2.0 Table A.1 (per the Clearhaus 2.2.0 model)"},
	),
)

// 2.1.0: the same elements and codes as 2.2.0 (unverified for 2.1.0).
var erroElements210 = derive(erroElements220)

// ---------------------------------------------------------------------------------------------------
// Tables.

const (
	otSource231 = "EMV 3DS 2.3.1 Annex A.4 Table A.1"
	otSource220 = "EMV 3DS 2.2.0 Annex A Table A.1 (derived from 2.3.1; see tables_other.go)"
	otSource210 = "EMV 3DS 2.1.0 Annex A Table A.1 (derived from 2.2.0; see tables_other.go)"
)

// byVersion makes a message's tables from its three element lists.
func byVersion(t MessageType, e231, e220, e210 []Element) map[Version]Table {
	return map[Version]Table{
		V231: {Type: t, Version: V231, Elements: e231, Source: otSource231},
		V220: {Type: t, Version: V220, Elements: e220, Source: otSource220},
		V210: {Type: t, Version: V210, Elements: e210, Source: otSource210},
	}
}

// The element tables by version of the messages other than the AReq.
var (
	AResTables = byVersion(TypeARes, aresElements231, aresElements220, aresElements210)
	CReqTables = byVersion(TypeCReq, creqElements231, creqElements220, creqElements210)
	CResTables = byVersion(TypeCRes, cresElements231, cresElements220, cresElements210)
	RReqTables = byVersion(TypeRReq, rreqElements231, rreqElements220, rreqElements210)
	RResTables = byVersion(TypeRRes, rresElements231, rresElements220, rresElements210)
	ErroTables = byVersion(TypeErro, erroElements231, erroElements220, erroElements210)
)
