package authval

import "example.com/acs/cards"

// ECI is the Electronic Commerce Indicator the ACS returns beside a value (EMV 2.3.1 Annex A: "eci",
// its values are the schemes'; presence is DS-specific):
//
//	                              Y      A
//	Visa, payment and non-payment 05     06
//	Mastercard, payment           02     01
//	Mastercard, non-payment       N2     N1
//
// The other statuses carry no authentication value and this ACS sets no ECI with them: the merchant's
// "not authenticated" indicators (Visa 07, Mastercard 00 and N0) are for an authorisation without one,
// and Mastercard's 04 (data only), 06 (exemption) and 07 (merchant-initiated) are set by the DS or the
// acquirer, not the ACS. The non-payment values follow processors' published ECI tables (N0, N2; N1 for
// attempts by the same pattern).
func ECI(scheme cards.Scheme, category, status string) string {
	switch {
	case scheme == cards.Visa && status == "Y":
		return "05"
	case scheme == cards.Visa && status == "A":
		return "06"
	case scheme == cards.Mastercard && category == "02" && status == "Y":
		return "N2"
	case scheme == cards.Mastercard && category == "02" && status == "A":
		return "N1"
	case scheme == cards.Mastercard && status == "Y":
		return "02"
	case scheme == cards.Mastercard && status == "A":
		return "01"
	}
	return ""
}
