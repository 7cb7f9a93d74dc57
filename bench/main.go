// Command acs-bench is the ACS's load tool (issue 13). It drives a running ACS on loopback, closed loop
// (a number of clients, each sending its next request when the last was answered) or open loop (a
// constant rate), bounded in time, and prints per scenario ops/s, latency percentiles, and per
// operation the SQL statements, database commits, HSM calls and CPU of the ACS and of PostgreSQL. In
// the same run it measures the database's commit floor (BEGIN; INSERT; COMMIT at the same
// concurrency) and prints ratio = ACS ops/s / floor commits/s, which makes figures comparable across
// machines. It exits 1 when a target is missed. bench/run.sh prepares everything (make bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/internal/devpki"
	"example.com/acs/internal/fleet"
	"example.com/acs/internal/sim3ds"
)

type scenario struct {
	name   string
	op     op
	target float64 // minimum ratio to the floor; 0: none
	areq   bool    // single AReqs: no answer may take longer than maxARes
	fleet  bool    // needs the fleet of app cards (-fleet)
	// settle: the scenario leaves challenges open (ARes C, no CReq); the next waits until the ACS has
	// timed them out and delivered their RReqs (30 s after the ARes), so that their sweep and RReqs are
	// not counted in, and do not slow, the next scenario.
	settle bool
}

// Targets of issue 13.
const (
	maxARes         = 1500 * time.Millisecond
	maxP99HalfPeak  = 15 * time.Millisecond
	maxPendingRSS   = 200 << 20
	maxImportTime   = 3 * time.Minute
	maxImportRSS    = 300 << 20
	pendingCount    = 10000
	importCardCount = 1000000
)

func main() {
	// acs-bench cards N FILE writes the card file of N fleet cards (bench/run.sh, for app-flow).
	if len(os.Args) == 4 && os.Args[1] == "cards" {
		n, err := strconv.Atoi(os.Args[2])
		if err == nil {
			err = fleet.WriteFile(os.Args[3], n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "acs-bench:", err)
			os.Exit(2)
		}
		return
	}
	acsURL := flag.String("acs", "http://127.0.0.1:8095", "the ACS's base URL")
	dbURL := flag.String("db", "", "the ACS's database (floor, statement and commit counts)")
	acsPID := flag.Int("acs-pid", 0, "the ACS process, for its CPU time and memory")
	listen := flag.String("listen", "127.0.0.1:8096", "where the notificationURL and SMS gateway of the run listen")
	dsListen := flag.String("ds", "127.0.0.1:8097", "where the DS of the run listens (mutual TLS)")
	pki := flag.String("pki", ".local/bench/pki", "the development PKI (acs pki dev) the DS's certificate comes from")
	sample := flag.String("sample", "testdata/emv/areq-browser.json", "the AReq sample")
	conc := flag.Int("c", 8, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "length of each measured run (and of its floor)")
	only := flag.String("only", "", "comma-separated scenarios to run (default: all)")
	statements := flag.Bool("statements", false, "list each scenario's SQL statements with calls per operation")
	fleetCards := flag.String("fleet", "", "the fleet's card file (app-flow; `acs demo seed` with demo.fleet_cards); empty: app-flow skipped")
	fleetPhone := flag.String("fleet-phone", "", "the fleet phone's state file (demo.fleet_phone)")
	importCmd := flag.String("import", "", "command that imports a card file given as its last argument (the 1,000,000-card run); empty: skipped")
	cpuProfile := flag.String("cpuprofile", "", "write the load tool's own CPU profile to this file (the service's: its admin port's /debug/pprof)")
	flag.Parse()
	if *dbURL == "" {
		fmt.Fprintln(os.Stderr, "acs-bench: -db is required")
		os.Exit(2)
	}
	stopProfile := func() {}
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "acs-bench:", err)
			os.Exit(2)
		}
		stopProfile = stop
	}
	missed, err := run(context.Background(), config{acs: *acsURL, db: *dbURL, acsPID: *acsPID, listen: *listen, dsListen: *dsListen, pki: *pki, sample: *sample, conc: *conc,
		dur: *dur, only: *only, importCmd: *importCmd, statements: *statements, fleetCards: *fleetCards, fleetPhone: *fleetPhone})
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acs-bench:", err)
		os.Exit(2)
	}
	if len(missed) > 0 {
		fmt.Println("\nTARGETS MISSED:")
		for _, m := range missed {
			fmt.Println("  -", m)
		}
		os.Exit(1)
	}
	fmt.Println("\nall targets met")
}

