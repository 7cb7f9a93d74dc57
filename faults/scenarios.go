package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/config"
	"example.com/acs/internal/sim3ds"
)

// harness holds what the scenarios share: the service under test, the clients and the checks.
type harness struct {
	cfg              *config.Config
	cfgPath, acsBin  string
	logPath, devenv  string
	pidPath          string // the service's process id, for faults/run.sh should the harness die
	tokens, awayPath string
	base             string
	svc              *service
	rec              *recorder
	drv              *driver
	sim              *sim3ds.Sim
	db               *pgxpool.Pool
	probe            *http.Client // /readyz, not counted with the clients' requests
	problemsSeen     int
	loadStart        time.Time // when the running scenario's load began
	all              []*purchase
	opt              options
}

// options are the scenarios' sizes and timings (flags of `acs-faults run`).
type options struct {
	clients        int
	pace           time.Duration
	pgRun, pgAt    time.Duration
	pgRestarts     int
	hsmAt, hsmAway time.Duration
	hsmAfter       time.Duration
	dsAt, dsDown   time.Duration
	dsAfter        time.Duration
	dsSlow         time.Duration
	dsDelay        time.Duration
	termAt         time.Duration
}

// run starts a load of clients purchases, one per pace at most, calls during after it has run for at,
// and stops the load when during returns and total has passed. Purchases in progress may finish within
// grace; then their retries end. It returns the purchases, those during began included.
func (h *harness) run(clients int, pace, at, total, grace time.Duration, during func(abort <-chan struct{})) []*purchase {
	stop, abort := make(chan struct{}), make(chan struct{})
	var ps []*purchase
	loaded := make(chan struct{})
	start := time.Now()
	h.loadStart = start
	go func() { ps = h.drv.load(clients, pace, stop, abort); close(loaded) }()
	time.Sleep(at)
	during(abort)
	if rest := total - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	close(stop)
	select {
	case <-loaded:
	case <-time.After(grace):
		close(abort)
		<-loaded
	}
	h.all = append(h.all, ps...)
	return ps
}

// readiness polls /readyz every 100 ms and keeps what it answered.
type readiness struct {
	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	done    chan struct{}
}

type sample struct {
	at     time.Time
	status int // 0: no answer
}

