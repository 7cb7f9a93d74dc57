package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"example.com/acs/internal/sim3ds"
)

// The mTAN purchases of the chaos run are Anna Schmidt's (testdata/cards.csv), whom `acs demo seed`
// registers for mTAN with this security answer.
const (
	mtanCard   = "4000110000000017"
	mtanAnswer = "Kiel"
)

// smsGateway plays the SMS gateway over Kannel's sendsms interface (the nodes' sms.gateway: kannel). It
// hands each mTAN to the purchase waiting for its merchant (every mTAN purchase has a merchant name of
// its own) and counts the messages per merchant: two for one purchase are a duplicated SMS. It keeps no
// number and no text.
type smsGateway struct {
	srv *http.Server

	mu          sync.Mutex
	waiting     map[string]chan string
	perMerchant map[string]int
	other       int // messages that are no purchase's mTAN
}

func startSMSGateway(addr string) (*smsGateway, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g := &smsGateway{waiting: map[string]chan string{}, perMerchant: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/sendsms", g.send)
	g.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

func (g *smsGateway) close() { _ = g.srv.Close() }

// mtanText is the mTAN message of a purchase: the code and the merchant (sms templates, German).
var mtanText = regexp.MustCompile(`mTAN ([0-9]{6}) .* bei (.+?)\. `)

func (g *smsGateway) send(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("to") == "" || q.Get("text") == "" {
		http.Error(w, "Missing receiver or text", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	if m := mtanText.FindStringSubmatch(q.Get("text")); m != nil {
		merchant := strings.TrimSpace(m[2])
		g.perMerchant[merchant]++
		if ch := g.waiting[merchant]; ch != nil {
			select {
			case ch <- m[1]:
			default:
			}
		}
	} else {
		g.other++
	}
	g.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "0: Accepted for delivery")
}

// expect registers a wait for the mTAN of merchant; done removes it.
func (g *smsGateway) expect(merchant string) (<-chan string, func()) {
	ch := make(chan string, 1)
	g.mu.Lock()
	g.waiting[merchant] = ch
	g.mu.Unlock()
	return ch, func() {
		g.mu.Lock()
		delete(g.waiting, merchant)
		g.mu.Unlock()
	}
}

// counts returns the mTAN messages per merchant and the number of other messages.
func (g *smsGateway) counts() (map[string]int, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.perMerchant))
	for k, v := range g.perMerchant {
		out[k] = v
	}
	return out, g.other
}

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
	code, done := sms.expect(merchant)
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
