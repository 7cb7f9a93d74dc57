package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"example.com/acs/appapi"
	"example.com/acs/emv/sdkcrypto"
	"example.com/acs/internal/fleet"
	"example.com/acs/internal/sim3ds"
)

// Cards of testdata/cards.csv the scenarios use; `acs demo seed` registers Anna's for mTAN with the
// security answer below.
const (
	cardMTAN       = "4000110000000017" // Anna Schmidt: registered for mTAN
	cardNotRegd    = "4000110000000025" // known to the issuer, never registered
	securityAnswer = "Kiel"
)

// areqTemplate is the sample AReq with placeholders for what changes per request, so that a request is
// built by one string replacement instead of a JSON encoding (the load tool shares the ACS's CPU).
type areqTemplate struct{ body string }

func loadTemplate(path string, set map[string]any) (*areqTemplate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "someFutureElement")
	m["threeDSServerTransID"], m["dsTransID"] = "@TX@", "@DS@"
	m["acctNumber"], m["purchaseAmount"], m["merchantName"] = "@PAN@", "@AMOUNT@", "@MERCHANT@"
	for k, v := range set {
		m[k] = v
	}
	out, err := json.Marshal(m)
	return &areqTemplate{body: string(out)}, err
}

func (t *areqTemplate) build(pan, amount, merchant string) ([]byte, string) {
	tx := uuid.NewString()
	return []byte(strings.NewReplacer("@TX@", tx, "@DS@", uuid.NewString(), "@PAN@", pan, "@AMOUNT@", amount,
		"@MERCHANT@", merchant).Replace(t.body)), tx
}

// ares is what a scenario looks at in an answer.
type ares struct {
	MessageType, TransStatus, TransStatusReason, ACSURL, ACSTransID, MessageVersion string
	ThreeDSServerTransID                                                            string `json:"threeDSServerTransID"`
	ErrorCode                                                                       string
	ErrorDetail                                                                     string
}

// driver sends what a 3DS Server and a browser send.
type driver struct {
	acs    string
	client *http.Client
	tmpl   *areqTemplate
	peers  *peers
	sim    *sim3ds.Sim // used only for its browser: posting forms and reading pages
	seq    atomic.Int64
	// fleet and phone are the app cards and their phone (appFlow); nil without -fleet.
	fleet *fleet.Pool
	phone *fleet.Phone
	// roots is the DS CA the SDK of appSDKFlow trusts.
	roots *x509.CertPool
}

func (d *driver) areq(ctx context.Context, pan, amount, merchant string) (*ares, map[string]any, error) {
	body, _ := d.tmpl.build(pan, amount, merchant)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.acs+"/3ds/areq", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("AReq: HTTP %d", resp.StatusCode)
	}
	var a ares
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, nil, err
	}
	if a.MessageType != "ARes" {
		return nil, nil, fmt.Errorf("AReq: %s %s %s", a.MessageType, a.ErrorCode, a.ErrorDetail)
	}
	var m map[string]any
	if a.TransStatus == "C" {
		_ = json.Unmarshal(raw, &m) // the challenge's CReq is built from it
	}
	return &a, m, nil
}

// expectAReq is a scenario of single AReqs answered with status (and reason, where given).
func (d *driver) expectAReq(pan, amount, status, reason string) op {
	return func(ctx context.Context, w int) error {
		a, _, err := d.areq(ctx, pan, amount, "Beispiel-Shop")
		if err != nil {
			return err
		}
		if a.TransStatus != status || (reason != "" && a.TransStatusReason != reason) {
			return fmt.Errorf("ARes %s/%s, want %s/%s", a.TransStatus, a.TransStatusReason, status, reason)
		}
		return nil
	}
}

// mtanFlow is a whole browser purchase with an mTAN: AReq (C), CReq, the mTAN by SMS, the code and
// security answer typed in, and the final CRes posted to the merchant. Each purchase has a merchant
// name of its own, by which its SMS is told apart from the others'.
func (d *driver) mtanFlow(ctx context.Context, w int) error {
	merchant := fmt.Sprintf("Bench %d-%d", w, d.seq.Add(1))
	code, done := d.peers.sms.Expect(merchant)
	defer done()
	a, m, err := d.areq(ctx, cardMTAN, "15000", merchant)
	if err != nil {
		return err
	}
	if a.TransStatus != "C" {
		return fmt.Errorf("ARes %s/%s, want C", a.TransStatus, a.TransStatusReason)
	}
	page, err := d.sim.Challenge(m, sim3ds.CReq(m, "05", nil), "YmVuY2g", "de")
	if err != nil {
		return err
	}
	if page.Status != http.StatusOK {
		return fmt.Errorf("challenge page: HTTP %d", page.Status)
	}
	var mtan string
	select {
	case mtan = <-code:
	case <-time.After(10 * time.Second):
		return errors.New("no mTAN within 10 s")
	case <-ctx.Done():
		return ctx.Err()
	}
	final, err := page.Submit("verify", map[string]string{"mtan": mtan, "answer": securityAnswer})
	if err != nil {
		return err
	}
	cres, ok, err := final.Final()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no final CRes after the mTAN (HTTP %d)", final.Status)
	}
	if cres["transStatus"] != "Y" {
		return fmt.Errorf("final CRes %v", cres["transStatus"])
	}
	return nil
}

