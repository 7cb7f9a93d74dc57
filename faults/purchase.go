package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"example.com/acs/appapi"
	"example.com/acs/internal/fleet"
	"example.com/acs/internal/sim3ds"
)

// purchase is one purchase on a fleet card, walked through as the merchant's 3DS Server, the
// cardholder's browser and the bank's app do: AReq, CReq, the app's approval, the page's status poll and
// the final CRes to the merchant.
type purchase struct {
	kind          string // "app" or "mtan" (the chaos run has both)
	card          *fleet.Card
	merchant      string // an mTAN purchase's own merchant name, by which its SMS is known
	serverTransID string
	dsTransID     string // the AReq's, which is its X-Request-ID
	acsTransID    string
	started       time.Time
	ares          string // ARes transStatus, or "" when there was none
	// acked: the ACS answered the app's approval 2xx with transStatus Y, at ackedAt, to the try sent at
	// ackStart.
	acked    bool
	ackStart time.Time
	ackedAt  time.Time
	answer   string // the answer's trans_status
	cres     string // the final CRes's transStatus, once the merchant has it
	cresAt   time.Time
	stage    string // where it stopped, when it did not reach the final CRes
	err      error
	// noAnswer: the step it stopped at got no answer at all (reset, refused, timed out), not even an error.
	noAnswer bool
	endedAt  time.Time // when it reached the final CRes or stopped
}

// driver runs purchases: the simulator plays 3DS Server, DS and browser, the phone the app.
type driver struct {
	sim    *sim3ds.Sim
	phone  *fleet.Phone
	sample string // the AReq sample file
	acs    string
	pool   *fleet.Pool

	mu        sync.Mutex
	purchases []*purchase
}

// step bounds how long a purchase retries one step while the ACS answers 503 or cannot be reached; the
// whole purchase stays within the challenge's own limits.
const step = 12 * time.Second

// retryable says whether a step is worth sending again: no answer, or the service briefly unavailable.
func retryable(status int, err error) bool {
	return err != nil && status == 0 || status == http.StatusServiceUnavailable || status == http.StatusBadGateway
}

