package sim3ds

import (
	"bytes"
	"crypto/ecdh"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"example.com/acs/emv"
	"example.com/acs/emv/sdkcrypto"
)

// SDK plays a merchant app's 3DS SDK from the EMV 3DS Core Specification 2.3.1, chapter 6.2.3-6.2.4:
// it makes its ephemeral key for the AReq, verifies the ARes's acsSignedContent against the DS CA it
// trusts (x5c chain, ES256 or PS256), checks that the signed sdkEphemPubKey is its own, derives the
// transaction's key, and exchanges CReq and CRes with the ACS as JWE with the two counters. Every CRes
// it opens is checked against the CRes table for the app channel; what fails is an error.
type SDK struct {
	Version string
	Roots   *x509.CertPool // the DS CA the SDK trusts (acsSignedContent)
	Enc     sdkcrypto.Enc  // the content encryption its CReqs use
	Client  *http.Client
	// UITypes and Interface are the deviceRenderOptions it announces.
	UITypes   []string
	Interface string

	TransID, AppID, RefNumber string
	// Locale is the phone's locale the SDK reports in deviceInfo (C005); the ACS writes its screens in it.
	Locale string
	// SignedWith is the JWS algorithm of the acsSignedContent Accept verified (ES256 or PS256).
	SignedWith string

	eph                *ecdh.PrivateKey
	acsURL, acsTransID string
	serverTransID      string
	cek                []byte
	stoa, atos         int
}

// NewSDK returns an SDK for one transaction in version v, trusting roots, announcing native UI with
// text, single and multi select and OOB.
func NewSDK(v string, roots *x509.CertPool, enc sdkcrypto.Enc) (*SDK, error) {
	eph, err := sdkcrypto.NewEphemeral()
	if err != nil {
		return nil, err
	}
	return &SDK{Version: v, Roots: roots, Enc: enc, Client: http.DefaultClient, UITypes: []string{"01", "02", "03", "04"},
		Interface: "01", TransID: uuid.NewString(), AppID: uuid.NewString(), RefNumber: "3DS_LOA_SDK_SIMU_020200_00001", Locale: "de-DE",
		eph: eph}, nil
}

// AReqFields are the app channel's AReq elements (2.3.1 Table A.1, deviceChannel 01), to set on a sample
// AReq; the browser's are removed.
func (s *SDK) AReqFields() map[string]any {
	dd := map[string]string{"C001": "Android", "C002": "Pixel 8"}
	if s.Locale != "" {
		dd["C005"] = s.Locale
	}
	device, _ := json.Marshal(map[string]any{"DV": "1.0", "DD": dd})
	m := map[string]any{"deviceChannel": "01", "sdkAppID": s.AppID, "sdkTransID": s.TransID, "sdkReferenceNumber": s.RefNumber,
		"sdkMaxTimeout": "05", "sdkEphemPubKey": json.RawMessage(sdkcrypto.PublicJWK(s.eph.PublicKey())),
		"deviceInfo":          base64.RawURLEncoding.EncodeToString(device),
		"deviceRenderOptions": map[string]any{"sdkInterface": s.Interface, "sdkUiType": s.UITypes},
	}
	if s.Version == string(emv.V231) {
		m["sdkType"], m["defaultSdkType"] = "01", map[string]any{"sdkVariant": "01"}
	}
	for _, b := range []string{"browserAcceptHeader", "browserIP", "browserJavaEnabled", "browserJavascriptEnabled", "browserLanguage",
		"browserColorDepth", "browserScreenHeight", "browserScreenWidth", "browserTZ", "browserUserAgent", "notificationURL",
		"threeDSCompInd", "acceptLanguage"} {
		m[b] = nil
	}
	return m
}

