package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"example.com/acs/internal/sim3ds"
	"example.com/acs/internal/smssink"
)

// The mTAN purchases of the chaos run are Anna Schmidt's (testdata/cards.csv), whom `acs demo seed`
// registers for mTAN with this security answer.
const (
	mtanCard   = "4000110000000017"
	mtanAnswer = "Kiel"
)

// smsGateway is the SMS gateway the nodes send to (sms.gateway: kannel): internal/smssink on a
// listener of its own.
type smsGateway struct {
	*smssink.Sink
	srv *http.Server
}

func startSMSGateway(addr string) (*smsGateway, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g := &smsGateway{Sink: smssink.New()}
	mux := http.NewServeMux()
	mux.Handle("GET /cgi-bin/sendsms", g.Sink)
	g.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

func (g *smsGateway) close() { _ = g.srv.Close() }

// mtanWait bounds the wait for a purchase's SMS: the gateway answers at once, so what it measures is
// the ACS's outbox (claimed by whichever node, retried after a failover).
const mtanWait = 30 * time.Second

// runMTAN walks one browser purchase with an mTAN through: AReq, CReq (the ACS sends the mTAN), the
// code and the security answer typed in, the final CRes posted to the merchant. The cardholder's
// confirmation counts as acknowledged when the page with the final CRes Y arrived. With hold, the
// cardholder types the code only once hold is closed (the challenge stays open meanwhile).
func (d *driver) runMTAN(abort, hold <-chan struct{}, sms *smsGateway, merchant string) *purchase {
	p := d.begin("mtan")
	p.merchant = merchant
	defer func() { p.endedAt = time.Now() }()
	code, done := sms.Expect(merchant)
	defer done()
	areq, err := d.sim.AReq(d.sample, map[string]any{"acctNumber": mtanCard, "purchaseAmount": "15000", "merchantName": merchant,
		"threeDSRequestorChallengeInd": "04", "purchaseDate": time.Now().UTC().Format("20060102150405")})
	if err != nil {
		return p.fail("areq", err)
	}
	p.serverTransID, p.dsTransID = areq["threeDSServerTransID"].(string), areq["dsTransID"].(string)
	status, ares, err := d.sim.Send(areq)
	if err != nil || status != http.StatusOK {
		return p.fail("areq", httpErr(status, err))
	}
	p.ares, _ = ares["transStatus"].(string)
	p.acsTransID, _ = ares["acsTransID"].(string)
	if p.ares != "C" {
		return p.fail("ares", fmt.Errorf("transStatus %q", p.ares))
	}
	page, status, err := d.challenge(abort, ares)
	if err != nil || status != http.StatusOK {
		return p.fail("creq", httpErr(status, err))
	}
	var mtan string
	select {
	case mtan = <-code:
	case <-time.After(mtanWait):
		d.cancel(page)
		return p.fail("sms", fmt.Errorf("no mTAN within %s", mtanWait))
	case <-abort:
		return p.fail("sms", errors.New("aborted while waiting for the mTAN"))
	}
	if hold != nil {
		select {
		case <-hold:
		case <-abort:
		}
	}
	// A verify sent again after its answer was lost shows the challenge's end (acs.Handler.step).
	var final *sim3ds.Page
	status, err = retry(abort, func() (int, error) {
		var err error
		if final, err = page.Submit("verify", map[string]string{"mtan": mtan, "answer": mtanAnswer}); err != nil {
			return 0, err
		}
		return final.Status, nil
	})
	if err != nil || status != http.StatusOK {
		return p.fail("verify", httpErr(status, err))
	}
	cres, ok, err := final.Final()
	if !ok || err != nil {
		return p.fail("verify", fmt.Errorf("no final CRes after the mTAN: %v", err))
	}
	p.cres, _ = cres["transStatus"].(string)
	p.cresAt = time.Now()
	if p.cres == "Y" {
		p.acked, p.ackedAt = true, p.cresAt
	}
	p.answer = p.cres
	return p
}
