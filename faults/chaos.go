package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/config"
)

// The chaos run (issue 17, `make chaos`, scripts/chaos.sh): browser purchases with an mTAN and purchases
// approved in the bank's app go through haproxy to the three nodes of `make cluster` at a steady pace,
// while the run kills a node with SIGKILL and starts it again, has Patroni switch the primary over, and
// kills the primary's machine (its Patroni and PostgreSQL, SIGKILL). A probe sends an AReq (a write:
// the transaction is stored) every 250 ms to see when writes succeed again. At the end every purchase
// is checked against PostgreSQL, the DS's RReqs and the SMS gateway's messages.

type chaosOptions struct {
	appClients, mtanClients int
	pace                    time.Duration
	length                  time.Duration // of the load
	nodeKillAt, nodeDown    time.Duration
	switchAt                time.Duration
	primaryKillAt           time.Duration
	primaryDown             time.Duration
	floorFor                time.Duration
	node                    string // the node killed
}

// probeEvery is the write probe's period.
const probeEvery = 250 * time.Millisecond

// notRegistered is a card of testdata/cards.csv that is known and never registered: its AReq is
// answered N at once, and stored (the write the probe looks for).
const notRegistered = "4000110000000025"

func chaosMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("acs-faults chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("cluster", ".local/cluster", "make cluster's folder (run/ holds its processes' ids and command lines)")
	sample := fs.String("areq", "testdata/emv/areq-browser.json", "the AReq the purchases start from")
	simAddr := fs.String("sim", "127.0.0.1:8291", "the 3DS Server simulator's address (notificationURL)")
	smsAddr := fs.String("sms", "127.0.0.1:8293", "the SMS gateway's address (the nodes' sms.kannel_url)")
	var o chaosOptions
	fs.IntVar(&o.appClients, "app-clients", 4, "clients buying with app approval")
	fs.IntVar(&o.mtanClients, "mtan-clients", 4, "clients buying with an mTAN")
	fs.DurationVar(&o.pace, "pace", time.Second, "at most one purchase per client in this time")
	fs.DurationVar(&o.length, "run", 150*time.Second, "length of the load")
	fs.DurationVar(&o.nodeKillAt, "node-kill-at", 15*time.Second, "when a node is killed (SIGKILL)")
	fs.DurationVar(&o.nodeDown, "node-down", 20*time.Second, "how long it stays down")
	fs.DurationVar(&o.switchAt, "switchover-at", 55*time.Second, "when Patroni switches the primary over")
	fs.DurationVar(&o.primaryKillAt, "primary-kill-at", 95*time.Second, "when the primary's Patroni and PostgreSQL are killed (SIGKILL)")
	fs.DurationVar(&o.primaryDown, "primary-down", 25*time.Second, "how long the killed server stays down")
	fs.DurationVar(&o.floorFor, "floor", 5*time.Second, "length of each commit-latency measurement")
	fs.StringVar(&o.node, "node", "node2", "the node killed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !(o.nodeKillAt+o.nodeDown < o.switchAt && o.switchAt < o.primaryKillAt && o.primaryKillAt+o.primaryDown < o.length) {
		fmt.Fprintln(stderr, "acs-faults chaos: the faults must follow each other within the run")
		return 2
	}
	cfg, err := config.Load(filepath.Join(*dir, "node1.yaml"))
	if err != nil {
		fmt.Fprintln(stderr, "acs-faults chaos:", err)
		return 1
	}
	h := &harness{cfg: cfg, base: strings.TrimSuffix(cfg.PublicURL, "/"), probe: &http.Client{Timeout: 3 * time.Second}}
	defer h.tearDown()
	if err := h.setUpClients(filepath.Join(*dir, "fleet-phone.json"), filepath.Join(*dir, "fleet.csv"), *sample,
		filepath.Join(*dir, "pki"), *simAddr); err != nil {
		fmt.Fprintln(stderr, "acs-faults chaos:", err)
		return 1
	}
	sms, err := startSMSGateway(*smsAddr)
	if err != nil {
		fmt.Fprintln(stderr, "acs-faults chaos:", err)
		return 1
	}
	defer sms.close()
	c := &chaos{h: h, cl: newCluster(*dir), sms: sms, opt: o, log: stderr}
	all, err := c.run()
	if err != nil {
		fmt.Fprintln(stderr, "acs-faults chaos:", err)
		return 1
	}
	fmt.Fprintln(stdout)
	printFigures(stdout, all)
	for _, s := range all {
		if s.failed() {
			fmt.Fprintln(stdout, "\nacs-faults chaos: a figure missed its bar (FAILED above); the logs are under", filepath.Join(*dir, "logs"))
			return 1
		}
	}
	fmt.Fprintln(stdout, "\nacs-faults chaos: every bar met")
	return 0
}

