package acs

import (
	"crypto"
	"fmt"
	"slices"

	"example.com/acs/emv"
	"example.com/acs/emv/sdkcrypto"
	"example.com/acs/envelope"
	"example.com/acs/registration"
)

// The app channel (deviceChannel 01, EMV 3DS 2.3.1 chapter 6.2.3-6.2.4): a merchant's app, through its
// 3DS SDK, talks to the ACS directly. The ARes C carries acsSignedContent, which the SDK verifies with
// the scheme's DS CA, and with it the ACS's ephemeral key; both sides derive one 256-bit key per
// transaction, and every CReq and CRes is a JWE under it. The key is stored with the transaction,
// encrypted (acs_sdk_sessions.cek_enc), so any process can answer the next CReq; the ACS's ephemeral
// private key is forgotten as soon as the ARes is signed (6.2.3.2).

// AppChannel is what the ACS needs to answer app-channel AReqs; nil in DecisionDeps: every app
// channel AReq is answered U (03, device not supported).
type AppChannel struct {
	// Signer is the HSM's signing key (hsm.HSM.Signer); Chains holds, per card scheme, the certificate
	// that scheme's DS CA issued for it, with any chaining certificates after it (DER, leaf first,
	// without the DS CA's own certificate). A scheme without a chain has no app channel.
	Signer crypto.Signer
	Chains map[string][][]byte
	// Signers overrides Signer for a scheme that requires another key (PS256: the HSM's RSA key).
	Signers map[string]crypto.Signer
	// URL is the acsURL an SDK posts its CReqs to (public_url + /3ds/app).
	URL string
	// Keys encrypts the per-transaction key.
	Keys *envelope.Keyring
}

// ACS UI templates and interfaces (acsRenderingType, 2.3.1 Table A.14).
const (
	uiNative   = "01"
	uiHTML     = "02"
	uiBoth     = "03" // sdkInterface only
	uiTypeText = "01"
	uiTypeOOB  = "04"
	// deviceUserInterfaceMode (2.3.1): the ACS designs for portrait, as phones are held at checkout.
	uiModePortrait = "01"
)

// ReasonAppUI: the SDK renders none of the UIs the card's method needs.
const ReasonAppUI = "app_ui_not_supported"

// appARes is what an app-channel ARes C adds: the UI chosen and the signed content.
type appARes struct {
	iface, template string
	signed          string
	cekEnc          []byte
}

// chooseUI picks the UI of an app challenge from what the SDK can render (deviceRenderOptions): the
// app card is confirmed out of band in the bank's app (04), the mTAN card by text entry (01), as native
// UI where the SDK has it, else as the HTML UI (05). An SDK with neither is refused with U/03.
func chooseUI(a *AReq, method registration.Method) (iface, template string, ok bool) {
	if a.SDKType != "" && a.SDKType != "01" && a.SDKType != "02" {
		return "", "", false // a DS-specific SDK type (80-99) this ACS does not know
	}
	want := uiTypeText
	if method == registration.MethodApp {
		want = uiTypeOOB
	}
	native := a.SDKInterface == uiNative || a.SDKInterface == uiBoth
	html := a.SDKInterface == uiHTML || a.SDKInterface == uiBoth
	switch {
	case native && slices.Contains(a.SDKUITypes, want):
		return uiNative, want, true
	case html && slices.Contains(a.SDKUITypes, uiTypeHTML):
		return uiHTML, uiTypeHTML, true // the same challenge as a page the SDK shows (apphtml.go)
	}
	return "", "", false
}

// open sets up the secure channel of one transaction (2.3.1 6.2.3.2): a fresh ephemeral key, the key
// agreement with the SDK's key, acsSignedContent signed by the HSM key with the scheme's chain, and the
// derived key encrypted for storage under the transaction's id. The ephemeral private key is not kept.
func (ac *AppChannel) open(a *AReq, scheme, acsTransID string, app *appARes) error {
	chain := ac.Chains[scheme]
	if len(chain) == 0 {
		return fmt.Errorf("acs: no app-channel certificate for scheme %s", scheme)
	}
	eph, err := sdkcrypto.NewEphemeral()
	if err != nil {
		return err
	}
	cek, err := sdkcrypto.DeriveCEK(eph, a.SDKEphemPubKey, a.SDKReferenceNumber)
	if err != nil {
		return err
	}
	signer := ac.Signer
	if s, ok := ac.Signers[scheme]; ok {
		signer = s
	}
	if app.signed, err = sdkcrypto.SignContent(signer, chain, ac.URL, sdkcrypto.PublicJWK(eph.PublicKey()), a.SDKEphemJWK); err != nil {
		return err
	}
	app.cekEnc, err = ac.Keys.Encrypt(sessionKeyAD(acsTransID), cek)
	clear(cek)
	return err
}

// Columns are the app channel's encrypted columns, for key rotation (acs keys reencrypt).
var Columns = []envelope.Column{
	{Table: "acs_sdk_sessions", Column: "cek_enc", IDColumn: "acs_trans_id"},
	{Table: "acs_sdk_sessions", Column: "mtan_entered_enc", IDColumn: "acs_trans_id"},
}

// sessionKeyAD binds a stored session key to its transaction.
func sessionKeyAD(acsTransID string) envelope.AD {
	return envelope.AD{Table: "acs_sdk_sessions", Column: "cek_enc", Row: acsTransID}
}

// set writes the app-channel elements of an ARes C.
func (app *appARes) set(m *emv.Message) {
	app.setRendering(m)
	m.Set("acsSignedContent", app.signed)
}

// setRendering writes acsRenderingType (ARes and RReq).
func (app *appARes) setRendering(m *emv.Message) {
	rt := map[string]string{"acsInterface": app.iface, "acsUiTemplate": app.template}
	if m.Version == emv.V231 {
		rt["deviceUserInterfaceMode"] = uiModePortrait
	}
	m.Set("acsRenderingType", rt)
}
