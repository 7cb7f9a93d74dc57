package acs_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"example.com/acs/audit"
	"example.com/acs/emv/sdkcrypto"
	"example.com/acs/internal/sim3ds"
	"example.com/acs/registration"
	"example.com/acs/sms"
)

// sdkPurchase sends an app-channel AReq (deviceChannel 01) for pan in version v with the SDK's elements
// through process a and returns the SDK, which accepted the ARes C, and the ARes.
func (fx *appFixture) sdkPurchase(t *testing.T, v, pan string, enc sdkcrypto.Enc) (*sim3ds.SDK, map[string]any) {
	t.Helper()
	sdk, err := sim3ds.NewSDK(v, fx.signing.roots, enc)
	if err != nil {
		t.Fatal(err)
	}
	return sdk, fx.sdkAReq(t, sdk, pan)
}

// sdkAReq sends sdk's AReq for pan and has it accept the ARes C.
func (fx *appFixture) sdkAReq(t *testing.T, sdk *sim3ds.SDK, pan string) map[string]any {
	t.Helper()
	v := sdk.Version
	set := versionSet(v, sdk.AReqFields())
	set["acctNumber"] = pan
	a, err := fx.sim.AReq(areqFile, set)
	if err != nil {
		t.Fatal(err)
	}
	_, ares, err := fx.sim.Send(a)
	if err != nil || ares["transStatus"] != "C" {
		t.Fatalf("ARes: %v %v %v", ares, err, fx.sim.Problems())
	}
	if _, ok := ares["acsURL"]; ok {
		t.Error("an app-channel ARes has acsURL outside acsSignedContent (2.3.1 Table A.1)")
	}
	if err := sdk.Accept(ares); err != nil {
		t.Fatal(err)
	}
	// Issue 14: the fixture's Mastercard requires PS256 (an RSA key), Visa takes ES256 (acsSignedContent,
	// the JWS of EMV 3DS 2.3.1 6.2.3.2, A.4 Table A.1 p.204).
	if want := map[byte]string{'4': "ES256", '5': "PS256"}[pan[0]]; sdk.SignedWith != want {
		t.Fatalf("acsSignedContent for %s... signed with %s, want %s", pan[:6], sdk.SignedWith, want)
	}
	if p := fx.sim.Problems(); len(p) > 0 {
		t.Fatalf("the ARes breaks its table: %v", p)
	}
	return ares
}

// The app card through a merchant app's SDK (issue 14; EMV 3DS 2.3.1 6.2.3-6.2.4, Table A.20): the ARes
// announces the OOB UI and carries acsSignedContent that verifies against the DS CA; the first CReq
// sends the confirmation to the bank's app; oobContinue before the app answered shows the OOB screen
// again; the app approves with its PIN; the next oobContinue, posted to the second process, gets the
// final CRes Y after the RReq went to the DS with the SDK's transaction id and the UI.
func TestAppChannelOOBApprove(t *testing.T) {
	for _, v := range []string{"2.2.0", "2.3.1"} {
		for _, enc := range []sdkcrypto.Enc{sdkcrypto.A128CBCHS256, sdkcrypto.A128GCM} {
			t.Run(v+"/"+string(enc), func(t *testing.T) {
				fx := newAppFixture(t)
				sdk, ares := fx.sdkPurchase(t, v, noahPAN, enc)
				rt, _ := ares["acsRenderingType"].(map[string]any)
				if rt["acsInterface"] != "01" || rt["acsUiTemplate"] != "04" {
					t.Fatalf("acsRenderingType %v", ares["acsRenderingType"])
				}
				cres, erro, err := sdk.Step(nil)
				if err != nil || erro != nil {
					t.Fatalf("first CReq: %v %v\n%s", erro, err, fx.Logs.String())
				}
				if cres["acsUiType"] != "04" || cres["challengeCompletionInd"] != "N" || cres["oobContinueLabel"] == nil ||
					!strings.Contains(cres["challengeInfoText"].(string), "49,90 EUR") {
					t.Fatalf("OOB CRes: %v", cres)
				}
				list := fx.pending(t, fx.a)
				if len(list) != 1 || list[0].ID.String() != ares["acsTransID"] {
					t.Fatalf("the app lists %v", list)
				}
				// oobContinue before the app answered: the OOB screen again, nothing ends.
				if cres, erro, err = sdk.Step(map[string]any{"oobContinue": sdk.OOBContinue()}); err != nil || cres["challengeCompletionInd"] != "N" {
					t.Fatalf("early oobContinue: %v %v %v", cres, erro, err)
				}
				if code, out := fx.answerVia(t, fx.a, list[0].Confirmation, "approve", "pin", "4821"); code != 200 {
					t.Fatalf("approve: %d %v", code, out)
				}
				sdk.SetACSURL(fx.b.url + "/3ds/app") // any process answers the next CReq
				final, erro, err := sdk.Step(map[string]any{"oobContinue": sdk.OOBContinue()})
				if err != nil || erro != nil || final["transStatus"] != "Y" || final["challengeCompletionInd"] != "Y" {
					t.Fatalf("final CRes: %v %v %v", final, erro, err)
				}
				rreqs := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
				if len(rreqs) != 1 || rreqs[0].Message["transStatus"] != "Y" || rreqs[0].Message["sdkTransID"] != sdk.TransID ||
					rreqs[0].Message["acsRenderingType"] == nil {
					t.Fatalf("RReq: %v", rreqs)
				}
				// Issue 15: the AAV's control byte says app channel (0x91), its method the app's PIN.
				if av, _ := rreqs[0].Message["authenticationValue"].(string); !strings.HasPrefix(describeAV(av), "<Mastercard AAV: control 91, method 2 key 1,") {
					t.Fatalf("app-channel AAV: %s", describeAV(av))
				}
				if p := fx.sim.Problems(); len(p) > 0 {
					t.Fatalf("messages break their tables: %v", p)
				}
			})
		}
	}
}