// startProfile writes the load tool's CPU profile until the returned stop: the load tool shares the 2
// cores with the service and PostgreSQL, so its own cost is part of every ratio.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

type config struct {
	acs, db, listen, dsListen, pki, sample, only, importCmd string
	fleetCards, fleetPhone                                  string
	acsPID, conc                                            int
	dur                                                     time.Duration
	statements                                              bool
}

func (c config) wants(name string) bool {
	if c.only == "" {
		return true
	}
	for _, n := range strings.Split(c.only, ",") {
		if n == name {
			return true
		}
	}
	return false
}

func run(ctx context.Context, cfg config) ([]string, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.db)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = int32(cfg.conc + 2)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return nil, err
	}
	p, err := startPeers(cfg.listen, cfg.dsListen, cfg.pki)
	if err != nil {
		return nil, err
	}
	defer p.close()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4 * cfg.conc,
		MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}}
	tmpl, err := loadTemplate(cfg.sample, map[string]any{"notificationURL": p.base + "/notify",
		"threeDSServerURL": p.base + "/3ds-server", "dsURL": "https://" + cfg.dsListen + "/ds/rreq"})
	if err != nil {
		return nil, err
	}
	d := &driver{acs: cfg.acs, client: client, tmpl: tmpl, peers: p, sim: &sim3ds.Sim{ACS: cfg.acs, Client: client}}
	if cfg.fleetCards != "" {
		key, cards, err := fleet.Load(cfg.fleetPhone, cfg.fleetCards)
		if err != nil {
			return nil, err
		}
		d.fleet, d.phone = fleet.NewPool(cards), &fleet.Phone{Base: cfg.acs, Client: client, Key: key, PIN: fleet.PIN}
		if d.roots, err = devpki.In(cfg.pki).Roots(); err != nil {
			return nil, err
		}
	}
	pr := &probe{pool: pool, acs: cfg.acs, acsPID: cfg.acsPID, client: client}

	fmt.Printf("acs-bench %s: %d clients, %s per run, ACS %s\n", time.Now().UTC().Format(time.RFC3339), cfg.conc, cfg.dur, cfg.acs)
	// One purchase first: it teaches the ACS this browser for Anna's card, so that her small purchases
	// can be frictionless (a new browser is always challenged).
	if err := d.mtanFlow(ctx, 0); err != nil {
		return nil, fmt.Errorf("warm-up purchase: %w", err)
	}
	scenarios := []scenario{
		{name: "areq-not-registered", op: d.expectAReq(cardNotRegd, "4990", "N", "13"), target: 0.45, areq: true},
		{name: "areq-frictionless", op: d.expectAReq(cardMTAN, "4990", "Y", ""), target: 0.35, areq: true},
		{name: "areq-challenge", op: d.expectAReq(cardMTAN, "15000", "C", ""), areq: true, settle: true},
		{name: "mtan-flow", op: d.mtanFlow, target: 0.08},
		{name: "app-flow", op: d.appFlow, target: 0.08, fleet: true},
		{name: "app-sdk-flow", op: d.appSDKFlow, target: 0.08, fleet: true},
	}
	var missed []string
	table := newTable()
	peak := map[string]float64{}
	for _, s := range scenarios {
		if !cfg.wants(s.name) {
			continue
		}
		if s.fleet && d.fleet == nil {
			missed = append(missed, s.name+": not measured (no -fleet)")
			continue
		}
		fl, err := floor(ctx, pool, cfg.conc, cfg.dur)
		if err != nil {
			return nil, err
		}
		before, err := pr.read(ctx)
		if err != nil {
			return nil, err
		}
		var stBefore map[string]stmtStat
		if cfg.statements {
			if stBefore, err = statementCalls(ctx, pool); err != nil {
				return nil, err
			}
		}
		res := closedLoop(ctx, cfg.conc, cfg.dur, s.op)
		after, err := pr.read(ctx)
		if err != nil {
			return nil, err
		}
		if cfg.statements {
			stAfter, err := statementCalls(ctx, pool)
			if err != nil {
				return nil, err
			}
			printStatements(s.name, stBefore, stAfter, res.ops)
		}
		ratio := res.opsPerSec() / fl.opsPerSec()
		table.add(s.name, res, fl, ratio, after.minus(before))
		if s.settle {
			if err := settle(ctx, pool); err != nil {
				return nil, fmt.Errorf("after %s: %w", s.name, err)
			}
		}
		peak[s.name] = res.opsPerSec()
		if res.errs > 0 {
			missed = append(missed, fmt.Sprintf("%s: %d operations failed (first: %s)", s.name, res.errs, res.firstErr))
		}
		if s.target > 0 && ratio < s.target {
			missed = append(missed, fmt.Sprintf("%s: ratio %.3f, target %.2f", s.name, ratio, s.target))
		}
		if s.areq && res.max() > maxARes {
			missed = append(missed, fmt.Sprintf("%s: slowest ARes %s, target %s", s.name, res.max(), maxARes))
		}
	}
	table.print()

	if cfg.wants("half-peak") && peak["areq-frictionless"] > 0 {
		rate := peak["areq-frictionless"] / 2
		res := openLoop(ctx, rate, cfg.dur, 64*cfg.conc, d.expectAReq(cardMTAN, "4990", "Y", ""))
		fmt.Printf("\nareq-frictionless, open loop at half of peak (%.0f/s): %d answered, %d failed, p50 %s, p99 %s, p99.9 %s, max %s\n",
			rate, res.ops, res.errs, ms(res.quantile(50)), ms(res.quantile(99)), ms(res.quantile(99.9)), ms(res.max()))
		if res.quantile(99) > maxP99HalfPeak {
			missed = append(missed, fmt.Sprintf("half-peak AReq p99 %s, target %s", ms(res.quantile(99)), ms(maxP99HalfPeak)))
		}
		if res.max() > maxARes || res.errs > 0 {
			missed = append(missed, fmt.Sprintf("half-peak AReq: slowest %s, %d failed (%s)", ms(res.max()), res.errs, res.firstErr))
		}
		// The same rate of plain commits (BEGIN; INSERT; COMMIT), right after: the latency the database and
		// its disk give one write at this rate, with no ACS in the way.
		fl, err := floorOpen(ctx, pool, rate, cfg.dur, 64*cfg.conc)
		if err != nil {
			return nil, err
		}
		fmt.Printf("the floor's commit, open loop at the same rate: %d committed, %d failed, p50 %s, p99 %s, p99.9 %s, max %s\n",
			fl.ops, fl.errs, ms(fl.quantile(50)), ms(fl.quantile(99)), ms(fl.quantile(99.9)), ms(fl.max()))
	}
	if cfg.wants("pending") {
		m, err := pendingRun(ctx, d, pr, cfg)
		if err != nil {
			return nil, err
		}
		missed = append(missed, m...)
	}
	if cfg.importCmd != "" && cfg.wants("import") {
		m, err := importRun(ctx, cfg.importCmd)
		if err != nil {
			return nil, err
		}
		missed = append(missed, m...)
	}
	fmt.Printf("\nRReqs acknowledged by the DS: %d, refused: %d, transactions with more than one RReq: %d\n",
		p.rreqs.Load(), p.rreqErrs.Load(), p.duplicates())
	if p.rreqErrs.Load() > 0 || p.duplicates() > 0 {
		missed = append(missed, "RReq delivery: refused or repeated RReqs")
	}
	return missed, nil
}