type chaos struct {
	h   *harness
	cl  *cluster
	sms *smsGateway
	opt chaosOptions
	log io.Writer

	start  time.Time // of the load
	probes []probeResult
	seq    atomic.Int64
}

// probeResult is one write probe: an AReq and whether it was answered with an ARes.
type probeResult struct {
	start, end time.Time
	ok         bool
}

func (c *chaos) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "acs-faults chaos: %5.1f s  %s\n", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// at sleeps until d into the load.
func (c *chaos) at(d time.Duration) { time.Sleep(time.Until(c.start.Add(d))) }

func (c *chaos) run() ([]*scenario, error) {
	if _, err := c.h.svcReady(); err != nil {
		return nil, err
	}
	leader, standby, err := c.cl.pair()
	if err != nil {
		return nil, err
	}
	cost := &scenario{name: "0 synchronous replication: what a commit costs (8 clients, BEGIN; INSERT; COMMIT on the primary)"}
	if err := c.commitCost(cost, leader, standby); err != nil {
		return nil, err
	}

	c.start = time.Now()
	c.h.loadStart = c.start
	c.h.rec.take()
	stop, abort := make(chan struct{}), make(chan struct{})
	probeDone := make(chan struct{})
	go c.probe(stop, probeDone)
	d := c.h.drv
	d.mu.Lock()
	first := len(d.purchases)
	d.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.load(c.opt.appClients, c.opt.pace, stop, abort) }()
	go func() {
		defer wg.Done()
		d.loop(c.opt.mtanClients, c.opt.pace, stop, abort, func(abort <-chan struct{}) *purchase {
			return d.runMTAN(abort, nil, c.sms, c.merchant())
		})
	}()
	c.logf("load: %d app and %d mTAN clients, one purchase each per %s at most, write probe every %s; %s primary, %s standby",
		c.opt.appClients, c.opt.mtanClients, c.opt.pace, probeEvery, leader, standby)

	node := c.nodeKill(abort, &wg)
	sw := c.switchover()
	pk := c.primaryKill()

	c.at(c.opt.length)
	close(stop)
	loaded := make(chan struct{})
	go func() { wg.Wait(); close(loaded) }()
	select {
	case <-loaded:
	case <-time.After(3 * step):
		close(abort)
		<-loaded
	}
	<-probeDone
	ended := time.Now()
	calls := c.h.rec.take()
	c.logf("load ended; checking")
	// Every purchase since the load began: the two loads', the held ones', not the probe's AReqs.
	d.mu.Lock()
	ps := append([]*purchase(nil), d.purchases[first:]...)
	d.mu.Unlock()
	whole := c.whole(ps, calls, ended)
	c.nodeFigures(node, ps, calls, sw.at)
	c.outageFigures(sw.s, sw.at, pk.at)
	c.outageFigures(pk.s, pk.at, ended)
	c.ackedBefore(pk.s, ps, pk.at)
	return []*scenario{cost, node.s, sw.s, pk.s, whole}, nil
}

// svcReady waits until the cluster answers /readyz through haproxy.
func (h *harness) svcReady() (time.Time, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		if code, _ := ready(h.probe, h.base, 3*time.Second); code == http.StatusOK {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s/readyz not 200 within a minute: is make cluster running?", h.base)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// probe sends an AReq for a card that is not registered every probeEvery until stop is closed.
func (c *chaos) probe(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var mu sync.Mutex
	var wg sync.WaitGroup
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			wg.Wait()
			return
		case <-t.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := probeResult{start: time.Now()}
			areq, err := c.h.sim.AReq(c.h.drv.sample, map[string]any{"acctNumber": notRegistered, "merchantName": "Chaos-Probe",
				"purchaseDate": time.Now().UTC().Format("20060102150405")})
			if err == nil {
				status, ares, err := c.h.sim.Send(areq)
				r.ok = err == nil && status == http.StatusOK && ares["messageType"] == "ARes"
			}
			r.end = time.Now()
			mu.Lock()
			c.probes = append(c.probes, r)
			mu.Unlock()
		}()
	}
}

// fault is one fault's scenario and when it happened.
type fault struct {
	s    *scenario
	at   time.Time
	back time.Time // the node restarted, or the killed server started again
}