func (h *harness) watch() *readiness {
	r := &readiness{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			at := time.Now()
			code, _ := ready(h.probe, h.base, 3*time.Second)
			r.mu.Lock()
			r.samples = append(r.samples, sample{at: at, status: code})
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return r
}

func (r *readiness) end() { close(r.stop); <-r.done }

// down is the first answer other than 200 asked at or after t.
func (r *readiness) down(t time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.samples {
		if !s.at.Before(t) && s.status != http.StatusOK {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// up is the first 200 asked at or after t that no other answer follows.
func (r *readiness) up(t time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var at time.Time
	for _, s := range r.samples {
		if s.at.Before(t) {
			continue
		}
		if s.status != http.StatusOK {
			at = time.Time{}
		} else if at.IsZero() {
			at = s.at
		}
	}
	return at, !at.IsZero()
}

// notReady counts the answers other than 200.
func (r *readiness) notReady() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.samples {
		if s.status != http.StatusOK {
			n++
		}
	}
	return n
}

// common adds the figures every scenario has: what the purchases came to, the bars on lost approvals,
// double endings and RReq delivery, and the bars on the clients' requests.
func (h *harness) common(s *scenario, ps []*purchase, calls []call, settleFor time.Duration) audit {
	took, serr := settle(h.db, ps, settleFor)
	a, err := check(h.db, h.sim, ps)
	if err != nil {
		s.bar("checked against PostgreSQL and the DS", err.Error(), "checked", false)
		return a
	}
	s.info("purchases / challenged / approvals acknowledged / CRes Y", "%d / %d / %d / %d",
		a.purchases, a.challenged, a.acked, a.finalY)
	if len(a.stages) > 0 {
		s.info("purchases stopped at (step: count)", "%s", summary(a.stages))
		s.info("first reason per step", "%s", strings.Join(a.why, "; "))
	}
	s.zero("approvals acknowledged but lost (DB, RReq at DS, CRes)", a.lost)
	s.zero("double or conflicting endings", a.double)
	undelivered := a.undelivered
	if serr != nil {
		undelivered = append([]string{serr.Error()}, undelivered...)
	}
	s.bar("RReqs delivered once, RRes accepted (ended transactions)", fmt.Sprintf("%d / %d (settled in %s)",
		a.delivered, a.endedTx, secs(took)), "all", len(undelivered) == 0 && a.delivered == a.endedTx)
	if len(undelivered) > 0 {
		s.info("undelivered", "%v", undelivered[:min(3, len(undelivered))])
	}
	if a.open > 0 {
		s.info("transactions left open (purchases given up half-way)", "%d", a.open)
	}
	st := stats(calls)
	s.info("requests to the ACS: total / 2xx-3xx / 503 / other 4xx", "%d / %d / %d / %d", st.total, st.answered,
		st.unavailable, st.otherErr)
	s.bar("requests answered 500 (or another 5xx but 503)", strings.TrimSpace(fmt.Sprint(st.internal)+" "+summary(st.internalRoutes)), "0",
		st.internal == 0)
	n := 0
	for _, v := range st.unexpected {
		n += v
	}
	s.bar("requests answered with an unexpected 4xx", strings.TrimSpace(fmt.Sprint(n)+" "+summary(st.unexpected)), "0", n == 0)
	s.bar("slowest request", fmt.Sprintf("%s (%s)", secs(st.slowest), st.slowestRoute), "≤ 5 s", st.slow == 0)
	problems := h.sim.Problems()[h.problemsSeen:]
	h.problemsSeen += len(problems)
	s.zero("messages from the ACS breaking the EMV tables", problems)
	return a
}

// noAnswer adds the bar on requests that got no answer at all.
func noAnswer(s *scenario, calls []call) {
	st := stats(calls)
	s.bar("requests without an answer (reset, refused, timed out)", strings.TrimSpace(fmt.Sprint(st.noAnswer)+" "+summary(st.noAnswerWhy)), "0",
		st.noAnswer == 0)
}

// sameProcess adds the bar that the service was never restarted.
func (h *harness) sameProcess(s *scenario, pid int) {
	v := fmt.Sprintf("pid %d, running", h.svc.pid())
	if !h.svc.running() {
		v = fmt.Sprintf("pid %d exited: %v", h.svc.pid(), h.svc.exitErr)
	}
	s.bar("service process (never restarted)", v, fmt.Sprintf("pid %d, running", pid), h.svc.running() && h.svc.pid() == pid)
}

// pgRestart restarts PostgreSQL (pg_ctl restart -m fast) while clients buy and approve.
func (h *harness) pgRestart() *scenario {
	s := &scenario{name: "1 PostgreSQL restart"}
	pid := h.svc.pid()
	h.rec.take()
	r := h.watch()
	var t0 time.Time
	var took time.Duration
	var restartErr error
	ps := h.run(h.opt.clients, h.opt.pace, h.opt.pgAt, h.opt.pgRun, 3*step, func(<-chan struct{}) {
		t0 = time.Now()
		// More restarts (-pg-restarts) meet more requests half-way: a stress variant of the one restart.
		for i := range h.opt.pgRestarts {
			if i > 0 {
				time.Sleep(pgEvery)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			start := time.Now()
			out, err := exec.CommandContext(ctx, h.devenv, "faults", "restart").CombinedOutput()
			cancel()
			took = max(took, time.Since(start))
			if err != nil {
				restartErr = fmt.Errorf("%v: %s", err, out)
				return
			}
		}
	})
	// The load has ended; readiness is asked a moment longer so that "back" is seen.
	time.Sleep(time.Second)
	r.end()
	calls := h.rec.take()
	times := ""
	if h.opt.pgRestarts > 1 {
		times = fmt.Sprintf(" (%d times, %s apart)", h.opt.pgRestarts, pgEvery)
	}
	s.info("load", "%d clients, one purchase each per %s at most, for %s; restart %s into it%s", h.opt.clients, h.opt.pace,
		h.opt.pgRun, secs(t0.Sub(h.loadStart)), times)
	if restartErr != nil {
		s.bar("pg_ctl restart -m fast", restartErr.Error(), "done", false)
		return s
	}
	s.info("pg_ctl restart -m fast took (the longest)", "%s", secs(took))
	if at, ok := r.down(t0); ok {
		s.info("/readyz not 200 from (after the restart began)", "%s (%d of its polls not 200)", secs(at.Sub(t0)), r.notReady())
	} else {
		s.info("/readyz not 200", "never seen (polled every 100 ms)")
	}
	back, ok := r.up(t0)
	v := "never"
	if ok {
		v = secs(back.Sub(t0)) + " after the restart began"
	}
	s.bar("/readyz 200 again", v, "yes", ok)
	h.sameProcess(s, pid)
	h.common(s, ps, calls, 30*time.Second)
	noAnswer(s, calls)
	return s
}

// pgEvery is the time between restarts when there are several.
const pgEvery = 2 * time.Second

// tokenDir is the SoftHSM2 token's directory under the token folder (the one holding token.object).
func (h *harness) tokenDir() (string, error) {
	m, err := filepath.Glob(filepath.Join(h.tokens, "*", "token.object"))
	if err != nil || len(m) != 1 {
		return "", fmt.Errorf("want one token under %s, found %d (%v)", h.tokens, len(m), err)
	}
	return filepath.Dir(m[0]), nil
}

// hsmRemoved takes the token away from the running service and puts it back: its directory is moved out
// of SoftHSM2's token folder, as the token's files would vanish with a pulled token, and moved back.
// SoftHSM2 then reports the session's objects invalid (CKR_OBJECT_HANDLE_INVALID), and finds no token
// for a new login until the directory is back.
func (h *harness) hsmRemoved() *scenario {
	s := &scenario{name: "2 HSM token removed"}
	pid := h.svc.pid()
	h.rec.take()
	dir, err := h.tokenDir()
	if err != nil {
		s.bar("token found", err.Error(), "yes", false)
		return s
	}
	r := h.watch()
	var removed, restored time.Time
	var moveErr error
	var held []*purchase
	ps := h.run(h.opt.clients/2, h.opt.pace, h.opt.hsmAt, h.opt.hsmAt+h.opt.hsmAway+h.opt.hsmAfter, 3*step, func(abort <-chan struct{}) {
		// Cardholders who are shown the confirmation before the token goes and approve while it is away.
		release := make(chan struct{})
		done := make(chan *purchase, heldPurchases)
		for range heldPurchases {
			go func() {
				card, err := h.drv.pool.Take()
				if err != nil {
					done <- &purchase{stage: "cards", err: err}
					return
				}
				p := h.drv.run(abort, release, card)
				h.drv.pool.Give(card, p != nil && p.ares == "C")
				done <- p
			}()
		}
		time.Sleep(time.Second)
		if moveErr = os.Rename(dir, h.awayPath); moveErr != nil {
			close(release)
			return
		}
		removed = time.Now()
		time.Sleep(500 * time.Millisecond)
		close(release)
		time.Sleep(h.opt.hsmAway - 500*time.Millisecond)
		moveErr = putBack(dir, h.awayPath)
		restored = time.Now()
		for range heldPurchases {
			held = append(held, <-done)
		}
	})
	time.Sleep(time.Second)
	r.end()
	calls := h.rec.take()
	s.info("load", "%d clients, one purchase each per %s at most; token taken away %s into it, for %s", h.opt.clients/2, h.opt.pace,
		secs(removed.Sub(h.loadStart)), secs(restored.Sub(removed)))
	if moveErr != nil {
		s.bar("token moved away and back", moveErr.Error(), "done", false)
		return s
	}
	down, ok := r.down(removed)
	v := "never"
	if ok && down.Before(restored) {
		v = secs(down.Sub(removed))
	}
	firstRefused := "none"
	for _, c := range calls {
		if c.start.After(removed) && c.start.Before(restored) && c.status == http.StatusServiceUnavailable {
			firstRefused = secs(c.end.Sub(removed))
			break
		}
	}
	s.bar("/readyz 503 after the removal", v+" (first request answered 503 after "+firstRefused+")", "≤ 2 s",
		ok && down.Before(restored) && down.Sub(removed) <= 2*time.Second)
	var approved []string
	for _, p := range ps {
		if p.acked && p.ackStart.After(removed) && p.ackStart.Before(restored) {
			approved = append(approved, p.acsTransID)
		}
	}
	s.zero("approvals acknowledged for answers sent while away", approved)
	answers503, heldY := 0, 0
	for _, c := range calls {
		if c.route == "POST /app/v1/confirmations/answer" && c.start.After(removed) && c.start.Before(restored) &&
			c.status == http.StatusServiceUnavailable {
			answers503++
		}
	}
	for _, p := range held {
		if p.acked && p.ackStart.After(restored) {
			heldY++
		}
	}
	s.info("approvals sent while the token was away", "%d purchases, their answers 503 %d times; %d approved after the return",
		len(held), answers503, heldY)
	var inDB int
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM acs_transactions WHERE final_status = 'Y' AND completed_at > $1 AND completed_at < $2`,
		removed, restored).Scan(&inDB); err != nil {
		s.bar("approvals stored while the token was away", err.Error(), "0", false)
	} else {
		s.bar("approvals stored while the token was away", fmt.Sprint(inDB), "0", inDB == 0)
	}
	back, ok := r.up(restored)
	v = "never"
	if ok {
		v = secs(back.Sub(restored))
	}
	s.bar("/readyz 200 again after the token's return", v, "≤ 5 s", ok && back.Sub(restored) <= 5*time.Second)
	h.sameProcess(s, pid)
	h.common(s, ps, calls, 30*time.Second)
	noAnswer(s, calls)
	return s
}

// longPolls apps wait for confirmations when SIGTERM comes.
const longPolls = 4

// heldPurchases approve while the token is away.
const heldPurchases = 4

// putBack moves the token's directory back. SoftHSM2 may have made an empty one in its place meanwhile
// (it keeps a generation file per token); such a stand-in is removed first.
func putBack(dir, away string) error {
	if _, err := os.Stat(filepath.Join(dir, "token.object")); err == nil {
		return fmt.Errorf("%s holds a token again: not overwritten", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(away, dir)
}

// dsDown takes the DS away for a while (it answers 503) while clients buy, then brings it back.
func (h *harness) dsDown() *scenario {
	s := &scenario{name: "3 Directory Server down"}
	pid := h.svc.pid()
	h.rec.take()
	var down, up, slow, fast time.Time
	o := h.opt
	ps := h.run(o.clients/2, o.pace, o.dsAt, o.dsAt+o.dsDown+o.dsAfter+o.dsSlow, 3*step, func(<-chan struct{}) {
		h.sim.SetRReqDown(true)
		down = time.Now()
		time.Sleep(o.dsDown)
		h.sim.SetRReqDown(false)
		up = time.Now()
		time.Sleep(o.dsAfter)
		// Then a slow DS: each RRes comes after dsDelay.
		h.sim.SetRReqDelay(o.dsDelay)
		slow = time.Now()
		time.Sleep(o.dsSlow)
		h.sim.SetRReqDelay(0)
		fast = time.Now()
	})
	calls := h.rec.take()
	s.info("load", "%d clients, one purchase each per %s at most; the DS answers 503 %s into it, for %s (RReqs retried every %s), "+
		"then at once for %s, then each RRes after %s for %s", o.clients/2, o.pace, secs(down.Sub(h.loadStart)), secs(up.Sub(down)),
		h.cfg.ThreeDS.RReqRetryInterval, o.dsAfter, o.dsDelay, secs(fast.Sub(slow)))
	finished, started := 0, 0
	var longest time.Duration
	for _, p := range ps {
		if p.started.After(down) && p.started.Before(up) {
			started++
			if p.cres != "" && p.cresAt.Before(up) {
				finished++
				longest = max(longest, p.cresAt.Sub(p.started))
			}
		}
	}
	s.bar("purchases begun and finished while the DS was down", fmt.Sprintf("%d of %d (longest %s)", finished, started,
		secs(longest)), "> 0", finished > 0)
	// A slow DS holds up each transaction's final page by its own RReq at most: the page waits for the RRes
	// up to the read timeout and a margin (acs.Results.SendBudget), never for the RReqs of others.
	budget := h.cfg.ThreeDS.DSLink.ReadTimeout + 2*time.Second
	var slowest time.Duration
	n := 0
	for _, p := range ps {
		if p.acked && !p.ackedAt.Before(slow) && p.ackedAt.Before(fast) {
			n++
			if p.cres == "" {
				slowest = max(slowest, time.Since(p.ackedAt)) // no final CRes at all
			} else {
				slowest = max(slowest, p.cresAt.Sub(p.ackedAt))
			}
		}
	}
	s.bar("DS slow: from approval to final CRes, slowest", fmt.Sprintf("%s (%d purchases)", secs(slowest), n),
		"≤ "+secs(budget)+", > 0 purchases", n > 0 && slowest <= budget)
	a := h.common(s, ps, calls, 60*time.Second)
	// The backlog: the RReqs of the transactions that ended while the DS was down.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := lookup(ctx, h.db, ps); err == nil {
		var last time.Time
		queued := 0
		for _, e := range got {
			if e.final != "" && e.completed.After(down) && e.completed.Before(up) {
				queued++
				if e.delivered.After(last) {
					last = e.delivered
				}
			}
		}
		if queued > 0 {
			s.info("RReqs queued while down; last delivered after back", "%d; %s (at most %d attempts for one RReq)",
				queued, secs(last.Sub(up)), a.maxAttempts)
		}
	}
	h.sameProcess(s, pid)
	noAnswer(s, calls)
	return s
}

// sigterm sends SIGTERM to the service while clients buy; then starts it again, so that the RReqs it
// had queued are delivered, and checks that nothing was lost.
func (h *harness) sigterm() *scenario {
	s := &scenario{name: "4 SIGTERM under load"}
	h.rec.take()
	var sent time.Time
	var exitAfter time.Duration
	stopped := false
	// No pace: requests are in flight at every moment. The purchases a stopped service cannot finish
	// end their retries at once.
	var polls sync.WaitGroup
	ps := h.run(h.opt.clients, 0, h.opt.termAt, h.opt.termAt, 0, func(<-chan struct{}) {
		// Apps long-polling for confirmations when the signal comes: the longest requests in flight.
		for range longPolls {
			card, err := h.drv.pool.Take()
			if err != nil {
				break
			}
			polls.Add(1)
			go func() {
				defer polls.Done()
				defer h.drv.pool.Give(card, false)
				_, _ = h.drv.phone.Wait(card)
			}()
		}
		time.Sleep(time.Second)
		sent = time.Now()
		_ = h.svc.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.svc.done:
			exitAfter, stopped = h.svc.exited.Sub(sent), true
		case <-time.After(h.cfg.ShutdownTimeout + 5*time.Second):
		}
	})
	polls.Wait()
	calls := h.rec.take()
	s.info("load", "%d clients without pause, %d apps long-polling; SIGTERM %s into it", h.opt.clients, longPolls, secs(sent.Sub(h.loadStart)))
	if !stopped {
		_ = h.svc.stop(time.Second)
		s.bar("exit after SIGTERM", "none within "+secs(h.cfg.ShutdownTimeout+5*time.Second)+": killed", "code 0 within shutdown_timeout", false)
	} else {
		s.bar("exit after SIGTERM", fmt.Sprintf("code %d after %s", h.svc.exitCode(), secs(exitAfter)),
			"code 0 within "+h.cfg.ShutdownTimeout.String(), h.svc.exitCode() == 0 && exitAfter <= h.cfg.ShutdownTimeout)
	}
	// A request cut off is one the service received (its access log has it) and did not answer. One it
	// never received met its connection closing: an idle keep-alive connection that Shutdown closed as
	// the request was being sent, or a connection still in the listen queue. HTTP/1.1 gives a server no
	// way to close an idle connection without that race (a client sends such a request again).
	logged, err := os.ReadFile(h.logPath)
	if err != nil {
		s.bar("the service's log", err.Error(), "read", false)
	}
	var inFlight, after, polled int
	var cutWhy, unseen []string
	for _, c := range calls {
		switch {
		case c.start.Before(sent) && c.end.After(sent):
			inFlight++
			if c.route == longPollRoute {
				polled++
			}
			if c.err == nil {
				break
			}
			if bytes.Contains(logged, []byte(`"request_id":"`+c.id+`"`)) {
				cutWhy = append(cutWhy, c.route+": "+shortErr(c.err))
			} else {
				unseen = append(unseen, c.route+": "+shortErr(c.err))
			}
		case !c.start.Before(sent) && c.err != nil:
			after++
		}
	}
	s.info("requests in flight at SIGTERM (long polls among them)", "%d (%d)", inFlight, polled)
	s.zero("in-flight requests received but not answered", cutWhy)
	s.info("in-flight requests never received (their connection was closing)", "%d %s", len(unseen), strings.Join(unseen, "; "))
	s.info("requests sent after SIGTERM, refused (listener closed)", "%d", after)
	// Started again, the service delivers what the stopped one had queued.
	svc, err := startService(h.acsBin, h.cfgPath, h.logPath, h.base)
	if err == nil {
		h.svc = svc
		_, err = svc.waitReady(h.probe, 30*time.Second)
	}
	if err != nil {
		s.bar("service started again", err.Error(), "ready", false)
		return s
	}
	s.info("service started again (delivers the queued RReqs)", "pid %d", h.svc.pid())
	h.common(s, ps, calls, 30*time.Second)
	return s
}

// whole checks the run's purchases together, once every scenario is over: each transaction's RReq
// reached the DS once, across every fault.
func (h *harness) whole() *scenario {
	s := &scenario{name: "whole run"}
	if _, err := settle(h.db, h.all, 30*time.Second); err != nil {
		s.bar("RReqs settled", err.Error(), "all", false)
	}
	a, err := check(h.db, h.sim, h.all)
	if err != nil {
		s.bar("checked", err.Error(), "checked", false)
		return s
	}
	s.info("purchases / approvals acknowledged / transactions ended", "%d / %d / %d", a.purchases, a.acked, a.endedTx)
	s.zero("approvals acknowledged but lost", a.lost)
	s.zero("double or conflicting endings", a.double)
	s.bar("RReqs delivered exactly once", fmt.Sprintf("%d / %d", a.delivered, a.endedTx), "all", a.delivered == a.endedTx)
	s.bar("RReqs for AReqs the ACS did not answer", fmt.Sprint(a.unknownRReqs), "0", a.unknownRReqs == 0)
	return s
}