// pendingRun opens pendingCount challenges (AReq and CReq, the mTAN sent, never answered) and reports
// the service's memory and the timeout sweep's cost per pass with few and with many open.
func pendingRun(ctx context.Context, d *driver, pr *probe, cfg config) ([]string, error) {
	sweepBefore, err := sweepCost(ctx, pr.pool)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var opened atomic.Int64
	res := closedLoop(pctx, cfg.conc, 10*time.Minute, func(ctx context.Context, w int) error {
		a, m, err := d.areq(ctx, cardMTAN, "15000", fmt.Sprintf("Pending %d", w))
		if err != nil {
			return err
		}
		if a.TransStatus != "C" {
			return fmt.Errorf("ARes %s", a.TransStatus)
		}
		page, err := d.sim.Challenge(m, sim3ds.CReq(m, "05", nil), "cA", "de")
		if err != nil {
			return err
		}
		if page.Status != http.StatusOK {
			return fmt.Errorf("challenge page: HTTP %d", page.Status)
		}
		if opened.Add(1) >= pendingCount {
			stop()
		}
		return nil
	})
	var missed []string
	if res.errs > 0 {
		missed = append(missed, fmt.Sprintf("pending: %d challenges failed to open (first: %s)", res.errs, res.firstErr))
	}
	mem := int64(0)
	if pr.acsPID > 0 {
		if mem, err = rss(pr.acsPID); err != nil {
			return nil, err
		}
	}
	sweepAfter, err := sweepCost(ctx, pr.pool)
	if err != nil {
		return nil, err
	}
	fmt.Printf("\npending: %d challenges open (opened in %s); ACS resident %.0f MB; sweep pass: %.1f buffers with few open, %.1f with %d open\n",
		opened.Load(), time.Since(start).Round(time.Second), float64(mem)/(1<<20), sweepBefore, sweepAfter, opened.Load())
	if mem > maxPendingRSS {
		missed = append(missed, fmt.Sprintf("pending: ACS resident %d MB, target %d MB", mem>>20, maxPendingRSS>>20))
	}
	if sweepAfter > 2*sweepBefore+8 {
		missed = append(missed, fmt.Sprintf("pending: sweep reads %.1f buffers per pass with %d open, %.1f with few", sweepAfter, opened.Load(), sweepBefore))
	}
	return missed, nil
}