// merchant is a new mTAN purchase's merchant name (its SMS is known by it).
func (c *chaos) merchant() string { return fmt.Sprintf("Chaos-Shop %d", c.seq.Add(1)) }

// heldPerKind is how many purchases of each kind are held open across the node's kill: started two
// seconds before it, each waits with its challenge open (the confirmation listed in the app, or the
// mTAN read from the SMS) until a second after the kill. haproxy spreads their AReqs over the nodes, so
// some are open on the node that dies (none of 2 × 6 with odds of (2/3)^12, under 1 %).
const heldPerKind = 6

func (c *chaos) nodeKill(abort <-chan struct{}, wg *sync.WaitGroup) *fault {
	f := &fault{s: &scenario{name: fmt.Sprintf("1 ACS node killed (%s, SIGKILL at %s, started again %s later)", c.opt.node,
		secs(c.opt.nodeKillAt), secs(c.opt.nodeDown))}}
	c.at(c.opt.nodeKillAt - 2*time.Second)
	release := make(chan struct{})
	d := c.h.drv
	for range heldPerKind {
		wg.Add(2)
		go func() {
			defer wg.Done()
			card, err := d.pool.Take()
			if err != nil {
				return
			}
			p := d.run(abort, release, card)
			d.pool.Give(card, p.ares == "C")
		}()
		go func() { defer wg.Done(); d.runMTAN(abort, release, c.sms, c.merchant()) }()
	}
	c.at(c.opt.nodeKillAt)
	f.at = time.Now()
	err := c.cl.kill(c.opt.node)
	go func() { time.Sleep(time.Second); close(release) }()
	if err != nil {
		f.s.bar("SIGKILL "+c.opt.node, err.Error(), "done", false)
		return f
	}
	c.logf("%s killed", c.opt.node)
	down, err := c.cl.waitStatus("acs_nodes", c.opt.node, "DOWN", 10*time.Second)
	if err != nil {
		f.s.bar("haproxy marks the node down", err.Error(), "≤ 3 s", false)
	} else {
		c.logf("haproxy marks %s down", c.opt.node)
		f.s.bar("haproxy marks the node down", secs(down.Sub(f.at))+" after the kill", "≤ 3 s", down.Sub(f.at) <= 3*time.Second)
	}
	c.at(c.opt.nodeKillAt + c.opt.nodeDown)
	f.back = time.Now()
	if err := c.cl.restart(c.opt.node); err != nil {
		f.s.bar("start the node again", err.Error(), "done", false)
		return f
	}
	c.logf("%s started again", c.opt.node)
	up, err := c.cl.waitStatus("acs_nodes", c.opt.node, "UP", 30*time.Second)
	if err != nil {
		f.s.bar("the node back in haproxy", err.Error(), "yes", false)
	} else {
		c.logf("haproxy has %s up", c.opt.node)
		f.s.info("the node back in haproxy", "%s after its start (rise 2 at 1 s)", secs(up.Sub(f.back)))
	}
	return f
}

func (c *chaos) switchover() *fault {
	f := &fault{s: &scenario{name: fmt.Sprintf("2 PostgreSQL primary switched over (Patroni, at %s)", secs(c.opt.switchAt))}}
	c.at(c.opt.switchAt)
	leader, standby, err := c.cl.pair()
	if err != nil {
		f.s.bar("Patroni's leader and standby", err.Error(), "found", false)
		return f
	}
	f.at = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.cl.switchover(ctx, leader, standby); err != nil {
		f.s.bar("switchover "+leader+" → "+standby, err.Error(), "done", false)
		return f
	}
	c.logf("switchover %s → %s done", leader, standby)
	nl, at, err := c.cl.waitLeader(leader, 30*time.Second)
	if err != nil {
		f.s.bar("new primary", err.Error(), "running", false)
		return f
	}
	c.logf("%s is the primary", nl)
	f.s.info("new primary", "%s, running %s after the switchover was asked", nl, secs(at.Sub(f.at)))
	if at, err := c.cl.waitStandby(leader, 60*time.Second); err != nil {
		f.s.bar("the old primary a standby again", err.Error(), "yes", false)
	} else {
		c.logf("%s streams from %s", leader, nl)
		f.s.info("the old primary a standby again", "%s after the switchover was asked", secs(at.Sub(f.at)))
	}
	return f
}