// appFlow is a whole browser purchase confirmed in the bank's app: AReq (C) for a fleet card, CReq (the
// page says to confirm in the app), the app lists the card's waiting confirmation and approves it,
// signed with the device key and the app PIN, the page's status poll sees the challenge ended, and the
// page's form posts the final CRes. A card serves one client at a time and at most
// acs.MaxPushesPerWindow purchases a run (fleet.Pool).
func (d *driver) appFlow(ctx context.Context, w int) error {
	card, err := d.fleet.Take()
	if err != nil {
		return err
	}
	pushed := false
	defer func() { d.fleet.Give(card, pushed) }()
	a, m, err := d.areq(ctx, card.PAN, "15000", fmt.Sprintf("Bench %d-%d", w, d.seq.Add(1)))
	if err != nil {
		return err
	}
	if a.TransStatus != "C" {
		return fmt.Errorf("ARes %s/%s, want C", a.TransStatus, a.TransStatusReason)
	}
	pushed = true
	page, err := d.sim.Challenge(m, sim3ds.CReq(m, "05", nil), "YmVuY2g", "de")
	if err != nil {
		return err
	}
	if page.Status != http.StatusOK || len(page.Forms) == 0 {
		return fmt.Errorf("challenge page: HTTP %d", page.Status)
	}
	list, _, err := d.phone.Pending(card)
	if err != nil {
		return err
	}
	var conf *appapi.ConfirmationView
	for i := range list {
		if list[i].ID.String() == a.ACSTransID {
			conf = &list[i]
		}
	}
	if conf == nil {
		return errors.New("the app does not list the purchase's confirmation")
	}
	res, _, err := d.phone.Approve(card, *conf)
	if err != nil {
		return err
	}
	if res.TransStatus != "Y" {
		return fmt.Errorf("the app's approval answered %q", res.TransStatus)
	}
	resp, err := d.client.PostForm(d.acs+"/3ds/challenge/status", url.Values{"t": {page.Forms[0].Fields.Get("t")}})
	if err != nil {
		return err
	}
	var st struct {
		Ended bool `json:"ended"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || !st.Ended {
		return fmt.Errorf("status poll after the approval: HTTP %d, ended %v", resp.StatusCode, st.Ended)
	}
	final, err := page.Submit("status", nil)
	if err != nil {
		return err
	}
	cres, ok, err := final.Final()
	if err != nil {
		return err
	}
	if !ok || cres["transStatus"] != "Y" {
		return fmt.Errorf("final CRes %v (HTTP %d)", cres["transStatus"], final.Status)
	}
	return nil
}

// appSDKFlow is a purchase in a merchant's app confirmed in the bank's app (EMV 3DS app channel): the
// AReq with the SDK's elements (deviceChannel 01) for a fleet card, the SDK verifies acsSignedContent
// against the DS CA and derives the transaction's key, its first JWE CReq opens the challenge (OOB),
// the bank's app lists and approves, and the SDK's oobContinue gets the final CRes.
func (d *driver) appSDKFlow(ctx context.Context, w int) error {
	card, err := d.fleet.Take()
	if err != nil {
		return err
	}
	pushed := false
	defer func() { d.fleet.Give(card, pushed) }()
	sdk, err := sim3ds.NewSDK("2.2.0", d.roots, sdkcrypto.A128GCM)
	if err != nil {
		return err
	}
	sdk.Client = d.client
	m := map[string]any{}
	if err := json.Unmarshal([]byte(d.tmpl.body), &m); err != nil {
		return err
	}
	sim3ds.Apply(m, sdk.AReqFields())
	m["threeDSServerTransID"], m["dsTransID"], m["acctNumber"] = uuid.NewString(), uuid.NewString(), card.PAN
	m["purchaseAmount"], m["merchantName"] = "15000", fmt.Sprintf("Bench %d-%d", w, d.seq.Add(1))
	body, _ := json.Marshal(m)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.acs+"/3ds/areq", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	var ares map[string]any
	err = json.NewDecoder(resp.Body).Decode(&ares)
	resp.Body.Close()
	if err != nil || ares["transStatus"] != "C" {
		return fmt.Errorf("ARes %v %v", ares["transStatus"], err)
	}
	pushed = true
	if err := sdk.Accept(ares); err != nil {
		return err
	}
	if _, erro, err := sdk.Step(nil); err != nil || erro != nil {
		return fmt.Errorf("first CReq: %v %v", erro, err)
	}
	list, _, err := d.phone.Pending(card)
	if err != nil {
		return err
	}
	var conf *appapi.ConfirmationView
	for i := range list {
		if list[i].ID.String() == ares["acsTransID"] {
			conf = &list[i]
		}
	}
	if conf == nil {
		return errors.New("the app does not list the purchase's confirmation")
	}
	if res, _, err := d.phone.Approve(card, *conf); err != nil || res.TransStatus != "Y" {
		return fmt.Errorf("approval: %v %v", res.TransStatus, err)
	}
	final, erro, err := sdk.Step(map[string]any{"oobContinue": sdk.OOBContinue()})
	if err != nil || erro != nil || final["transStatus"] != "Y" {
		return fmt.Errorf("final CRes %v %v %v", final["transStatus"], erro, err)
	}
	return nil
}
