package emv

// AReq element tables, protocol versions 2.3.1, 2.2.0 and 2.1.0.
//
// 2.3.1 is taken row by row from Annex A of the EMV 3DS Core Specification v2.3.1: every row of
// Table A.1 (section A.4) whose Message Inclusion names the AReq, in the order of that table, with the
// PDF page of the row; the objects' members come from the later Annex A tables named in each Ref.
// Two Table A.1 rows sit inside other elements and are not rows here: sdkSignatureTimestamp and
// splitSdkServerID travel inside the JWS of sdkServerSignedContent.
//
// 2.2.0 and 2.1.0 are derived from 2.3.1 (and 2.1.0 from 2.2.0) by the edits listed with them. Their
// specification text is not in this tree: the edits come from what is known of those versions,
// checked against public per-version AReq models (in particular the per-version AReq references of the
// open-source 3dsecure.io / Clearhaus API documentation, which list lengths, values, channels and
// conditions for 2.1.0 and 2.2.0). A row a version keeps unchanged keeps its 2.3.1 Ref: it is that
// row. Rows the older versions change carry a Ref naming their version without a page. Edits marked
// "unverified" rest on recollection only.
//
// Conventions used throughout, per Annex A.2 (only the listed validations are performed):
//   - Format is set only where the Length/Format/Values column states it (numeric, UUID, URL, date,
//     ISO codes, e-mail, IP address); lengths alone leave Format Any.
//   - "Required (if available)", "unless market or regional mandate restricts", "DS-specific" and
//     similar conditions cannot be seen in a message: those rows are Conditional with a nil Need.
//   - Number ranges with optional leading zeros are written as one range per width, because an Enum
//     range matches values of its own width only (e.g. "2-9,02-99,002-999" for "greater than 1",
//     at most 3 characters).

import "encoding/json"

const (
	areqRef231 = "2.3.1 A.4 Table A.1 "
	areqRef220 = "2.2.0 A.4 Table A.1 (derived, see tables_areq.go)"
	areqRef210 = "2.1.0 A.4 Table A.1 (derived, see tables_areq.go)"
)

// areqViaDS is the Need of the elements the DS adds to the AReq before it passes the message on
// ("required between the DS and the ACS, not present from the 3DS Server to the DS"; "the DS will
// populate ... prior to passing to the ACS"). The ACS receives the AReq from the DS only, so for the
// reader of this package they are required on every AReq.
func areqViaDS(*Message) bool { return true }

// areqSubEq holds when the object element obj is present and its string member field has one of the
// values. The helpers of message.go look at top-level elements; a few 2.3.1 conditions look inside an
// object ("Recurring Indicator/Amount Indicator = 01").
func areqSubEq(obj, field string, values ...string) Cond {
	return func(m *Message) bool {
		var o map[string]json.RawMessage
		if json.Unmarshal(m.Raw(obj), &o) != nil {
			return false
		}
		var s string
		if json.Unmarshal(o[field], &s) != nil {
			return false
		}
		for _, v := range values {
			if s == v {
				return true
			}
		}
		return false
	}
}

// areqFrom returns a copy of the named row of base, with ref and change applied, for replace: the row
// of the newer version with just the difference edited, so that each edit reads as that difference.
func areqFrom(base []Element, name, ref string, change func(*Element)) Element {
	i := indexOf(base, name)
	if i < 0 {
		panic("emv: areqFrom of unknown element " + name)
	}
	e := base[i]
	e.Ref = ref
	change(&e)
	return e
}

// Conditions shared by several 2.3.1 rows.
var (
	// Purchase amount, currency, exponent and date: required for PA; for NPA when the authentication
	// or 3RI indicator says money is involved (p.271-272).
	areqPurchaseNeed231 = Or(
		OnCategory(PA),
		Eq("threeDSRequestorAuthenticationInd", "02", "03", "07", "08", "09"),
		Eq("threeRIInd", "01", "02", "06", "07", "08", "09", "11", "15"),
	)
	// Recurring or instalment authentication (p.274, p.277).
	areqRecurring231 = Or(
		Eq("threeDSRequestorAuthenticationInd", "02", "03"),
		Eq("threeRIInd", "01", "02"),
	)
	// Instalment authentication (p.255): purchaseInstalData is required then and omitted otherwise.
	areqInstalment = Or(
		Eq("threeDSRequestorAuthenticationInd", "03"),
		Eq("threeRIInd", "02"),
	)
)

