package acs

import (
	"encoding/json"
	"fmt"
	"time"

	"example.com/acs/emv"
)

// This file maps the ACS's decisions onto the messages of each protocol version. The element tables of
// package emv say what a version allows; the mapping here says which element carries a meaning in which
// version, where the versions differ:
//   - the method: authenticationType (2.1.0, 2.2.0: 02 dynamic for an SMS code, 03 out of band for the
//     app) or authenticationMethod (2.3.1, an array: 02 SMS OTP with 06 knowledge-based for mTAN plus
//     security answer, 11 push confirmation for the app, 04 app OTP for the offline password);
//   - the whitelist: whiteListStatus (2.2.0) or trustListStatus (2.3.1), with source 03 (ACS); 2.1.0
//     has neither;
//   - the exemption that made a purchase frictionless: transChallengeExemption where the version has it.

// whiteListSourceACS is whiteListStatusSource / trustListStatusSource 03: the status was set by the ACS.
const whiteListSourceACS = "03"

// authType is authenticationType (2.1.0, 2.2.0) for a method.
func authType(via Via) string {
	if via == ViaApp {
		return "03" // out of band
	}
	return "02" // dynamic: a one-time code (SMS mTAN, offline password)
}

// authMethods is authenticationMethod (2.3.1) for a method.
func authMethods(via Via) []string {
	switch via {
	case ViaApp:
		return []string{"11"} // push confirmation in the bank's app
	case ViaOffline:
		return []string{"04"} // app OTP
	}
	return []string{"02", "06"} // SMS OTP and the security answer (knowledge-based)
}

// setMethod sets the method element of the message's version.
func setMethod(m *emv.Message, via Via) {
	if m.Version == emv.V231 {
		m.Set("authenticationMethod", authMethods(via))
		return
	}
	m.Set("authenticationType", authType(via))
}

// setListStatus reports the merchant's place on the card's whitelist in the element the version has.
func setListStatus(m *emv.Message, listed bool) {
	v := "N"
	if listed {
		v = "Y"
	}
	switch m.Version {
	case emv.V220:
		m.Set("whiteListStatus", v)
		m.Set("whiteListStatusSource", whiteListSourceACS)
	case emv.V231:
		m.Set("trustListStatus", v)
		m.Set("trustListStatusSource", whiteListSourceACS)
	}
}

// Exemption values of transChallengeExemption (2.3.1 Annex A).
const (
	exemptionTRA       = "05"
	exemptionTrustList = "08"
	exemptionLowValue  = "10"
)

// aresData is what the decision put into an ARes.
type aresData struct {
	a              *AReq
	acsTransID     string
	referenceNo    string
	operatorID     string
	status, reason string
	acsURL         string
	mandated       bool
	via            Via
	eci, authValue string
	listed         *bool
	exemption      string
	app            *appARes      // an app-channel challenge
	decWait        time.Duration // a decoupled authentication's time (status D)
}

func (d *aresData) message() *emv.Message {
	m := emv.NewMessage(emv.TypeARes, d.a.MessageVersion)
	m.Channel, m.Category = emv.ChannelOf(d.a.DeviceChannel), emv.CategoryOf(d.a.MessageCategory)
	m.Set("threeDSServerTransID", d.a.ThreeDSServerTransID)
	m.Set("dsTransID", d.a.DSTransID)
	m.Set("acsTransID", d.acsTransID)
	if d.a.DeviceChannel == ChannelApp && m.Version == emv.V231 {
		// 2.3.1 ARes for the app: no OOB app that could call the requestor's app back; the device
		// information is not read (the SDK channel is not built), so the data version it names is
		// reported as the one the ACS recognises, the first of the specification (1.0).
		m.Set("threeDSRequestorAppURLInd", "N")
		m.Set("deviceInfoRecognisedVersion", "1.0")
	}
	m.Set("sdkTransID", d.a.Message.Str("sdkTransID")) // app channel only
	m.Set("acsReferenceNumber", d.referenceNo)
	// The DS's reference number as the AReq carried it: reference numbers in a response match the
	// request's (Req 212).
	m.Set("dsReferenceNumber", d.a.Message.Str("dsReferenceNumber"))
	if m.Version != emv.V210 {
		m.Set("acsOperatorID", d.operatorID)
	}
	m.Set("transStatus", d.status)
	m.Set("transStatusReason", d.reason)
	if d.status == "D" {
		setDecoupled(m)
	}
	if d.status == "C" || d.status == "D" {
		m.Set("acsURL", d.acsURL)
		mandated := "N"
		if d.mandated {
			mandated = "Y"
		}
		m.Set("acsChallengeMandated", mandated)
		if d.status == "D" {
			setDecoupledMethod(m)
		} else {
			setMethod(m, d.via)
		}
		if d.app != nil {
			d.app.set(m)
		}
	}
	if d.status == "Y" || d.status == "A" {
		m.Set("eci", d.eci)
		m.Set("authenticationValue", d.authValue)
		if d.status == "Y" && m.Version == emv.V231 && d.exemption != "" {
			m.Set("transChallengeExemption", d.exemption)
		}
	}
	if d.listed != nil {
		setListStatus(m, *d.listed)
	}
	return m
}

// rreqData is what the end of a challenge puts into the RReq.
type rreqData struct {
	version                              emv.Version
	channel, category                    string
	serverTransID, acsTransID, dsTransID string
	status, reason, cancel               string
	via                                  Via
	cycles                               int
	eci, authValue                       string
	listed                               *bool
	erro                                 *Erro
	// The app channel: the SDK's transaction id and the UI the ARes announced (acsRenderingType).
	sdkTransID, uiInterface, uiTemplate string
}

func (d *rreqData) encode() ([]byte, error) {
	m := emv.NewMessage(emv.TypeRReq, d.version)
	m.Channel, m.Category = emv.ChannelOf(d.channel), emv.CategoryOf(d.category)
	m.Set("threeDSServerTransID", d.serverTransID)
	m.Set("acsTransID", d.acsTransID)
	m.Set("dsTransID", d.dsTransID)
	if d.sdkTransID != "" {
		m.Set("sdkTransID", d.sdkTransID)
		(&appARes{iface: d.uiInterface, template: d.uiTemplate}).setRendering(m)
	}
	m.Set("messageCategory", d.category)
	m.Set("transStatus", d.status)
	m.Set("transStatusReason", d.reason)
	m.Set("challengeCancel", d.cancel)
	if d.status == "Y" || d.status == "N" {
		setMethod(m, d.via)
	}
	m.Set("interactionCounter", fmt.Sprintf("%02d", min(d.cycles, 99)))
	m.Set("eci", d.eci)
	m.Set("authenticationValue", d.authValue)
	if d.listed != nil {
		setListStatus(m, *d.listed)
	}
	if d.erro != nil && m.Version == emv.V231 {
		// Required with challengeCancel 10: a copy of the Erro the requestor was sent (2.3.1 Annex A).
		m.Set("challengeErrorReporting", json.RawMessage(emv.EncodeErro(d.erro)))
	}
	return emv.Encode(m)
}