// A CReq that is tampered with, replayed, out of sequence, or encrypted under another transaction's
// key gets Erro 302 (2.3.1 5.9.5, 6.2.4.3), and the transaction ends with U and challengeCancel 10
// (06 before 2.3.1) in its RReq, which carries the Erro (challengeErrorReporting, 2.3.1). A CReq
// naming no transaction gets 301 and changes nothing.
func TestAppChannelRefusedCReqs(t *testing.T) {
	cases := map[string]func(t *testing.T, fx *appFixture, sdk *sim3ds.SDK) string{
		"tampered": func(t *testing.T, fx *appFixture, sdk *sim3ds.SDK) string {
			body, _ := sdk.Seal(nil)
			parts := strings.Split(body, ".")
			ct, _ := base64.RawURLEncoding.DecodeString(parts[3])
			ct[0] ^= 1
			parts[3] = base64.RawURLEncoding.EncodeToString(ct)
			return strings.Join(parts, ".")
		},
		"replayed": func(t *testing.T, fx *appFixture, sdk *sim3ds.SDK) string {
			body, _ := sdk.Seal(nil)
			if _, _, raw, err := sdk.Post(body); err != nil || strings.Contains(string(raw), "Erro") {
				t.Fatalf("first CReq: %s %v", raw, err)
			}
			return body // the same CReq again
		},
		"out of sequence": func(t *testing.T, fx *appFixture, sdk *sim3ds.SDK) string {
			body, _ := sdk.Seal(map[string]any{"sdkCounterStoA": "001"})
			return body
		},
		"another transaction's key": func(t *testing.T, fx *appFixture, sdk *sim3ds.SDK) string {
			other, _ := fx.sdkPurchase(t, sdk.Version, noahPAN, sdk.Enc)
			body, _ := other.Seal(map[string]any{"acsTransID": nil})
			// Other's ciphertext under this transaction's kid.
			h, _ := sdk.Seal(nil)
			return strings.SplitN(h, ".", 2)[0] + "." + strings.SplitN(body, ".", 2)[1]
		},
	}
	for _, v := range []string{"2.2.0", "2.3.1"} {
		for name, build := range cases {
			t.Run(v+"/"+name, func(t *testing.T) {
				fx := newAppFixture(t)
				sdk, ares := fx.sdkPurchase(t, v, noahPAN, sdkcrypto.A128GCM)
				body := build(t, fx, sdk)
				_, ctype, raw, err := sdk.Post(body)
				if err != nil || !strings.HasPrefix(ctype, "application/json") || !strings.Contains(string(raw), `"errorCode":"302"`) {
					t.Fatalf("got %s %s %v", ctype, raw, err)
				}
				rreqs := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
				want := "10"
				if v != "2.3.1" {
					want = "06"
				}
				if len(rreqs) != 1 || rreqs[0].Message["transStatus"] != "U" || rreqs[0].Message["challengeCancel"] != want {
					t.Fatalf("RReq: %v", rreqs)
				}
				if v == "2.3.1" && rreqs[0].Message["challengeErrorReporting"] == nil {
					t.Error("the RReq does not carry the Erro")
				}
			})
		}
	}
	t.Run("unknown transaction", func(t *testing.T) {
		fx := newAppFixture(t)
		sdk, ares := fx.sdkPurchase(t, "2.3.1", noahPAN, sdkcrypto.A128GCM)
		body, _ := sdk.Seal(nil)
		parts := strings.Split(body, ".")
		parts[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"dir","enc":"A128GCM","kid":"9f0c3c2e-8a0e-4a7e-9a55-0a1b2c3d4e5f"}`))
		_, _, raw, err := sdk.Post(strings.Join(parts, "."))
		if err != nil || !strings.Contains(string(raw), `"errorCode":"301"`) {
			t.Fatalf("got %s %v", raw, err)
		}
		if r := fx.sim.RReqs(ares["threeDSServerTransID"].(string)); len(r) != 0 {
			t.Fatalf("an RReq for a CReq naming another transaction: %v", r)
		}
		// The transaction is untouched: its real first CReq still works.
		if cres, erro, err := sdk.Step(nil); err != nil || erro != nil || cres["acsUiType"] != "04" {
			t.Fatalf("first CReq after the stray one: %v %v %v", cres, erro, err)
		}
	})
}

// registerMTAN registers Anna's card for mTAN in the fixture's database.
func (fx *appFixture) registerMTAN(t *testing.T) {
	t.Helper()
	reg := registration.New(registration.Deps{Pool: fx.Pool, Cards: fx.Cards, Letters: fx.Letters, Data: fx.Keys, Keys: fx.HSM,
		Outbox: sms.NewOutbox(fx.Keys, fx.Clock), Audit: audit.New(fx.Pool, fx.Clock), Clock: fx.Clock, Log: fx.Log,
		SMSPrice: decimal.Zero, Currency: "EUR"})
	registerAnnaMTAN(t, fx.Stack, reg)
}

// The mTAN card through the SDK's native text UI (2.3.1 Table A.20, A.26): 2.3.1 asks for mTAN and
// answer in two entry boxes of one CRes; 2.2.0, with one entry box, in two steps. A wrong entry shows
// the tries left (R-AUTH-5), a resend sends a new mTAN, the right entries end with Y.
func TestAppChannelTextMTAN(t *testing.T) {
	for _, v := range []string{"2.2.0", "2.3.1"} {
		t.Run(v, func(t *testing.T) {
			fx := newAppFixture(t)
			fx.registerMTAN(t)
			sdk, ares := fx.sdkPurchase(t, v, "4000110000000017", sdkcrypto.A128CBCHS256)
			if rt, _ := ares["acsRenderingType"].(map[string]any); rt["acsUiTemplate"] != "01" {
				t.Fatalf("acsRenderingType %v", ares["acsRenderingType"])
			}
			cres, erro, err := sdk.Step(nil)
			if err != nil || erro != nil || cres["acsUiType"] != "01" || cres["submitAuthenticationLabel"] == nil {
				t.Fatalf("first CRes: %v %v %v\n%s", cres, erro, err, fx.Logs.String())
			}
			mtan := sixDigits.FindString(fx.DeliverSMS(t))
			enter := func(code, answer string) map[string]any {
				t.Helper()
				if v == "2.3.1" {
					if cres["challengeEntryBox"] == nil || cres["challengeEntryBoxTwo"] == nil {
						t.Fatalf("2.3.1 CRes without two entry boxes: %v", cres)
					}
					c, e, err := sdk.Step(map[string]any{"challengeDataEntry": code, "challengeDataEntryTwo": answer})
					if err != nil || e != nil {
						t.Fatalf("entry: %v %v\n%s", e, err, fx.Logs.String())
					}
					return c
				}
				if c, e, err := sdk.Step(map[string]any{"challengeDataEntry": code}); err != nil || e != nil ||
					!strings.Contains(c["challengeInfoLabel"].(string), "geboren") {
					t.Fatalf("2.2.0 mTAN step: %v %v %v", c, e, err)
				}
				c, e, err := sdk.Step(map[string]any{"challengeDataEntry": answer})
				if err != nil || e != nil {
					t.Fatalf("2.2.0 answer step: %v %v", e, err)
				}
				return c
			}
			cres = enter(mtan, "Hamburg")
			if cres["challengeCompletionInd"] != "N" || !strings.Contains(cres["challengeInfoText"].(string), "Verbleibende Versuche: 4") {
				t.Fatalf("after a wrong answer: %v", cres)
			}
			if cres, erro, err = sdk.Step(map[string]any{"resendChallenge": "Y"}); err != nil || erro != nil ||
				!strings.Contains(cres["challengeInfoText"].(string), "neue mTAN") {
				t.Fatalf("resend: %v %v %v", cres, erro, err)
			}
			fresh := sixDigits.FindString(fx.DeliverSMS(t))
			final := enter(fresh, "Kiel")
			if final["transStatus"] != "Y" || final["challengeCompletionInd"] != "Y" {
				t.Fatalf("final CRes: %v", final)
			}
			if r := fx.sim.RReqs(ares["threeDSServerTransID"].(string)); len(r) != 1 || r[0].Message["transStatus"] != "Y" {
				t.Fatalf("RReq: %v", r)
			}
		})
	}
}

// Cancel in the SDK ends the challenge with N and challengeCancel 01; the final CRes says N.
func TestAppChannelCancel(t *testing.T) {
	fx := newAppFixture(t)
	sdk, ares := fx.sdkPurchase(t, "2.3.1", noahPAN, sdkcrypto.A128GCM)
	if _, _, err := sdk.Step(nil); err != nil {
		t.Fatal(err)
	}
	final, erro, err := sdk.Step(map[string]any{"challengeCancel": "01"})
	if err != nil || erro != nil || final["transStatus"] != "N" || final["challengeCompletionInd"] != "Y" {
		t.Fatalf("final CRes: %v %v %v", final, erro, err)
	}
	if r := fx.sim.RReqs(ares["threeDSServerTransID"].(string)); len(r) != 1 || r[0].Message["challengeCancel"] != "01" {
		t.Fatalf("RReq: %v", r)
	}
	if len(fx.pending(t, fx.a)) != 0 {
		t.Error("the app still lists the cancelled confirmation")
	}
}

// Five wrong entries in the SDK's text UI end the challenge with N (R-AUTH-6; 2.3.1 Req 61: reason 19)
// and the final CRes says N; the method counts them like the page's.
func TestAppChannelTextFiveWrong(t *testing.T) {
	fx := newAppFixture(t)
	fx.registerMTAN(t)
	sdk, ares := fx.sdkPurchase(t, "2.3.1", "4000110000000017", sdkcrypto.A128GCM)
	if _, _, err := sdk.Step(nil); err != nil {
		t.Fatal(err)
	}
	mtan := sixDigits.FindString(fx.DeliverSMS(t))
	var cres map[string]any
	for i := range 5 {
		var erro map[string]any
		var err error
		cres, erro, err = sdk.Step(map[string]any{"challengeDataEntry": mtan, "challengeDataEntryTwo": "Hamburg"})
		if err != nil || erro != nil {
			t.Fatalf("entry %d: %v %v", i+1, erro, err)
		}
		if i < 4 && cres["challengeCompletionInd"] != "N" {
			t.Fatalf("entry %d ended the challenge: %v", i+1, cres)
		}
	}
	if cres["transStatus"] != "N" || cres["challengeCompletionInd"] != "Y" {
		t.Fatalf("after five wrong entries: %v", cres)
	}
	if r := fx.sim.RReqs(ares["threeDSServerTransID"].(string)); len(r) != 1 || r[0].Message["transStatus"] != "N" ||
		r[0].Message["transStatusReason"] != "19" {
		t.Fatalf("RReq: %v", r)
	}
}

// The first CReq more than 30 seconds after the ARes (Req 220-222): the transaction has timed out, the
// SDK gets Erro 402 and the RReq says N/14 with challengeCancel 05.
func TestAppChannelFirstCReqLate(t *testing.T) {
	fx := newAppFixture(t)
	sdk, ares := fx.sdkPurchase(t, "2.3.1", noahPAN, sdkcrypto.A128CBCHS256)
	fx.Clock.Advance(31 * time.Second)
	_, erro, err := sdk.Step(nil)
	if err != nil || erro == nil || erro["errorCode"] != "402" {
		t.Fatalf("late first CReq: %v %v", erro, err)
	}
	if err := fx.a.results.DeliverNow(context.Background(), uuid.MustParse(ares["acsTransID"].(string))); err != nil {
		t.Fatal(err)
	}
	r := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
	if len(r) != 1 || r[0].Message["transStatusReason"] != "14" || r[0].Message["challengeCancel"] != "05" {
		t.Fatalf("RReq: %v", r)
	}
}

// An app transaction's challenge cannot be driven through the browser's unencrypted CReq form: the
// ids the 3DS Server, the DS and the merchant's app all know are not enough (301, nothing sent, the
// SDK's own CReq still opens it).
func TestAppChannelNotThroughTheBrowserForm(t *testing.T) {
	fx := newAppFixture(t)
	sdk, ares := fx.sdkPurchase(t, "2.3.1", noahPAN, sdkcrypto.A128GCM)
	// As a browser would post it, to the browser's challenge URL.
	browser := map[string]any{"acsURL": fx.a.url + "/3ds/challenge"}
	for k, v := range ares {
		browser[k] = v
	}
	page, err := fx.sim.Challenge(browser, sim3ds.CReq(browser, "05", nil), "c2Vzc2lvbi0x", "de")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Forms) > 0 && page.Forms[0].Fields.Get("t") != "" {
		t.Fatalf("the browser form opened an app transaction's challenge: %.400s", page.Body)
	}
	if n := len(fx.pending(t, fx.a)); n != 0 {
		t.Fatalf("the browser form sent %d confirmations to the app", n)
	}
	if cres, erro, err := sdk.Step(nil); err != nil || erro != nil || cres["acsUiType"] != "04" {
		t.Fatalf("the SDK's first CReq: %v %v %v", cres, erro, err)
	}
}

// An Erro the SDK posts (here: it could not decrypt a CRes) ends the transaction with U and
// challengeCancel 09, the Erro copied into the RReq (2.3.1 5.9.5); after the final CRes, a further
// CReq is refused with 315 and changes nothing; a data entry in the OOB UI breaks Table A.16 (203).
func TestAppChannelSDKErroAndAfterTheEnd(t *testing.T) {
	t.Run("SDK Erro", func(t *testing.T) {
		fx := newAppFixture(t)
		sdk, ares := fx.sdkPurchase(t, "2.3.1", noahPAN, sdkcrypto.A128GCM)
		if _, _, err := sdk.Step(nil); err != nil {
			t.Fatal(err)
		}
		erro := `{"messageType":"Erro","messageVersion":"2.3.1","threeDSServerTransID":"` + ares["threeDSServerTransID"].(string) +
			`","acsTransID":"` + ares["acsTransID"].(string) + `","sdkTransID":"` + sdk.TransID +
			`","errorCode":"302","errorComponent":"C","errorDescription":"Data could not be decrypted","errorDetail":"CRes","errorMessageType":"CRes"}`
		if status, _, _, err := sdk.Post(erro); err != nil || status != 200 {
			t.Fatalf("posting the Erro: %d %v", status, err)
		}
		r := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
		if len(r) != 1 || r[0].Message["transStatus"] != "U" || r[0].Message["challengeCancel"] != "09" ||
			r[0].Message["challengeErrorReporting"] == nil {
			t.Fatalf("RReq: %v", r)
		}
	})
	t.Run("after the final CRes", func(t *testing.T) {
		fx := newAppFixture(t)
		sdk, ares := fx.sdkPurchase(t, "2.3.1", noahPAN, sdkcrypto.A128CBCHS256)
		if _, _, err := sdk.Step(nil); err != nil {
			t.Fatal(err)
		}
		if final, _, err := sdk.Step(map[string]any{"challengeCancel": "01"}); err != nil || final["transStatus"] != "N" {
			t.Fatalf("cancel: %v %v", final, err)
		}
		_, erro, err := sdk.Step(map[string]any{"oobContinue": "01"})
		if err != nil || erro == nil || erro["errorCode"] != "315" {
			t.Fatalf("a CReq after the final CRes: %v %v", erro, err)
		}
		if r := fx.sim.RReqs(ares["threeDSServerTransID"].(string)); len(r) != 1 {
			t.Fatalf("RReqs: %v", r)
		}
	})
	t.Run("entry in the OOB UI", func(t *testing.T) {
		fx := newAppFixture(t)
		sdk, ares := fx.sdkPurchase(t, "2.3.1", noahPAN, sdkcrypto.A128GCM)
		if _, _, err := sdk.Step(nil); err != nil {
			t.Fatal(err)
		}
		_, erro, err := sdk.Step(map[string]any{"challengeDataEntry": "123456"})
		if err != nil || erro == nil || erro["errorCode"] != "203" || erro["errorDetail"] != "challengeDataEntry" {
			t.Fatalf("an entry in the OOB UI: %v %v", erro, err)
		}
		if r := fx.sim.RReqs(ares["threeDSServerTransID"].(string)); len(r) != 1 || r[0].Message["transStatus"] != "U" {
			t.Fatalf("RReq: %v", r)
		}
	})
}

// An SDK that renders HTML only gets the HTML UI (acsUiType 05, 2.3.1 Req 160-165, 393): a
// self-contained page (no external reference) whose form goes to HTTPS://EMV3DS/challenge; the SDK
// passes the form on as challengeHTMLDataEntry. The mTAN card: a wrong answer shows the page again with
// the notice, the right entries end with Y. The app card: the page says to confirm in the app;
// "continue" after the approval gives the final CRes.
func TestAppChannelHTMLUI(t *testing.T) {
	page := func(t *testing.T, cres map[string]any) string {
		t.Helper()
		if cres["acsUiType"] != "05" || cres["challengeCompletionInd"] != "N" {
			t.Fatalf("HTML CRes: %v", cres)
		}
		b, err := base64.RawURLEncoding.DecodeString(cres["acsHTML"].(string))
		if err != nil {
			t.Fatal(err)
		}
		html := string(b)
		if !strings.Contains(html, `action="HTTPS://EMV3DS/challenge"`) || strings.Contains(html, "src=") || strings.Contains(html, "<link") ||
			strings.Contains(strings.ReplaceAll(html, "HTTPS://EMV3DS/challenge", ""), "http") {
			t.Fatalf("the page is not self-contained or does not submit to the SDK: %s", html)
		}
		return html
	}
	t.Run("mTAN", func(t *testing.T) {
		fx := newAppFixture(t)
		fx.registerMTAN(t)
		sdk, err := sim3ds.NewSDK("2.3.1", fx.signing.roots, sdkcrypto.A128GCM)
		if err != nil {
			t.Fatal(err)
		}
		sdk.Interface, sdk.UITypes = "02", []string{"05"}
		ares := fx.sdkAReq(t, sdk, "4000110000000017")
		if rt, _ := ares["acsRenderingType"].(map[string]any); rt["acsInterface"] != "02" || rt["acsUiTemplate"] != "05" {
			t.Fatalf("acsRenderingType %v", ares["acsRenderingType"])
		}
		cres, _, err := sdk.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		if html := page(t, cres); !strings.Contains(html, "49,90 EUR") || !strings.Contains(html, `autocomplete="one-time-code"`) {
			t.Fatalf("page: %s", html)
		}
		mtan := sixDigits.FindString(fx.DeliverSMS(t))
		if cres, _, err = sdk.Step(map[string]any{"challengeHTMLDataEntry": "mtan=" + mtan + "&answer=Hamburg&action=verify"}); err != nil {
			t.Fatal(err)
		}
		if html := page(t, cres); !strings.Contains(html, "nicht korrekt") {
			t.Fatalf("after a wrong answer: %s", html)
		}
		final, _, err := sdk.Step(map[string]any{"challengeHTMLDataEntry": "mtan=" + mtan + "&answer=Kiel&action=verify"})
		if err != nil || final["transStatus"] != "Y" {
			t.Fatalf("final: %v %v", final, err)
		}
	})
	t.Run("app", func(t *testing.T) {
		fx := newAppFixture(t)
		sdk, err := sim3ds.NewSDK("2.3.1", fx.signing.roots, sdkcrypto.A128CBCHS256)
		if err != nil {
			t.Fatal(err)
		}
		sdk.Interface, sdk.UITypes = "03", []string{"05"}
		fx.sdkAReq(t, sdk, noahPAN)
		cres, _, err := sdk.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		if html := page(t, cres); !strings.Contains(html, "in der App Ihrer Bank") {
			t.Fatalf("page: %s", html)
		}
		list := fx.pending(t, fx.a)
		if code, _ := fx.answerVia(t, fx.a, list[0].Confirmation, "approve", "biometric", ""); code != 200 {
			t.Fatalf("approve: %d", code)
		}
		final, _, err := sdk.Step(map[string]any{"challengeHTMLDataEntry": "action=continue"})
		if err != nil || final["transStatus"] != "Y" {
			t.Fatalf("final: %v %v", final, err)
		}
	})
}

// The app channel's screens are written in the phone's locale that the SDK reports (deviceInfo, EMV 3DS
// 2.3.1 A.4 Table A.1 p.247, base64url JSON; its data element C005 "Locale" is EMVCo's SDK Device
// Information specification's, not among the stored documents):
// English for en-US, German (the bank's language) for de-DE, for anything else and for a malformed
// deviceInfo.
func TestAppChannelLocale(t *testing.T) {
	fx := newAppFixture(t)
	for _, c := range []struct{ locale, header string }{{"en-US", "Confirm your payment"}, {"de-DE", "Zahlung bestätigen"},
		{"fr-FR", "Zahlung bestätigen"}, {"<script>", "Zahlung bestätigen"}} {
		sdk, err := sim3ds.NewSDK("2.3.1", fx.signing.roots, sdkcrypto.A128GCM)
		if err != nil {
			t.Fatal(err)
		}
		sdk.Locale = c.locale
		fx.sdkAReq(t, sdk, noahPAN)
		cres, erro, err := sdk.Step(nil)
		if err != nil || erro != nil || cres["challengeInfoHeader"] != c.header {
			t.Fatalf("%s: %v %v %v", c.locale, cres["challengeInfoHeader"], erro, err)
		}
		if _, _, err := sdk.Step(map[string]any{"challengeCancel": "01"}); err != nil {
			t.Fatal(err)
		}
	}
}

// The app card through the SDK, declined in the bank's app or with the biometric check failed
// ("Identifikation fehlgeschlagen", R-AUTH-6): the next oobContinue gets the final CRes N, and the RReq
// says N with reason 01 (authentication failed) and the app's method.
func TestAppChannelOOBDeclinedAndIdentificationFailed(t *testing.T) {
	for _, c := range []struct{ decision, how string }{{"decline", ""}, {"approve", "biometric_failed"}} {
		for _, v := range []string{"2.2.0", "2.3.1"} {
			t.Run(c.decision+c.how+"/"+v, func(t *testing.T) {
				fx := newAppFixture(t)
				sdk, ares := fx.sdkPurchase(t, v, noahPAN, sdkcrypto.A128GCM)
				if _, erro, err := sdk.Step(nil); err != nil || erro != nil {
					t.Fatalf("first CReq: %v %v", erro, err)
				}
				list := fx.pending(t, fx.a)
				if len(list) != 1 {
					t.Fatalf("pending: %v", list)
				}
				if code, out := fx.answerVia(t, fx.a, list[0].Confirmation, c.decision, c.how, ""); code != 200 || out["trans_status"] != "N" {
					t.Fatalf("answer: %d %v", code, out)
				}
				final, erro, err := sdk.Step(map[string]any{"oobContinue": sdk.OOBContinue()})
				if err != nil || erro != nil || final["transStatus"] != "N" || final["challengeCompletionInd"] != "Y" {
					t.Fatalf("final CRes: %v %v %v", final, erro, err)
				}
				r := fx.sim.RReqs(ares["threeDSServerTransID"].(string))
				if len(r) != 1 || r[0].Message["transStatus"] != "N" || r[0].Message["transStatusReason"] != "01" ||
					r[0].Message["authenticationValue"] != nil {
					t.Fatalf("RReq: %v", r)
				}
			})
		}
	}
}