// Members of the objects, from the Annex A tables named in their Refs.
var (
	// Cardholder phone numbers (homePhone, mobilePhone, workPhone; Table A.1 p.224). The row does not
	// say whether both members must be present: both are validated when present.
	areqPhoneSub = []Element{
		{Name: "cc", Type: String, Min: 1, Max: 3, Inc: Optional, Ref: areqRef231 + "p.224"},
		{Name: "subscriber", Type: String, Max: 15, Inc: Optional, Ref: areqRef231 + "p.224"},
	}

	// Message extension attributes (A.12.1 Table A.9 p.321). The whole array is also limited to 81920
	// characters (A.12 p.319); Max of an ObjectArray counts items, so that total is not in the row.
	areqExtensionSub = []Element{
		{Name: "criticalityIndicator", Type: Boolean, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
		{Name: "data", Type: Object, Max: 8059, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
		{Name: "id", Type: String, Max: 64, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
		{Name: "name", Type: String, Max: 64, Inc: Required, Ref: "2.3.1 A.12.1 Table A.9 p.321"},
	}

	// 3DS Requestor Authentication Information (A.13.3 Table A.12 p.331-333), all optional.
	// threeDSReqAuthData is left out: its JSON type is "String or Object" (max 50000), which a row
	// cannot say; members not listed are not checked. The timestamp is YYYYMMDDHHMM, for which there
	// is no Format: checked as 12 digits.
	areqAuthInfoSub231 = []Element{
		{Name: "threeDSReqAuthMethod", Type: String, Min: 2, Max: 2,
			Values: &Enum{OK: "01-10", EMVCo: "11-79", DS: "80-99"}, Inc: Optional, Ref: "2.3.1 A.13.3 Table A.12 p.331-333"},
		{Name: "threeDSReqAuthTimestamp", Type: String, Min: 12, Max: 12, Format: Numeric, Inc: Optional, Ref: "2.3.1 A.13.3 Table A.12 p.333"},
		{Name: "dsAuthInfVerifInd", Type: String, Min: 2, Max: 2,
			Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"}, Inc: Optional, Ref: "2.3.1 A.13.3 Table A.12 p.333"},
	}

	// 3DS Requestor Prior Transaction Authentication Information (A.13.4 Table A.13 p.334-336), all
	// optional. The two transaction references are described as a DS and an ACS Transaction ID but the
	// table lists only their length, so no UUID format is applied.
	areqPriorAuthSub231 = []Element{
		{Name: "threeDSReqPriorDsTransId", Type: String, Min: 36, Max: 36, Inc: Optional, Ref: "2.3.1 A.13.4 Table A.13 p.334"},
		{Name: "threeDSReqPriorAuthData", Type: String, Max: 20000, Inc: Optional, Ref: "2.3.1 A.13.4 Table A.13 p.334"},
		{Name: "threeDSReqPriorAuthMethod", Type: String, Min: 2, Max: 2,
			Values: &Enum{OK: "01-05", EMVCo: "06-79", DS: "80-99"}, Inc: Optional, Ref: "2.3.1 A.13.4 Table A.13 p.335"},
		{Name: "threeDSReqPriorAuthTimestamp", Type: String, Min: 12, Max: 12, Format: Numeric, Inc: Optional, Ref: "2.3.1 A.13.4 Table A.13 p.335"}, // YYYYMMDDHHMM
		{Name: "threeDSReqPriorRef", Type: String, Min: 36, Max: 36, Inc: Optional, Ref: "2.3.1 A.13.4 Table A.13 p.336"},
	}

	// Device Rendering Options Supported (A.13.6 Table A.15 p.338-339).
	areqRenderSub231 = []Element{
		{Name: "sdkAuthenticationType", Type: StringArray, Min: 1, Max: 99,
			Item: &Element{Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-11", EMVCo: "12-79", DS: "80-99"}},
			Inc:  Optional, Ref: "2.3.1 A.13.6 Table A.15 p.338"},
		{Name: "sdkInterface", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03"}, Inc: Required, Ref: "2.3.1 A.13.6 Table A.15 p.339"},
		{Name: "sdkUiType", Type: StringArray, Min: 1, Max: 7,
			Item: &Element{Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-07"}},
			Inc:  Required, Ref: "2.3.1 A.13.6 Table A.15 p.339"},
	}

	// Broadcast Information (A.19 Table A.27 p.366-368).
	areqBroadInfoSub = []Element{
		{Name: "category", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-06", EMVCo: "07-79", DS: "80-99"}, Inc: Required, Ref: "2.3.1 A.19 Table A.27 p.366"},
		{Name: "description", Type: String, Max: 4000, Inc: Optional, Ref: "2.3.1 A.19 Table A.27 p.366"},
		{Name: "expDate", Type: String, Min: 8, Max: 8, Format: Date, Inc: Optional, Ref: "2.3.1 A.19 Table A.27 p.367"},
		{Name: "severity", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-04"}, Inc: Required, Ref: "2.3.1 A.19 Table A.27 p.367"},
		{Name: "recipients", Type: StringArray, Max: 3,
			Item: &Element{Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-04"}},
			Inc:  Required, Ref: "2.3.1 A.19 Table A.27 p.367"},
		{Name: "source", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03"}, Inc: Required, Ref: "2.3.1 A.19 Table A.27 p.368"},
	}

	// EMV Payment Token Information (A.17 Table A.25 p.361-362), all optional.
	areqPayTokenInfoSub = []Element{
		{Name: "token", Type: String, Min: 13, Max: 19, Format: Numeric, Inc: Optional, Ref: "2.3.1 A.17 Table A.25 p.361"},
		{Name: "tokenAdditionalData", Type: Object, Max: 500, Inc: Optional, Ref: "2.3.1 A.17 Table A.25 p.361"},
		{Name: "tokenAssuranceMethod", Type: String, Min: 2, Max: 2, Inc: Optional, Ref: "2.3.1 A.17 Table A.25 p.361"},
		{Name: "tokenRequestorId", Type: String, Min: 11, Max: 11, Format: Numeric, Inc: Optional, Ref: "2.3.1 A.17 Table A.25 p.361"},
		{Name: "tokenCryptogram", Type: String, Max: 4000, Inc: Optional, Ref: "2.3.1 A.17 Table A.25 p.362"},
		{Name: "tokenCryptogramValidityIndicator", Type: String, Min: 2, Max: 2,
			Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"}, Inc: Optional, Ref: "2.3.1 A.17 Table A.25 p.362"},
		{Name: "tokenStatusIndicator", Type: String, Max: 40, Inc: Optional, Ref: "2.3.1 A.17 Table A.25 p.362"},
	}

	// Multi-Transaction (A.13.9 Table A.18 p.343-345). merchantCurrency and merchantExponent are
	// required when their sibling merchantAmount is present; conditions see top-level elements only,
	// so they are Conditional without a Need.
	areqMultiTransactionSub = []Element{
		{Name: "merchantList", Type: ObjectArray, Min: 1, Max: 50, Inc: Required, Ref: "2.3.1 A.13.9 Table A.18 p.343", Sub: []Element{
			{Name: "merchantNameListed", Type: String, Max: 40, Inc: Required, Ref: "2.3.1 A.13.9 Table A.18 p.343"},
			{Name: "acquirerMerchantIdListed", Type: String, Max: 15, Inc: Optional, Ref: "2.3.1 A.13.9 Table A.18 p.343"},
			{Name: "merchantAmount", Type: String, Max: 48, Inc: Optional, Ref: "2.3.1 A.13.9 Table A.18 p.344"},
			{Name: "merchantCurrency", Type: String, Min: 3, Max: 3, Format: CurrencyCode, Inc: Conditional, Ref: "2.3.1 A.13.9 Table A.18 p.344"},
			{Name: "merchantExponent", Type: String, Min: 1, Max: 1, Inc: Conditional, Ref: "2.3.1 A.13.9 Table A.18 p.344"},
			{Name: "sellerId", Type: String, Max: 50, Inc: Optional, Ref: "2.3.1 A.13.9 Table A.18 p.344"},
		}},
		{Name: "avValidityTime", Type: String, Min: 1, Max: 3, Format: Numeric, Inc: Conditional, Ref: "2.3.1 A.13.9 Table A.18 p.344"},
		{Name: "avNumberUse", Type: String, Min: 1, Max: 2, Format: Numeric, Inc: Conditional, Ref: "2.3.1 A.13.9 Table A.18 p.345"},
	}

	// Seller Information objects (A.13.10 Table A.19 p.347-350). sellerId is required when the
	// Multi-Transaction object carries a Seller ID, which a top-level condition cannot see.
	areqSellerInfoSub = []Element{
		{Name: "sellerName", Type: String, Max: 100, Inc: Required, Ref: "2.3.1 A.13.10 Table A.19 p.347"},
		{Name: "sellerId", Type: String, Max: 50, Inc: Conditional, Ref: "2.3.1 A.13.10 Table A.19 p.348"},
		{Name: "sellerBusinessName", Type: String, Max: 100, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.348"},
		{Name: "sellerAccDate", Type: String, Min: 8, Max: 8, Format: Date, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.348"},
		{Name: "sellerAddrLine1", Type: String, Max: 50, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.348"},
		{Name: "sellerAddrLine2", Type: String, Max: 50, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.348"},
		{Name: "sellerAddrLine3", Type: String, Max: 50, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.348"},
		{Name: "sellerAddrCity", Type: String, Max: 50, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.348"},
		{Name: "sellerAddrState", Type: String, Max: 3, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.349"},
		{Name: "sellerAddrPostCode", Type: String, Max: 16, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.349"},
		{Name: "sellerAddrCountry", Type: String, Min: 3, Max: 3, Format: CountryCode, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.349"},
		{Name: "sellerEmail", Type: String, Max: 254, Format: Email, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.349"},
		{Name: "sellerPhone", Type: Object, Sub: areqPhoneSub, Inc: Optional, Ref: "2.3.1 A.13.10 Table A.19 p.350"},
	}

	// Recurring Indicator members (Table A.1 p.277). The row gives their values but not whether both
	// must be present: both are validated when present.
	areqRecurringIndSub = []Element{
		{Name: "amountInd", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-02", EMVCo: "03-79", DS: "80-99"}, Inc: Optional, Ref: areqRef231 + "p.277"},
		{Name: "frequencyInd", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-02", EMVCo: "03-79", DS: "80-99"}, Inc: Optional, Ref: areqRef231 + "p.277"},
	}

	// Default-SDK Type and Split-SDK Type members (Table A.1 p.243, p.286). The variant is taken as
	// required (the flags beside it are "only present if value = Y"; the variant has no such note).
	areqDefaultSdkTypeSub = []Element{
		{Name: "sdkVariant", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01", EMVCo: "02-79", DS: "80-99"}, Inc: Required, Ref: areqRef231 + "p.243"},
		{Name: "wrappedInd", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y"}, Inc: Optional, Ref: areqRef231 + "p.243"},
	}
	areqSplitSdkTypeSub = []Element{
		{Name: "sdkVariant", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"}, Inc: Required, Ref: areqRef231 + "p.286"},
		{Name: "limitedInd", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y"}, Inc: Optional, Ref: areqRef231 + "p.286"},
	}
)

// areqElements231: the AReq of 2.3.1, Table A.1 order.
var areqElements231 = []Element{
	{Name: "threeDSCompInd", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y,N,U"}, Ch: BRW, Inc: Required, Ref: areqRef231 + "p.188"},
	{Name: "threeDSMethodId", Type: String, Min: 36, Max: 36, Format: UUID, Ch: BRW, Inc: Conditional, Ref: areqRef231 + "p.188"},
	// Row split over p.189-190 (the p.189 part is loose text): APP and BRW only, required.
	{Name: "threeDSRequestorAuthenticationInd", Type: String, Min: 2, Max: 2,
		Values: &Enum{OK: "01-10", EMVCo: "11-79", DS: "80-99"}, Ch: APP | BRW, Inc: Required, Ref: areqRef231 + "p.189-190"},
	{Name: "threeDSRequestorAuthenticationInfo", Type: ObjectArray, Min: 1, Max: 3, Sub: areqAuthInfoSub231, Inc: Optional, Ref: areqRef231 + "p.190"},
	// Row split over p.190-192 (the p.190 part is loose text).
	{Name: "threeDSRequestorChallengeInd", Type: StringArray, Min: 1, Max: 2,
		Item: &Element{Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-14", EMVCo: "15-79", DS: "80-99"}},
		Inc:  Optional, Ref: areqRef231 + "p.190-192"},
	{Name: "threeDSRequestorDecMaxTime", Type: String, Min: 5, Max: 5, Format: Numeric, Values: &Enum{OK: "00001-10080"},
		Inc: Conditional, Need: Eq("threeDSRequestorDecReqInd", "Y", "F", "B"), Ref: areqRef231 + "p.192"},
	{Name: "threeDSRequestorDecReqInd", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y,N,F,B"}, Inc: Optional, Ref: areqRef231 + "p.193"},
	{Name: "threeDSRequestorID", Type: String, Max: 35, Inc: Required, Ref: areqRef231 + "p.194"},
	{Name: "threeDSRequestorName", Type: String, Max: 40, Inc: Required, Ref: areqRef231 + "p.194"},
	// Required for 3RI Decoupled Authentication Fallback (threeRIInd 19) "or for SPC"; the SPC case
	// (the AReq that follows an SPC authentication) cannot be told from the message, so only the 3RI
	// case is in Need. The row says array of 1-3 objects (its note says "a JSON object"): array taken.
	{Name: "threeDSRequestorPriorAuthenticationInfo", Type: ObjectArray, Min: 1, Max: 3, Sub: areqPriorAuthSub231,
		Inc: Conditional, Need: And(OnChannel(RI3), Eq("threeRIInd", "19")), Ref: areqRef231 + "p.194"},
	// No length given; the only value is Y.
	{Name: "threeDSRequestorSpcSupport", Type: String, Values: &Enum{OK: "Y"}, Ch: BRW, Inc: Conditional, Ref: areqRef231 + "p.195"},
	{Name: "threeDSRequestorURL", Type: String, Max: 2048, Format: URL, Inc: Required, Ref: areqRef231 + "p.195"},
	{Name: "threeDSServerOperatorID", Type: String, Max: 32, Inc: Conditional, Ref: areqRef231 + "p.195"},
	{Name: "threeDSServerRefNumber", Type: String, Max: 32, Inc: Required, Ref: areqRef231 + "p.196"},
	{Name: "threeDSServerTransID", Type: String, Min: 36, Max: 36, Format: UUID, Inc: Required, Ref: areqRef231 + "p.196"},
	{Name: "threeDSServerURL", Type: String, Max: 2048, Format: URL, Inc: Required, Ref: areqRef231 + "p.197"},
	{Name: "threeRIInd", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-19", EMVCo: "20-79", DS: "80-99"}, Ch: RI3, Inc: Required, Ref: areqRef231 + "p.197-198"},
	// BCP 47 per the description, but header entries may carry quality weights: no Language format.
	{Name: "acceptLanguage", Type: StringArray, Min: 1, Max: 99, Item: &Element{Type: String, Max: 100}, Ch: BRW, Inc: Required, Ref: areqRef231 + "p.198"},
	{Name: "acctType", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"}, Inc: Conditional, Ref: areqRef231 + "p.199"},
	// 01-PA: R, 02-NPA: O.
	{Name: "acquirerBIN", Type: String, Max: 11, Inc: Conditional, Need: OnCategory(PA), Ref: areqRef231 + "p.199"},
	{Name: "acquirerCountryCode", Type: String, Min: 3, Max: 3, Format: CountryCode, Inc: Required, Ref: areqRef231 + "p.200"},
	{Name: "acquirerCountryCodeSource", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-02", EMVCo: "03-79", DS: "80-99"}, Inc: Required, Ref: areqRef231 + "p.200"},
	{Name: "acquirerMerchantID", Type: String, Max: 35, Inc: Conditional, Need: OnCategory(PA), Ref: areqRef231 + "p.200"}, // PA: R, NPA: O
	{Name: "addrMatch", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y,N"}, Ch: APP | BRW, Inc: Optional, Ref: areqRef231 + "p.207"},
	{Name: "appIp", Type: String, Max: 45, Format: IPAddress, Ch: APP, Inc: Conditional, Ref: areqRef231 + "p.208"},
	{Name: "broadInfo", Type: Object, Max: 4096, Sub: areqBroadInfoSub, Inc: Optional, Ref: areqRef231 + "p.210"},
	{Name: "browserAcceptHeader", Type: String, Max: 2048, Ch: BRW, Inc: Required, Ref: areqRef231 + "p.211"},
	{Name: "browserIP", Type: String, Max: 45, Format: IPAddress, Ch: BRW, Inc: Conditional, Ref: areqRef231 + "p.211"},
	{Name: "browserJavaEnabled", Type: Boolean, Ch: BRW, Inc: Conditional, Need: IsTrue("browserJavascriptEnabled"), Ref: areqRef231 + "p.212"},
	{Name: "browserJavascriptEnabled", Type: Boolean, Ch: BRW, Inc: Required, Ref: areqRef231 + "p.212"},
	// BCP 47 is named in the description only; Language taken as the edit criterion.
	{Name: "browserLanguage", Type: String, Max: 35, Format: Language, Ch: BRW, Inc: Conditional, Need: IsTrue("browserJavascriptEnabled"), Ref: areqRef231 + "p.212"},
	// 1-99 in one or two digits.
	{Name: "browserColorDepth", Type: String, Min: 1, Max: 2, Format: Numeric, Values: &Enum{OK: "1-9,01-99"},
		Ch: BRW, Inc: Conditional, Need: IsTrue("browserJavascriptEnabled"), Ref: areqRef231 + "p.213"},
	{Name: "browserScreenHeight", Type: String, Min: 1, Max: 6, Format: Numeric, Ch: BRW, Inc: Conditional, Need: IsTrue("browserJavascriptEnabled"), Ref: areqRef231 + "p.213"},
	{Name: "browserScreenWidth", Type: String, Min: 1, Max: 6, Format: Numeric, Ch: BRW, Inc: Conditional, Need: IsTrue("browserJavascriptEnabled"), Ref: areqRef231 + "p.213"},
	{Name: "browserTZ", Type: String, Min: 1, Max: 5, Ch: BRW, Inc: Conditional, Need: IsTrue("browserJavascriptEnabled"), Ref: areqRef231 + "p.214"},
	{Name: "browserUserAgent", Type: String, Max: 2048, Ch: BRW, Inc: Required, Ref: areqRef231 + "p.214"},
	{Name: "deviceId", Type: String, Max: 64, Ch: BRW, Inc: Conditional, Ref: areqRef231 + "p.215"}, // Browser User Device ID
	{Name: "userId", Type: String, Max: 64, Ch: BRW, Inc: Conditional, Ref: areqRef231 + "p.215"},   // Browser User ID
	{Name: "cardExpiryDate", Type: String, Min: 4, Max: 4, Format: YYMM, Inc: Conditional, Ref: areqRef231 + "p.217"},
	{Name: "cardSecurityCode", Type: String, Min: 3, Max: 4, Format: Numeric, Inc: Conditional, Ref: areqRef231 + "p.217"},
	// Row rendered as loose text on p.217.
	{Name: "cardSecurityCodeStatus", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y,N,U"}, Inc: Conditional, Ref: areqRef231 + "p.217"},
	{Name: "cardSecurityCodeStatusSource", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-02", EMVCo: "03-79", DS: "80-99"},
		Inc: Conditional, Need: Present("cardSecurityCodeStatus"), Ref: areqRef231 + "p.218"},
	{Name: "acctID", Type: String, Max: 64, Inc: Optional, Ref: areqRef231 + "p.218"},
	{Name: "acctInfo", Type: Object, Inc: Optional, Ref: areqRef231 + "p.218"}, // members: Table A.10
	{Name: "acctNumber", Type: String, Min: 13, Max: 19, Format: Numeric, Inc: Required, Ref: areqRef231 + "p.218"},
	{Name: "billAddrCity", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.219"},
	{Name: "billAddrCountry", Type: String, Min: 3, Max: 3, Format: CountryCode, Inc: Conditional, Need: Present("billAddrState"), Ref: areqRef231 + "p.220"},
	{Name: "billAddrLine1", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.221"},
	{Name: "billAddrLine2", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.221"},
	{Name: "billAddrLine3", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.222"},
	{Name: "billAddrPostCode", Type: String, Max: 16, Inc: Conditional, Ref: areqRef231 + "p.222"},
	{Name: "billAddrState", Type: String, Max: 3, Inc: Conditional, Ref: areqRef231 + "p.223"},
	// Row rendered as loose text on p.223.
	{Name: "email", Type: String, Max: 254, Format: Email, Inc: Conditional, Ref: areqRef231 + "p.223"},
	{Name: "homePhone", Type: Object, Sub: areqPhoneSub, Inc: Conditional, Ref: areqRef231 + "p.224"},
	{Name: "mobilePhone", Type: Object, Sub: areqPhoneSub, Inc: Conditional, Ref: areqRef231 + "p.226"},
	{Name: "cardholderName", Type: String, Min: 1, Max: 45, Inc: Conditional, Ref: areqRef231 + "p.227"},
	{Name: "shipAddrCity", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.227"},
	{Name: "shipAddrCountry", Type: String, Min: 3, Max: 3, Format: CountryCode, Inc: Conditional, Need: Present("shipAddrState"), Ref: areqRef231 + "p.227"},
	{Name: "shipAddrLine1", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.228"},
	{Name: "shipAddrLine2", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.228"},
	{Name: "shipAddrLine3", Type: String, Max: 50, Inc: Conditional, Ref: areqRef231 + "p.228"},
	{Name: "shipAddrPostCode", Type: String, Max: 16, Inc: Conditional, Ref: areqRef231 + "p.229"},
	{Name: "shipAddrState", Type: String, Max: 3, Inc: Conditional, Ref: areqRef231 + "p.229"},
	// The row says "JSON Data Type: String" but describes and shows the same cc/subscriber object as
	// homePhone and mobilePhone: taken as an object.
	{Name: "workPhone", Type: Object, Sub: areqPhoneSub, Inc: Conditional, Ref: areqRef231 + "p.230"},
	{Name: "defaultSdkType", Type: Object, Sub: areqDefaultSdkTypeSub, Ch: APP, Inc: Conditional, Need: Eq("sdkType", "01"), Ref: areqRef231 + "p.243"},
	// Row rendered as loose text over p.245-246.
	{Name: "deviceBindingStatus", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-05,11-15", EMVCo: "06-10,16-79", DS: "80-99"}, Inc: Optional, Ref: areqRef231 + "p.245-246"},
	{Name: "deviceBindingStatusSource", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"},
		Inc: Conditional, Need: Present("deviceBindingStatus"), Ref: areqRef231 + "p.246"},
	{Name: "deviceChannel", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"}, Inc: Required, Ref: areqRef231 + "p.247"},
	{Name: "deviceInfo", Type: String, Max: 64000, Format: Base64URL, Ch: APP, Inc: Conditional, Need: areqViaDS, Ref: areqRef231 + "p.247"},
	{Name: "deviceRenderOptions", Type: Object, Sub: areqRenderSub231, Ch: APP, Inc: Required, Ref: areqRef231 + "p.248"},
	{Name: "dsReferenceNumber", Type: String, Max: 32, Inc: Conditional, Need: areqViaDS, Ref: areqRef231 + "p.249"},
	{Name: "dsTransID", Type: String, Min: 36, Max: 36, Format: UUID, Inc: Conditional, Need: areqViaDS, Ref: areqRef231 + "p.249"},
	{Name: "dsURL", Type: String, Max: 2048, Format: URL, Inc: Conditional, Need: areqViaDS, Ref: areqRef231 + "p.250"},
	// Only true is valid when present; the reader does not check values of booleans.
	{Name: "payTokenInd", Type: Boolean, Inc: Conditional, Ref: areqRef231 + "p.252"},
	{Name: "payTokenInfo", Type: Object, Sub: areqPayTokenInfoSub, Inc: Optional, Ref: areqRef231 + "p.252"},
	{Name: "payTokenSource", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-02", EMVCo: "03-79", DS: "80-99"},
		Inc: Conditional, Need: IsTrue("payTokenInd"), Ref: areqRef231 + "p.253"},
	// "Greater than 1", at most 3 characters; omitted unless the authentication is an instalment.
	{Name: "purchaseInstalData", Type: String, Max: 3, Format: Numeric, Values: &Enum{OK: "2-9,02-99,002-999"},
		Inc: Conditional, Need: areqInstalment, Only: areqInstalment, Ref: areqRef231 + "p.255"},
	{Name: "mcc", Type: String, Min: 4, Max: 4, Inc: Conditional, Need: OnCategory(PA), Ref: areqRef231 + "p.256"}, // PA: R, NPA: O
	{Name: "merchantCountryCode", Type: String, Min: 3, Max: 3, Format: CountryCode, Inc: Conditional, Need: OnCategory(PA), Ref: areqRef231 + "p.257"},
	{Name: "merchantName", Type: String, Max: 40, Inc: Conditional, Need: OnCategory(PA), Ref: areqRef231 + "p.257"},
	{Name: "merchantRiskIndicator", Type: Object, Inc: Optional, Ref: areqRef231 + "p.257"}, // members: Table A.11
	{Name: "messageCategory", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-02", EMVCo: "03-79", DS: "80-99"}, Inc: Required, Ref: areqRef231 + "p.258"},
	{Name: "messageExtension", Type: ObjectArray, Min: 1, Max: 15, Sub: areqExtensionSub, Inc: Conditional, Ref: areqRef231 + "p.258"},
	// The row lists every message type; in an AReq only AReq is right.
	{Name: "messageType", Type: String, Min: 4, Max: 4, Values: &Enum{OK: "AReq"}, Inc: Required, Ref: areqRef231 + "p.259"},
	{Name: "messageVersion", Type: String, Min: 5, Max: 8, Inc: Required, Ref: areqRef231 + "p.260"},
	{Name: "multiTransaction", Type: Object, Sub: areqMultiTransactionSub, Inc: Optional, Ref: areqRef231 + "p.260"},
	{Name: "notificationURL", Type: String, Max: 256, Format: URL, Ch: BRW, Inc: Required, Ref: areqRef231 + "p.261"},
	{Name: "payeeOrigin", Type: String, Max: 2048, Format: URL, Ch: BRW, Inc: Conditional, Need: Eq("threeDSRequestorSpcSupport", "Y"), Ref: areqRef231 + "p.270"},
	// No numeric edit is listed for the amount or the exponent (A.2): length only.
	{Name: "purchaseAmount", Type: String, Max: 48, Format: Numeric, Inc: Conditional, Need: areqPurchaseNeed231, Ref: areqRef231 + "p.271"},
	{Name: "purchaseCurrency", Type: String, Min: 3, Max: 3, Format: CurrencyCode, Inc: Conditional, Need: areqPurchaseNeed231, Ref: areqRef231 + "p.271"},
	{Name: "purchaseExponent", Type: String, Min: 1, Max: 1, Format: Numeric, Inc: Conditional, Need: areqPurchaseNeed231, Ref: areqRef231 + "p.272"},
	{Name: "purchaseDate", Type: String, Min: 14, Max: 14, Format: DateTime, Inc: Conditional, Need: areqPurchaseNeed231, Ref: areqRef231 + "p.272"},
	{Name: "recurringAmount", Type: String, Max: 48, Inc: Conditional,
		Need: And(areqRecurring231, areqSubEq("recurringInd", "amountInd", "01")), Ref: areqRef231 + "p.274"},
	{Name: "recurringCurrency", Type: String, Min: 3, Max: 3, Format: CurrencyCode, Inc: Conditional, Need: Present("recurringAmount"), Ref: areqRef231 + "p.274"},
	{Name: "recurringExponent", Type: String, Min: 1, Max: 1, Format: Numeric, Inc: Conditional, Need: Present("recurringAmount"), Ref: areqRef231 + "p.275"},
	{Name: "recurringDate", Type: String, Min: 8, Max: 8, Format: Date, Inc: Conditional, Need: areqSubEq("recurringInd", "frequencyInd", "01"), Ref: areqRef231 + "p.275"},
	{Name: "recurringExpiry", Type: String, Min: 8, Max: 8, Format: Date, Inc: Conditional, Ref: areqRef231 + "p.275"}, // "if there is an end date"
	// 1-9999, leading zeros allowed (examples 31, 031, 0031).
	{Name: "recurringFrequency", Type: String, Max: 4, Format: Numeric, Values: &Enum{OK: "1-9,01-99,001-999,0001-9999"},
		Inc: Conditional, Need: areqSubEq("recurringInd", "frequencyInd", "01"), Ref: areqRef231 + "p.276"},
	{Name: "recurringInd", Type: Object, Sub: areqRecurringIndSub, Inc: Conditional, Need: areqRecurring231, Ref: areqRef231 + "p.277"},
	{Name: "sdkAppID", Type: String, Min: 36, Max: 36, Format: UUID, Ch: APP, Inc: Required, Ref: areqRef231 + "p.280"},
	// Required from the 3DS Server to the DS and not present from the DS to the ACS; tolerated (not
	// refused) if a DS forwards it.
	{Name: "sdkEncData", Type: String, Max: 64000, Ch: APP, Inc: Conditional, Ref: areqRef231 + "p.280"},
	{Name: "sdkEphemPubKey", Type: Object, Max: 256, Ch: APP, Inc: Required, Ref: areqRef231 + "p.281"}, // a JWK
	{Name: "sdkMaxTimeout", Type: String, Min: 2, Max: 2, Format: Numeric, Values: &Enum{OK: "05-99"}, Ch: APP, Inc: Required, Ref: areqRef231 + "p.281"},
	{Name: "sdkReferenceNumber", Type: String, Max: 32, Ch: APP, Inc: Required, Ref: areqRef231 + "p.281"},
	{Name: "sdkServerSignedContent", Type: String, Ch: APP, Inc: Conditional, Need: Eq("sdkType", "02"), Ref: areqRef231 + "p.282"}, // a JWS, no length given
	{Name: "sdkTransID", Type: String, Min: 36, Max: 36, Format: UUID, Ch: APP, Inc: Required, Ref: areqRef231 + "p.282"},
	{Name: "sdkType", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-02", EMVCo: "03-79", DS: "80-99"}, Ch: APP, Inc: Required, Ref: areqRef231 + "p.283"},
	{Name: "sellerInfo", Type: ObjectArray, Min: 1, Max: 50, Sub: areqSellerInfoSub, Inc: Optional, Ref: areqRef231 + "p.283"},
	{Name: "spcIncompInd", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-99"}, Ch: BRW, Inc: Conditional, Ref: areqRef231 + "p.285"},
	{Name: "splitSdkType", Type: Object, Sub: areqSplitSdkTypeSub, Ch: APP, Inc: Conditional, Need: Eq("sdkType", "02"), Ref: areqRef231 + "p.286"},
	{Name: "taxId", Type: String, Max: 45, Inc: Conditional, Ref: areqRef231 + "p.287"},
	{Name: "transType", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01,03,10,11,28"}, Cat: PA, Inc: Conditional, Ref: areqRef231 + "p.292"},
	// Y, N, E, P, R and U exist, but only Y or N are valid in the AReq.
	{Name: "trustListStatus", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y,N"}, Inc: Optional, Ref: areqRef231 + "p.294"},
	// Row rendered as loose text on p.294.
	{Name: "trustListStatusSource", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"},
		Inc: Conditional, Need: Present("trustListStatus"), Ref: areqRef231 + "p.294"},
}

// 2.2.0 and 2.1.0 object members that differ from 2.3.1.
var (
	// Prior transaction authentication information was one object in 2.1.0 and 2.2.0, without the
	// prior DS Transaction ID, with shorter data and methods 01-04.
	areqPriorAuthSub220 = []Element{
		{Name: "threeDSReqPriorAuthData", Type: String, Max: 2048, Inc: Optional, Ref: areqRef220},
		{Name: "threeDSReqPriorAuthMethod", Type: String, Min: 2, Max: 2,
			Values: &Enum{OK: "01-04", EMVCo: "05-79", DS: "80-99"}, Inc: Optional, Ref: areqRef220},
		{Name: "threeDSReqPriorAuthTimestamp", Type: String, Min: 12, Max: 12, Format: Numeric, Inc: Optional, Ref: areqRef220}, // YYYYMMDDHHMM
		{Name: "threeDSReqPriorRef", Type: String, Max: 36, Inc: Optional, Ref: areqRef220},
	}
	// Device rendering options before 2.3: no sdkAuthenticationType, UI types 01-05. unverified: the
	// number of sdkUiType items (no limit set).
	areqRenderSub220 = []Element{
		{Name: "sdkInterface", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03"}, Inc: Required, Ref: areqRef220},
		{Name: "sdkUiType", Type: StringArray, Min: 1,
			Item: &Element{Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-05"}},
			Inc:  Required, Ref: areqRef220},
	}
)

// areqElements220: the AReq of 2.2.0 as the 2.3.1 table with the differences below.
var areqElements220 = derive(areqElements231,
	// Elements 2.3.1 added (2.3.0/2.3.1 features): 3DS Method reuse, SPC, Accept-Language and the
	// browser/app device and user ids, acquirer country, card security code, the SDK types and
	// Split-SDK signed content, device binding, the Trust List (whiteList* in 2.2.0, below), token
	// information, multi-transaction and seller data, tax id, and the recurring amount/date/indicator.
	drop(
		"threeDSMethodId",
		"threeDSRequestorSpcSupport", "payeeOrigin", "spcIncompInd",
		"acceptLanguage", "deviceId", "userId", "appIp",
		"acquirerCountryCode", "acquirerCountryCodeSource",
		"cardSecurityCode", "cardSecurityCodeStatus", "cardSecurityCodeStatusSource",
		"sdkType", "defaultSdkType", "splitSdkType", "sdkServerSignedContent",
		"deviceBindingStatus", "deviceBindingStatusSource",
		"trustListStatus", "trustListStatusSource",
		"payTokenInfo",
		"multiTransaction", "sellerInfo",
		"taxId", // unverified for 2.2.0: taken as a 2.3 addition
		"recurringAmount", "recurringCurrency", "recurringExponent", "recurringDate", "recurringInd",
	),
	replace(
		// Authentication indicator values 01-06 (07-79 EMVCo). unverified for 2.2.0: one public model
		// also accepts 07.
		areqFrom(areqElements231, "threeDSRequestorAuthenticationInd", areqRef220, func(e *Element) {
			e.Values = &Enum{OK: "01-06", EMVCo: "07-79", DS: "80-99"}
		}),
		// One object, not an array; its members differ (not checked).
		areqFrom(areqElements231, "threeDSRequestorAuthenticationInfo", areqRef220, func(e *Element) {
			e.Type, e.Min, e.Max, e.Sub = Object, 0, 0, nil
		}),
		// A single 2-character string, 01-09 (10-79 EMVCo, 80-99 DS), APP and BRW only.
		areqFrom(areqElements231, "threeDSRequestorChallengeInd", areqRef220, func(e *Element) {
			e.Type, e.Min, e.Max, e.Item = String, 2, 2, nil
			e.Values = &Enum{OK: "01-09", EMVCo: "10-79", DS: "80-99"}
			e.Ch = APP | BRW
		}),
		// Decoupled request indicator Y or N only (F and B came with 2.3); max time required for Y.
		areqFrom(areqElements231, "threeDSRequestorDecReqInd", areqRef220, func(e *Element) {
			e.Values = &Enum{OK: "Y,N"}
		}),
		areqFrom(areqElements231, "threeDSRequestorDecMaxTime", areqRef220, func(e *Element) {
			e.Need = Eq("threeDSRequestorDecReqInd", "Y")
		}),
		// One optional object with the 2.2.0 members.
		areqFrom(areqElements231, "threeDSRequestorPriorAuthenticationInfo", areqRef220, func(e *Element) {
			e.Type, e.Min, e.Max, e.Sub = Object, 0, 0, areqPriorAuthSub220
			e.Inc, e.Need = Optional, nil
		}),
		// 3RI indicator 01-11 (12-79 EMVCo).
		areqFrom(areqElements231, "threeRIInd", areqRef220, func(e *Element) {
			e.Values = &Enum{OK: "01-11", EMVCo: "12-79", DS: "80-99"}
		}),
		// unverified for 2.2.0: broadcast information present (AReq optional) but unstructured.
		areqFrom(areqElements231, "broadInfo", areqRef220, func(e *Element) {
			e.Sub = nil
		}),
		// browserLanguage 1-8 characters and required (public 2.2.0 model; unverified for 2.2.0
		// against the specification text).
		areqFrom(areqElements231, "browserLanguage", areqRef220, func(e *Element) {
			e.Min, e.Max = 1, 8
			e.Inc, e.Need = Required, nil
		}),
		// Colour depth: the listed bit depths only.
		areqFrom(areqElements231, "browserColorDepth", areqRef220, func(e *Element) {
			e.Values = &Enum{OK: "1,4,8,15,16,24,32,48"}
		}),
		// Cardholder name 2-45 characters.
		areqFrom(areqElements231, "cardholderName", areqRef220, func(e *Element) {
			e.Min = 2
		}),
		areqFrom(areqElements231, "deviceRenderOptions", areqRef220, func(e *Element) {
			e.Sub = areqRenderSub220
		}),
		// At most 10 message extensions.
		areqFrom(areqElements231, "messageExtension", areqRef220, func(e *Element) {
			e.Max = 10
		}),
		// Purchase data for NPA: authentication indicator 02/03, or 3RI indicator 01, 02, 06-09, 11.
		areqFrom(areqElements231, "purchaseAmount", areqRef220, func(e *Element) { e.Need = areqPurchaseNeed220 }),
		areqFrom(areqElements231, "purchaseCurrency", areqRef220, func(e *Element) { e.Need = areqPurchaseNeed220 }),
		areqFrom(areqElements231, "purchaseExponent", areqRef220, func(e *Element) { e.Need = areqPurchaseNeed220 }),
		areqFrom(areqElements231, "purchaseDate", areqRef220, func(e *Element) { e.Need = areqPurchaseNeed220 }),
		// Recurring expiry and frequency: required for recurring/instalment (no recurringInd yet).
		// unverified for 2.2.0: the frequency's 1-9999 range (digits, max 4 kept).
		areqFrom(areqElements231, "recurringExpiry", areqRef220, func(e *Element) { e.Need = areqRecurring231 }),
		areqFrom(areqElements231, "recurringFrequency", areqRef220, func(e *Element) {
			e.Need, e.Values = areqRecurring231, nil
		}),
	),
	add(
		// Whitelist status, renamed Trust List status in 2.3.
		Element{Name: "whiteListStatus", Type: String, Min: 1, Max: 1, Values: &Enum{OK: "Y,N"}, Inc: Optional, Ref: areqRef220},
		Element{Name: "whiteListStatusSource", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"},
			Inc: Conditional, Need: Present("whiteListStatus"), Ref: areqRef220},
		// DS verification of the requestor's authentication (FIDO), a top-level element in 2.2.0; in
		// 2.3.1 it is dsAuthInfVerifInd inside threeDSRequestorAuthenticationInfo. unverified for
		// 2.2.0: the EMVCo range 04-79.
		Element{Name: "threeDSReqAuthMethodInd", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"},
			Ch: APP | BRW, Inc: Optional, Ref: areqRef220},
	),
)

var areqPurchaseNeed220 = Or(
	OnCategory(PA),
	Eq("threeDSRequestorAuthenticationInd", "02", "03"),
	Eq("threeRIInd", "01", "02", "06", "07", "08", "09", "11"),
)

// areqElements210: the AReq of 2.1.0 as the 2.2.0 table with the differences below.
var areqElements210 = derive(areqElements220,
	// 2.2.0 additions: Decoupled Authentication, browserJavascriptEnabled, token source, whitelist,
	// the DS verification indicator and broadcast information.
	drop(
		"threeDSRequestorDecMaxTime", "threeDSRequestorDecReqInd",
		"browserJavascriptEnabled",
		"payTokenSource",
		"whiteListStatus", "whiteListStatusSource",
		"threeDSReqAuthMethodInd",
		"broadInfo",
	),
	replace(
		// Challenge indicator 01-04 (05-79 EMVCo).
		areqFrom(areqElements220, "threeDSRequestorChallengeInd", areqRef210, func(e *Element) {
			e.Values = &Enum{OK: "01-04", EMVCo: "05-79", DS: "80-99"}
		}),
		// 3RI indicator 01-05 (06-79 EMVCo).
		areqFrom(areqElements220, "threeRIInd", areqRef210, func(e *Element) {
			e.Values = &Enum{OK: "01-05", EMVCo: "06-79", DS: "80-99"}
		}),
		// Without browserJavascriptEnabled the browser screen, colour, Java and time-zone fields are
		// simply required (browserLanguage already is, from 2.2.0).
		areqFrom(areqElements220, "browserJavaEnabled", areqRef210, areqAlwaysRequired),
		areqFrom(areqElements220, "browserColorDepth", areqRef210, areqAlwaysRequired),
		areqFrom(areqElements220, "browserScreenHeight", areqRef210, areqAlwaysRequired),
		areqFrom(areqElements220, "browserScreenWidth", areqRef210, areqAlwaysRequired),
		areqFrom(areqElements220, "browserTZ", areqRef210, areqAlwaysRequired),
		// Purchase, instalment and recurring data: APP and BRW only (3RI was for NPA in 2.1.0), and
		// required on the authentication indicator alone.
		areqFrom(areqElements220, "purchaseAmount", areqRef210, areqPurchase210),
		areqFrom(areqElements220, "purchaseCurrency", areqRef210, areqPurchase210),
		areqFrom(areqElements220, "purchaseExponent", areqRef210, areqPurchase210),
		areqFrom(areqElements220, "purchaseDate", areqRef210, areqPurchase210),
		areqFrom(areqElements220, "purchaseInstalData", areqRef210, func(e *Element) {
			e.Ch = APP | BRW
			e.Need = Eq("threeDSRequestorAuthenticationInd", "03")
			e.Only = e.Need
		}),
		areqFrom(areqElements220, "recurringExpiry", areqRef210, areqRecurring210),
		areqFrom(areqElements220, "recurringFrequency", areqRef210, areqRecurring210),
		// Transaction type: APP and BRW only.
		areqFrom(areqElements220, "transType", areqRef210, func(e *Element) { e.Ch = APP | BRW }),
	),
)

func areqAlwaysRequired(e *Element) { e.Inc, e.Need = Required, nil }

func areqPurchase210(e *Element) {
	e.Ch = APP | BRW
	e.Need = Or(OnCategory(PA), Eq("threeDSRequestorAuthenticationInd", "02", "03"))
}

func areqRecurring210(e *Element) {
	e.Ch = APP | BRW
	e.Need = Eq("threeDSRequestorAuthenticationInd", "02", "03")
}

// AReqTables are the AReq element tables by version.
var AReqTables = map[Version]Table{
	V231: {Type: TypeAReq, Version: V231, Elements: areqElements231,
		Source: "EMV 3DS Core Specification v2.3.1, Annex A.4 Table A.1 (AReq rows), with Tables A.9, A.12, A.13, A.15, A.18, A.19, A.25 and A.27 for object members"},
	V220: {Type: TypeAReq, Version: V220, Elements: areqElements220,
		Source: "EMV 3DS Core Specification v2.2.0, Annex A Table A.1 (AReq): derived from the v2.3.1 table by the edits in tables_areq.go, checked against public 2.2.0 AReq models"},
	V210: {Type: TypeAReq, Version: V210, Elements: areqElements210,
		Source: "EMV 3DS Core Specification v2.1.0, Annex A Table A.1 (AReq): derived from the v2.2.0 table by the edits in tables_areq.go, checked against public 2.1.0 AReq models"},
}