// Accept reads an ARes C as the SDK does (6.2.3.3): it verifies acsSignedContent with the DS CA, checks
// the signed sdkEphemPubKey against its own key, and derives the transaction's key with the ACS's
// ephemeral key.
func (s *SDK) Accept(ares map[string]any) error {
	signed, _ := ares["acsSignedContent"].(string)
	obj, err := jose.ParseSignedCompact(signed, []jose.SignatureAlgorithm{jose.ES256, jose.PS256})
	if err != nil || len(obj.Signatures) != 1 {
		return fmt.Errorf("sdk: acsSignedContent is not a JWS: %v", err)
	}
	chains, err := obj.Signatures[0].Protected.Certificates(x509.VerifyOptions{Roots: s.Roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("sdk: acsSignedContent's x5c does not chain to the DS CA: %w", err)
	}
	payload, err := obj.Verify(chains[0][0].PublicKey)
	if err != nil {
		return fmt.Errorf("sdk: acsSignedContent's signature: %w", err)
	}
	s.SignedWith = obj.Signatures[0].Protected.Algorithm
	var p struct {
		ACSEphem json.RawMessage `json:"acsEphemPubKey"`
		SDKEphem json.RawMessage `json:"sdkEphemPubKey"`
		ACSURL   string          `json:"acsURL"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	mine, err := sdkcrypto.ParsePublicJWK(p.SDKEphem)
	if err != nil || !mine.Equal(s.eph.PublicKey()) {
		return errors.New("sdk: the signed sdkEphemPubKey is not this SDK's key")
	}
	acsKey, err := sdkcrypto.ParsePublicJWK(p.ACSEphem)
	if err != nil {
		return errors.New("sdk: acsEphemPubKey is no P-256 key")
	}
	if s.cek, err = sdkcrypto.DeriveCEK(s.eph, acsKey, s.RefNumber); err != nil {
		return err
	}
	s.acsURL, s.acsTransID = p.ACSURL, fmt.Sprint(ares["acsTransID"])
	s.serverTransID = fmt.Sprint(ares["threeDSServerTransID"])
	return nil
}

// Seal builds the next CReq (2.3.1 Table B.3) with fields added and encrypts it, without sending it or
// moving the counter.
func (s *SDK) Seal(fields map[string]any) (string, error) {
	m := map[string]any{"messageType": "CReq", "messageVersion": s.Version, "threeDSServerTransID": s.serverTransID,
		"acsTransID": s.acsTransID, "sdkTransID": s.TransID, "sdkCounterStoA": fmt.Sprintf("%03d", s.stoa)}
	if s.Version == string(emv.V231) {
		m["oobAppURLInd"] = "02" // no app-switching in the simulator
	}
	Apply(m, fields)
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return sdkcrypto.SealCReq(s.cek, s.Enc, s.acsTransID, uint8(s.stoa), b)
}

// Post sends a CReq body as it is and returns the HTTP status, the content type and the body.
func (s *SDK) Post(body string) (int, string, []byte, error) {
	resp, err := s.Client.Post(s.acsURL, "application/jose; charset=UTF-8", bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw, err
}

// Step sends the next CReq with fields and returns the CRes, or the Erro the ACS answered with. The
// CRes's counter must be the one the SDK expects (6.2.4.4); its elements must pass the CRes table.
func (s *SDK) Step(fields map[string]any) (cres, erro map[string]any, err error) {
	body, err := s.Seal(fields)
	if err != nil {
		return nil, nil, err
	}
	s.stoa++
	status, ctype, raw, err := s.Post(body)
	if err != nil {
		return nil, nil, err
	}
	if status != http.StatusOK {
		return nil, nil, fmt.Errorf("sdk: HTTP %d: %s", status, raw)
	}
	if ctype != "application/jose; charset=UTF-8" {
		if err := json.Unmarshal(raw, &erro); err != nil || erro["messageType"] != "Erro" {
			return nil, nil, fmt.Errorf("sdk: %s answer that is no Erro: %s", ctype, raw)
		}
		return nil, erro, nil
	}
	plain, err := sdkcrypto.OpenCRes(s.cek, s.acsTransID, string(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("sdk: the CRes does not decrypt: %w", err)
	}
	if _, e := emv.Decode(plain, emv.TypeCRes, emv.Context{Channel: emv.APP}); e != nil {
		return nil, nil, fmt.Errorf("sdk: the CRes breaks its table: %s %s: %s", e.ErrorCode, e.ErrorDetail, plain)
	}
	if err := json.Unmarshal(plain, &cres); err != nil {
		return nil, nil, err
	}
	if got, _ := strconv.Atoi(fmt.Sprint(cres["acsCounterAtoS"])); got != s.atos {
		return nil, nil, fmt.Errorf("sdk: acsCounterAtoS %v, want %03d", cres["acsCounterAtoS"], s.atos)
	}
	s.atos++
	return cres, nil, nil
}

// SetACSURL sends the next CReqs to u: another process of the ACS, as a load balancer may route them.
func (s *SDK) SetACSURL(u string) { s.acsURL = u }

// OOBContinue is the oobContinue value of the SDK's version: "01" (the cardholder selected the
// button) in 2.3.1, true before it (2.2.0 has a boolean).
func (s *SDK) OOBContinue() any {
	if s.Version == string(emv.V231) {
		return "01"
	}
	return true
}