func (c *chaos) primaryKill() *fault {
	f := &fault{s: &scenario{name: fmt.Sprintf("3 PostgreSQL primary killed (its Patroni and postmaster, SIGKILL at %s)", secs(c.opt.primaryKillAt))}}
	c.at(c.opt.primaryKillAt)
	leader, _, err := c.cl.leader()
	if err != nil {
		f.s.bar("Patroni's leader", err.Error(), "found", false)
		return f
	}
	f.at = time.Now()
	if err := c.cl.killServer(leader); err != nil {
		f.s.bar("SIGKILL "+leader, err.Error(), "done", false)
		return f
	}
	c.logf("%s killed (Patroni and postmaster)", leader)
	nl, at, err := c.cl.waitLeader(leader, 60*time.Second)
	if err != nil {
		f.s.bar("standby promoted", err.Error(), "yes", false)
	} else {
		c.logf("%s promoted", nl)
		f.s.info("standby promoted", "%s, running %s after the kill (leader key ttl 10 s, loop_wait 2 s)", nl, secs(at.Sub(f.at)))
	}
	c.at(c.opt.primaryKillAt + c.opt.primaryDown)
	f.back = time.Now()
	name := "patroni" + strings.TrimPrefix(leader, "pg")
	if err := c.cl.restart(name); err != nil {
		f.s.bar("start "+leader+" again", err.Error(), "done", false)
		return f
	}
	c.logf("%s started again", name)
	if at, err := c.cl.waitStandby(leader, 90*time.Second); err != nil {
		f.s.bar("the killed server a standby again", err.Error(), "yes", false)
	} else {
		c.logf("%s streams again", leader)
		f.s.info("the killed server a standby again", "%s after its start (pg_rewind where it ran ahead)", secs(at.Sub(f.back)))
	}
	return f
}

// outageFigures adds what the write probe saw after the fault at t and before the next fault at next:
// how many AReqs failed, from when to when, and when writes succeeded again (the first success after
// the last failure).
func (c *chaos) outageFigures(s *scenario, t, next time.Time) {
	if t.IsZero() {
		return
	}
	if next.IsZero() {
		next = t.Add(time.Minute)
	}
	var failed int
	var first, last time.Time
	for _, p := range c.probes {
		// A failed probe is the fault's whose time its answer (or its failure) came after.
		if p.end.Before(t) || !p.end.Before(next) || p.ok {
			continue
		}
		failed++
		if first.IsZero() {
			first = p.start
		}
		last = p.start
	}
	if failed == 0 {
		s.bar("writes (probe AReqs, every 250 ms) succeed again", "none failed", "≤ 15 s", true)
		return
	}
	var back time.Time
	for _, p := range c.probes {
		if p.ok && p.start.After(last) {
			back = p.end
			break
		}
	}
	s.info("probe AReqs failed", "%d, sent from %s to %s after the fault", failed, secs(first.Sub(t)), secs(last.Sub(t)))
	if back.IsZero() {
		s.bar("writes (probe AReqs, every 250 ms) succeed again", "never", "≤ 15 s", false)
		return
	}
	s.bar("writes (probe AReqs, every 250 ms) succeed again", secs(back.Sub(t))+" after the fault", "≤ 15 s", back.Sub(t) <= 15*time.Second)
}

// nodeFigures adds what became of the challenges that were open on the killed node: their AReq was
// answered by it before the kill, and they had not ended.
func (c *chaos) nodeFigures(f *fault, ps []*purchase, calls []call, next time.Time) {
	c.outageFigures(f.s, f.at, next)
	if f.at.IsZero() {
		return
	}
	nodeOf := map[string]string{}
	var refused, fromNodes502 int
	for _, cl := range calls {
		if cl.route == "POST /3ds/areq" {
			nodeOf[cl.id] = cl.node
		}
		if !cl.start.Before(f.at) && cl.start.Before(f.back) && cl.status >= 500 {
			if cl.node == "" {
				refused++
			} else {
				fromNodes502++
			}
		}
	}
	var open, completed int
	var failed []string
	for _, p := range ps {
		if nodeOf[p.dsTransID] != c.opt.node || p.ares != "C" || !p.started.Before(f.at) || p.endedAt.Before(f.at) {
			continue
		}
		open++
		if p.cres == "Y" {
			completed++
		} else {
			failed = append(failed, fmt.Sprintf("%s %s at %s: %s", p.kind, p.acsTransID, p.stage, shortErr(p.err)))
		}
	}
	f.s.info("answers 5xx while the node was down", "%d from haproxy (requests in flight on the node when it died), %d from the nodes", refused, fromNodes502)
	f.s.bar("challenges open on the node when it died, completed on the others", fmt.Sprintf("%d of %d", completed, open), "all (some)",
		completed == open && open > 0)
	if len(failed) > 0 {
		f.s.info("not completed", "%s", strings.Join(failed[:min(3, len(failed))], "; "))
	}
}