// retry runs f until it succeeds, fails for good, the step's time is up or abort is closed.
func retry(abort <-chan struct{}, f func() (int, error)) (int, error) {
	deadline := time.Now().Add(step)
	for {
		status, err := f()
		if !retryable(status, err) || time.Now().After(deadline) {
			return status, err
		}
		select {
		case <-abort:
			return status, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// run walks one purchase through; it records where it stopped. Closing abort ends its retries. With hold,
// the cardholder approves only once hold is closed (the challenge waits in the app meanwhile).
func (d *driver) run(abort, hold <-chan struct{}, card *fleet.Card) *purchase {
	p := d.begin("app")
	p.card = card
	defer func() { p.endedAt = time.Now() }()
	fail := p.fail
	amount := 10000 + rand.IntN(80000) // 100.00 to 899.99 EUR
	areq, err := d.sim.AReq(d.sample, map[string]any{"acctNumber": card.PAN, "cardExpiryDate": fleet.AReqExpiry,
		"purchaseAmount": fmt.Sprint(amount), "merchantName": "Fehlerlauf-Shop", "threeDSRequestorChallengeInd": "04",
		"purchaseDate": time.Now().UTC().Format("20060102150405")})
	if err != nil {
		return fail("areq", err)
	}
	p.serverTransID, p.dsTransID = areq["threeDSServerTransID"].(string), areq["dsTransID"].(string)
	// The DS does not send an AReq twice: one that fails is a failed purchase.
	status, ares, err := d.sim.Send(areq)
	if err != nil || status != http.StatusOK {
		return fail("areq", httpErr(status, err))
	}
	p.ares, _ = ares["transStatus"].(string)
	p.acsTransID, _ = ares["acsTransID"].(string)
	if p.ares != "C" {
		return fail("ares", fmt.Errorf("transStatus %q", p.ares))
	}
	page, status, err := d.challenge(abort, ares)
	if err != nil || status != http.StatusOK {
		return fail("creq", httpErr(status, err))
	}
	if _, final, _ := page.Final(); final {
		return fail("creq", errors.New("the challenge ended at once (push limit?)"))
	}
	token := formField(page, "t")
	if token == "" {
		return fail("creq", errors.New("the challenge page has no token"))
	}
	// The app: the confirmation is there once the CReq has been answered.
	var conf *appapi.ConfirmationView
	status, err = retry(abort, func() (int, error) {
		list, status, err := d.phone.Pending(card)
		if err != nil {
			return status, err
		}
		for i := range list {
			if list[i].ID.String() == p.acsTransID {
				conf = &list[i]
				return status, nil
			}
		}
		return 0, errors.New("the confirmation is not listed")
	})
	if conf == nil {
		d.cancel(page)
		return fail("confirmations", httpErr(status, err))
	}
	if hold != nil {
		select {
		case <-hold:
		case <-abort:
		}
	}
	status, err = retry(abort, func() (int, error) {
		try := time.Now()
		res, status, err := d.phone.Approve(card, *conf)
		if err == nil {
			p.answer = res.TransStatus
			if res.TransStatus == "Y" {
				p.acked, p.ackStart, p.ackedAt = true, try, time.Now()
			}
		}
		return status, err
	})
	if err != nil && status != http.StatusConflict {
		// 409: an earlier try was taken after all (its answer was lost); the page shows the outcome.
		return fail("answer", httpErr(status, err))
	}
	// The page's script polls the status, then submits the form and posts the final CRes.
	status, err = retry(abort, func() (int, error) {
		resp, err := d.sim.Client.PostForm(d.acs+"/3ds/challenge/status", url.Values{"t": {token}})
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var s struct {
			Ended bool `json:"ended"`
		}
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if json.NewDecoder(resp.Body).Decode(&s) != nil || !s.Ended {
			return 0, errors.New("not ended yet")
		}
		return resp.StatusCode, nil
	})
	if err != nil {
		return fail("status", httpErr(status, err))
	}
	var done *sim3ds.Page
	status, err = retry(abort, func() (int, error) {
		var err error
		done, err = page.Submit("status", nil)
		if err != nil {
			return 0, err
		}
		return done.Status, nil
	})
	if err != nil || status != http.StatusOK {
		return fail("final", httpErr(status, err))
	}
	cres, final, err := done.Final()
	if !final || err != nil {
		return fail("final", fmt.Errorf("no final CRes: %v", err))
	}
	p.cres, _ = cres["transStatus"].(string)
	p.cresAt = time.Now()
	return p
}

// challenge posts the CReq for ares as the browser does; on a 503 or a broken connection the cardholder
// reloads the frame (an identical CReq shows the challenge as it stands).
func (d *driver) challenge(abort <-chan struct{}, ares map[string]any) (*sim3ds.Page, int, error) {
	creq := sim3ds.CReq(ares, "05", nil)
	var page *sim3ds.Page
	status, err := retry(abort, func() (int, error) {
		var err error
		page, err = d.sim.Challenge(ares, creq, "ZmF1bHRz", "de")
		if err != nil {
			return 0, err
		}
		return page.Status, nil
	})
	return page, status, err
}

// begin records a new purchase of kind.
func (d *driver) begin(kind string) *purchase {
	p := &purchase{kind: kind, started: time.Now()}
	d.mu.Lock()
	d.purchases = append(d.purchases, p)
	d.mu.Unlock()
	return p
}

// fail records where p stopped and why.
func (p *purchase) fail(stage string, err error) *purchase {
	p.stage, p.err = stage, err
	var se *stepError
	p.noAnswer = errors.As(err, &se) && se.status == 0
	return p
}

// cancel ends a challenge the purchase gives up, so that its confirmation does not wait in the app (at
// most acs.MaxPendingConfirmations may); best effort.
func (d *driver) cancel(page *sim3ds.Page) {
	_, _ = page.Submit("cancel", nil)
}

// stepError is a step that failed: the status it got (0: none) and why.
type stepError struct {
	status int
	err    error
}

func (e *stepError) Error() string {
	switch {
	case e.status == 0:
		return "no answer: " + shortErr(e.err)
	case e.err != nil:
		return fmt.Sprintf("HTTP %d: %s", e.status, shortErr(e.err))
	}
	return fmt.Sprintf("HTTP %d", e.status)
}

// httpErr describes a failed step: the status it got (or that it got none) and why.
func httpErr(status int, err error) error { return &stepError{status: status, err: err} }

// formField is a field of the page's first form.
func formField(p *sim3ds.Page, name string) string {
	if len(p.Forms) == 0 {
		return ""
	}
	return p.Forms[0].Fields.Get(name)
}

// load runs clients purchases each on fleet cards, one after another, at most one per pace, until stop
// is closed; it returns when every client has finished its purchase in progress (closing abort ends
// their retries).
func (d *driver) load(clients int, pace time.Duration, stop, abort <-chan struct{}) []*purchase {
	return d.loop(clients, pace, stop, abort, func(abort <-chan struct{}) *purchase {
		card, err := d.pool.Take()
		if err != nil {
			p := d.begin("app")
			p.stage, p.err = "cards", err
			return p
		}
		p := d.run(abort, nil, card)
		d.pool.Give(card, p != nil && p.ares == "C")
		return p
	})
}

// loop runs clients purchases each with one, as load does.
func (d *driver) loop(clients int, pace time.Duration, stop, abort <-chan struct{}, one func(abort <-chan struct{}) *purchase) []*purchase {
	d.mu.Lock()
	first := len(d.purchases)
	d.mu.Unlock()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the clients over the pace, so they do not march in step.
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(rand.Int64N(int64(pace) + 1))):
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				p := one(abort)
				if p.stage == "cards" {
					return
				}
				wait := pace - time.Since(start)
				if p.stage != "" {
					wait = max(wait, 50*time.Millisecond) // a failed purchase: the merchant does not retry at once
				}
				select {
				case <-stop:
					return
				case <-time.After(wait):
				}
			}
		}()
	}
	wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*purchase(nil), d.purchases[first:]...)
}
