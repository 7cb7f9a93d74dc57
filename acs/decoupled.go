package acs

import (
	"time"

	"example.com/acs/emv"
	"example.com/acs/registration"
)

// Decoupled authentication (transStatus D; EMV 3DS 2.2.0 and later, 2.3.1 Req 321, 322, 345): when the
// 3DS Requestor asks for it (threeDSRequestorDecReqInd Y or B, with threeDSRequestorDecMaxTime) and the
// card is confirmed in the bank's app, the ARes says D with acsDecConInd Y and a text for the
// cardholder, the confirmation goes to the app at once, and no browser or SDK takes part. The RReq goes
// out when the cardholder answers, or, when the time runs out, U with reason 24 and challengeCancel 03.
// The transaction and its confirmation are the same rows as an app challenge's (trans_status D).

// DecoupledMaxWait bounds how long the ACS waits for a decoupled answer whatever the requestor allows
// (up to 7 days): a purchase the cardholder has not confirmed in half an hour is not confirmed.
const DecoupledMaxWait = 30 * time.Minute

// decoupledMinWait: with less time than this the ACS does not start a decoupled authentication (the
// cardholder could not answer in time; 2.3.1 transStatusReason 25) and challenges instead.
const decoupledMinWait = 2 * time.Minute

// ReasonDecoupled: the ARes was D.
const ReasonDecoupled = "decoupled"

// ReasonDecoupledTimeout: the cardholder did not answer a decoupled authentication in time.
const ReasonDecoupledTimeout = "decoupled_timeout"

const (
	statusReasonDecoupledExpired = "24" // decoupled authentication: the maximum time ran out
	cancelDecoupledTimedOut      = "03" // timed out, decoupled
)

// resultDecoupledTimeout ends a decoupled authentication the cardholder did not answer (2.3.1 Req 345).
var resultDecoupledTimeout = Result{Status: "U", Reason: statusReasonDecoupledExpired, Cancel: cancelDecoupledTimedOut,
	ChallengeState: ChallengeTimedOut, Why: ReasonDecoupledTimeout}

// cardholderText is cardholderInfo: what the merchant shows while the cardholder confirms (1-128
// characters).
const cardholderText = "Bitte bestätigen Sie die Zahlung in der App Ihrer Bank. / Please confirm the payment in your bank's app."

// decoupled says whether this AReq gets D instead of C.
func (dc *Decider) decoupled(a *AReq, method registration.Method) bool {
	return dc.d.Decoupled != nil && a.DecoupledPrimary && method == registration.MethodApp && a.DecoupledMaxTime >= decoupledMinWait &&
		a.MessageVersion != emv.V210
}

// setDecoupled writes acsDecConInd and cardholderInfo (2.3.1 an object with text; 2.2.0 a string).
func setDecoupled(m *emv.Message) {
	m.Set("acsDecConInd", "Y")
	if m.Version == emv.V231 {
		m.Set("cardholderInfo", map[string]string{"text": cardholderText})
		return
	}
	m.Set("cardholderInfo", cardholderText)
}

// setDecoupledMethod: push confirmation, decoupled (2.3.1 Req 321 b: 12 among the methods); 2.2.0's one
// authenticationType: 04 decoupled.
func setDecoupledMethod(m *emv.Message) {
	if m.Version == emv.V231 {
		m.Set("authenticationMethod", []string{"11", "12"})
		return
	}
	m.Set("authenticationType", "04")
}