// sweepCost is the buffers the timeout sweep's statement touches per call, over the next 4 seconds
// (the sweep runs every second).
func sweepCost(ctx context.Context, pool *pgxpool.Pool) (float64, error) {
	// Challenges already due (the challenged AReqs of the runs before) would be counted as the sweep's
	// work: measure once none is.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		var due int
		if err := pool.QueryRow(ctx, probeMark+` SELECT count(*) FROM acs_transactions WHERE trans_status = 'C'
			AND final_status IS NULL AND due_at <= now()`).Scan(&due); err != nil {
			return 0, err
		}
		if due == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d challenges still due after 2 minutes: the sweep is behind", due)
		}
	}
	read := func() (calls, blocks float64, err error) {
		err = pool.QueryRow(ctx, probeMark+` SELECT coalesce(sum(calls), 0)::float8, coalesce(sum(shared_blks_hit + shared_blks_read), 0)::float8
			FROM pg_stat_statements WHERE query LIKE '%due_at <= $1%' AND query NOT LIKE '%bench probe%'`).Scan(&calls, &blocks)
		return
	}
	c0, b0, err := read()
	if err != nil {
		return 0, err
	}
	time.Sleep(4 * time.Second)
	c1, b1, err := read()
	if err != nil {
		return 0, err
	}
	if c1 == c0 {
		return 0, fmt.Errorf("the timeout sweep did not run in 4 s")
	}
	return (b1 - b0) / (c1 - c0), nil
}

// importRun imports importCardCount generated cards with the given command and reports its time and
// peak memory.
func importRun(ctx context.Context, command string) ([]string, error) {
	dir, err := os.MkdirTemp("", "acs-bench-import")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := dir + "/cards.csv"
	if err := writeCardFile(file, importCardCount); err != nil {
		return nil, err
	}
	args := append(strings.Fields(command), file)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("import: %w: %s", err, out)
	}
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	fmt.Printf("\nimport-cards of %d cards: %s, peak resident %.0f MB (%s)\n", importCardCount, took.Round(time.Second),
		float64(maxRSS)/(1<<20), strings.TrimSpace(string(out)))
	var missed []string
	if took > maxImportTime {
		missed = append(missed, fmt.Sprintf("import: %s, target %s", took.Round(time.Second), maxImportTime))
	}
	if maxRSS > maxImportRSS {
		missed = append(missed, fmt.Sprintf("import: peak resident %d MB, target %d MB", maxRSS>>20, maxImportRSS>>20))
	}
	return missed, nil
}

// settle waits until no challenge is open and no RReq waits for delivery, at most two minutes.
func settle(ctx context.Context, pool *pgxpool.Pool) error {
	began := time.Now()
	for time.Since(began) < 2*time.Minute {
		var open, queued int
		err := pool.QueryRow(ctx, probeMark+` SELECT
			(SELECT count(*) FROM acs_transactions WHERE trans_status = 'C' AND final_status IS NULL),
			(SELECT count(*) FROM acs_results WHERE state = 'pending')`).Scan(&open, &queued)
		if err != nil {
			return err
		}
		if open == 0 && queued == 0 {
			fmt.Printf("(settled in %.0f s: the open challenges timed out, their RReqs delivered)\n", time.Since(began).Seconds())
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return errors.New("challenges still open or RReqs queued after 2 minutes")
}