// ackedBefore adds that every approval acknowledged before the primary's kill is still there after it.
func (c *chaos) ackedBefore(s *scenario, ps []*purchase, t time.Time) {
	if t.IsZero() {
		return
	}
	var before []*purchase
	for _, p := range ps {
		if p.acked && p.ackedAt.Before(t) {
			before = append(before, p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := lookup(ctx, c.h.db, before)
	if err != nil {
		s.bar("approvals acknowledged before the kill, still Y after the failover", err.Error(), "all", false)
		return
	}
	kept := 0
	for _, p := range before {
		if got[p.acsTransID].final == "Y" {
			kept++
		}
	}
	s.bar("approvals acknowledged before the kill, still Y after the failover", fmt.Sprintf("%d of %d", kept, len(before)), "all",
		kept == len(before))
}

// whole adds the figures of the whole run: what the purchases came to, the bars on lost approvals,
// double endings and duplicated RReqs or SMS, the requests' answers and the longest gap without a
// successful one.
func (c *chaos) whole(ps []*purchase, calls []call, ended time.Time) *scenario {
	s := &scenario{name: fmt.Sprintf("4 the whole run (%s of load through haproxy)", secs(c.opt.length))}
	for _, kind := range []string{"mtan", "app"} {
		var started, completed, clear, lost int
		for _, p := range ps {
			if p.kind != kind {
				continue
			}
			started++
			switch {
			case p.stage == "":
				completed++
			case p.noAnswer:
				lost++
			default:
				clear++
			}
		}
		s.info(kind+" purchases: started / completed / failed with a clear error / never answered", "%d / %d / %d / %d",
			started, completed, clear, lost)
	}
	took, serr := settle(c.h.db, ps, time.Minute)
	a, err := check(c.h.db, c.h.sim, ps)
	if err != nil {
		s.bar("checked against PostgreSQL and the DS", err.Error(), "checked", false)
		return s
	}
	if len(a.stages) > 0 {
		s.info("purchases stopped at (step: count)", "%s", summary(a.stages))
		s.info("first reason per step", "%s", strings.Join(a.why, "; "))
	}
	s.info("approvals acknowledged (app answer Y, or the final page after the mTAN)", "%d", a.acked)
	s.zero("approvals acknowledged but lost (DB, RReq at the DS, CRes)", a.lost)
	s.zero("double or conflicting endings (two RReqs, or an RReq, CRes or answer unlike the stored end)", a.double)
	var dupRReq []string
	for _, p := range ps {
		if n := len(c.h.sim.RReqs(p.serverTransID)); n > 1 && p.serverTransID != "" {
			dupRReq = append(dupRReq, fmt.Sprintf("%s: %d", p.acsTransID, n))
		}
	}
	s.zero("transactions with more than one RReq at the DS", dupRReq)
	counts, other := c.sms.Counts()
	var dupSMS, noSMS []string
	for _, p := range ps {
		if p.kind != "mtan" || p.ares != "C" {
			continue
		}
		switch n := counts[p.merchant]; {
		case n > 1:
			dupSMS = append(dupSMS, fmt.Sprintf("%s: %d", p.merchant, n))
		case n == 0 && p.stage != "creq":
			noSMS = append(noSMS, p.merchant)
		}
	}
	s.zero("mTAN purchases with more than one SMS at the gateway", dupSMS)
	if len(noSMS) > 0 || other > 0 {
		s.info("mTAN purchases challenged whose SMS never came / other messages", "%d / %d", len(noSMS), other)
	}
	undelivered := a.undelivered
	if serr != nil {
		undelivered = append([]string{serr.Error()}, undelivered...)
	}
	s.bar("RReqs delivered once, RRes accepted (ended transactions)", fmt.Sprintf("%d / %d (settled %s after the load)",
		a.delivered, a.endedTx, secs(took)), "all", len(undelivered) == 0 && a.delivered == a.endedTx)
	if len(undelivered) > 0 {
		s.info("undelivered", "%v", undelivered[:min(3, len(undelivered))])
	}
	if a.open > 0 {
		s.info("transactions left open (purchases given up half-way; they time out)", "%d", a.open)
	}
	var total, ok, proxy5xx, node503, node5xx, other4xx int
	internal := map[string]int{}
	for _, cl := range calls {
		total++
		switch {
		case cl.err != nil:
		case cl.status < 400:
			ok++
		case cl.status >= 500 && cl.node == "":
			proxy5xx++
		case cl.status == http.StatusServiceUnavailable:
			node503++
		case cl.status >= 500:
			node5xx++
			internal[fmt.Sprintf("%s %d", cl.route, cl.status)]++
		default:
			other4xx++
		}
	}
	st := stats(calls)
	s.info("requests: total / 2xx-3xx / 5xx from haproxy / 503 from a node / other 4xx / no answer", "%d / %d / %d / %d / %d / %d",
		total, ok, proxy5xx, node503, other4xx, st.noAnswer)
	if st.noAnswer > 0 {
		s.info("requests without an answer", "%s", summary(st.noAnswerWhy))
	}
	s.bar("answers 500 (or another 5xx but 503) from a node", strings.TrimSpace(fmt.Sprint(node5xx)+" "+summary(internal)), "0", node5xx == 0)
	gap, at := longestGap(calls, c.start, ended)
	s.info("longest time without a successful answer", "%s, from %s into the load", secs(gap), secs(at.Sub(c.start)))
	s.info("slowest request", "%s (%s)", secs(st.slowest), st.slowestRoute)
	s.zero("messages from the ACS breaking the EMV tables", c.h.sim.Problems())
	return s
}

// longestGap is the longest time between two successful answers (2xx-3xx) during [from, to], and when
// it began.
func longestGap(calls []call, from, to time.Time) (time.Duration, time.Time) {
	var ends []time.Time
	for _, c := range calls {
		if c.err == nil && c.status < 400 {
			ends = append(ends, c.end)
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	ends = append(append([]time.Time{from}, ends...), to)
	var gap time.Duration
	at := from
	for i := 1; i < len(ends); i++ {
		if d := ends[i].Sub(ends[i-1]); d > gap {
			gap, at = d, ends[i-1]
		}
	}
	return gap, at
}

// commitCost measures what synchronous replication costs a commit: a pgx loop of BEGIN; INSERT one row;
// COMMIT at 8 clients on the primary, once waiting for the standby (synchronous_commit on, as the ACS
// commits) and once not (local).
func (c *chaos) commitCost(s *scenario, leader, standby string) error {
	ctx := context.Background()
	pcfg, err := pgxpool.ParseConfig(c.h.cfg.Database.URL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS chaos_floor (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		at timestamptz NOT NULL)`); err != nil {
		return err
	}
	defer func() { _, _ = pool.Exec(ctx, `DROP TABLE IF EXISTS chaos_floor`) }()
	var names string
	if err := pool.QueryRow(ctx, `SHOW synchronous_standby_names`).Scan(&names); err != nil {
		return err
	}
	s.info("synchronous_standby_names on the primary ("+leader+")", "%q (%s the synchronous standby)", names, standby)
	for _, mode := range []string{"on", "local"} {
		hist := hdrhistogram.New(1, 10_000_000, 3)
		var mu sync.Mutex
		var n atomic.Int64
		var failed error
		var wg sync.WaitGroup
		end := time.Now().Add(c.opt.floorFor)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := pool.Acquire(ctx)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				defer conn.Release()
				if _, err := conn.Exec(ctx, "SET synchronous_commit = "+mode); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				for time.Now().Before(end) {
					t0 := time.Now()
					err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
						_, err := tx.Exec(ctx, `INSERT INTO chaos_floor (at) VALUES (now())`)
						return err
					})
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
					mu.Lock()
					_ = hist.RecordValue(time.Since(t0).Microseconds())
					mu.Unlock()
					n.Add(1)
				}
				_, _ = conn.Exec(ctx, "RESET synchronous_commit")
			}()
		}
		wg.Wait()
		if failed != nil {
			return fmt.Errorf("commit latency (synchronous_commit %s): %w", mode, failed)
		}
		us := func(q float64) string { return ms(time.Duration(hist.ValueAtQuantile(q)) * time.Microsecond) }
		label := "synchronous_commit on (the standby has it): commits/s, p50, p99"
		if mode == "local" {
			label = "synchronous_commit local (the primary alone): commits/s, p50, p99"
		}
		s.info(label, "%.0f, %s, %s", float64(n.Load())/c.opt.floorFor.Seconds(), us(50), us(99))
	}
	return nil
}

// ms shows a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
