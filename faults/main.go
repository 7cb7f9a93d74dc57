// Command acs-faults runs the fault scenarios of issue 12 against a real `acs serve` on loopback and
// prints what it measured. It starts the service as a child process, plays the merchants' 3DS Server,
// the Directory Server (mutual TLS, internal/sim3ds), the cardholders' browsers and the bank's app on a
// phone holding the fleet of cards that `acs demo seed` registered, and while clients buy and approve it
// restarts PostgreSQL, takes the HSM token away, takes the DS down, and stops the service with SIGTERM.
// Each scenario is then checked against PostgreSQL and against what the DS and the merchants received;
// the exit code is 1 when a figure misses its bar. faults/run.sh prepares everything and calls it
// (`make faults`); nothing here is used by the service itself.
//
//	acs-faults cards N FILE   write an issuer card file of N fleet cards (test numbers)
//	acs-faults run [flags]    run the scenarios
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/config"
	"example.com/acs/internal/devpki"
	"example.com/acs/internal/fleet"
	"example.com/acs/internal/sim3ds"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = "usage: acs-faults cards N FILE | acs-faults run [flags] | acs-faults chaos [flags]"

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 3 && args[0] == "cards" {
		n, err := strconv.Atoi(args[1])
		if err == nil {
			err = fleet.WriteFile(args[2], n)
		}
		if err != nil {
			fmt.Fprintln(stderr, "acs-faults:", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == "chaos" {
		return chaosMain(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("acs-faults run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", ".local/faults/acs.yaml", "the service's configuration")
	acsBin := fs.String("acs", "bin/acs", "the acs binary")
	phonePath := fs.String("phone", ".local/faults/fleet-phone.json", "the fleet phone's state file")
	cardsPath := fs.String("cards", ".local/faults/fleet.csv", "the fleet's card file")
	sample := fs.String("areq", "testdata/emv/areq-browser.json", "the AReq the purchases start from")
	pki := fs.String("pki", ".local/faults/pki", "the development PKI of `acs pki dev` (the DS's certificate)")
	tokens := fs.String("tokens", ".local/faults/tokens", "SoftHSM2's token folder (directories.tokendir)")
	devenv := fs.String("devenv", "scripts/devenv.sh", "the script that restarts the PostgreSQL cluster")
	logPath := fs.String("log", ".local/faults/serve.log", "where the service's log goes")
	pidPath := fs.String("pidfile", ".local/faults/serve.pid", "where the service's process id is written (for clean-up)")
	simAddr := fs.String("sim", "127.0.0.1:8191", "the 3DS Server simulator's address (notificationURL)")
	only := fs.String("scenarios", "pg,hsm,ds,term", "the scenarios to run, in order: pg, hsm, ds, term")
	var o options
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients (the HSM and DS scenarios use half)")
	fs.DurationVar(&o.pace, "pace", 500*time.Millisecond, "at most one purchase per client in this time")
	fs.DurationVar(&o.pgRun, "pg-run", 40*time.Second, "length of the PostgreSQL scenario's load")
	fs.DurationVar(&o.pgAt, "pg-at", 15*time.Second, "when PostgreSQL is restarted")
	fs.IntVar(&o.pgRestarts, "pg-restarts", 1, "how many times PostgreSQL is restarted, 2 s apart")
	fs.DurationVar(&o.hsmAt, "hsm-at", 5*time.Second, "when the token is taken away")
	fs.DurationVar(&o.hsmAway, "hsm-away", 8*time.Second, "how long the token stays away")
	fs.DurationVar(&o.hsmAfter, "hsm-after", 8*time.Second, "load after the token's return")
	fs.DurationVar(&o.dsAt, "ds-at", 5*time.Second, "when the DS goes down")
	fs.DurationVar(&o.dsDown, "ds-down", 60*time.Second, "how long the DS stays down")
	fs.DurationVar(&o.dsAfter, "ds-after", 5*time.Second, "load after the DS is back, before it is slow")
	fs.DurationVar(&o.dsSlow, "ds-slow", 10*time.Second, "how long the DS is slow")
	fs.DurationVar(&o.dsDelay, "ds-delay", 3*time.Second, "how long the slow DS takes to answer an RReq")
	fs.DurationVar(&o.termAt, "term-at", 6*time.Second, "when SIGTERM is sent")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "acs-faults:", err)
		return 1
	}
	h := &harness{cfg: cfg, cfgPath: *cfgPath, acsBin: *acsBin, logPath: *logPath, devenv: *devenv, tokens: *tokens,
		awayPath: *tokens + "-away", base: strings.TrimSuffix(cfg.PublicURL, "/"), opt: o, pidPath: *pidPath,
		probe: &http.Client{Timeout: 3 * time.Second}}
	if err := h.setUp(*phonePath, *cardsPath, *sample, *pki, *simAddr); err != nil {
		fmt.Fprintln(stderr, "acs-faults:", err)
		h.tearDown()
		return 1
	}
	// Interrupted, the harness stops the service it started before it goes.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(stderr, "acs-faults: interrupted; stopping acs serve")
		h.tearDown()
		os.Exit(1)
	}()
	started := time.Now()
	var all []*scenario
	for _, name := range strings.Split(*only, ",") {
		f := map[string]func() *scenario{"pg": h.pgRestart, "hsm": h.hsmRemoved, "ds": h.dsDown, "term": h.sigterm}[name]
		if f == nil {
			fmt.Fprintf(stderr, "acs-faults: unknown scenario %q\n", name)
			h.tearDown()
			return 2
		}
		if !h.svc.running() {
			fmt.Fprintln(stderr, "acs-faults: acs serve is not running; scenario", name, "skipped")
			continue
		}
		fmt.Fprintf(stderr, "acs-faults: scenario %s (%.0f s into the run)\n", name, time.Since(started).Seconds())
		writePID(h.pidPath, h.svc)
		s := f()
		writePID(h.pidPath, h.svc)
		all = append(all, s)
	}
	w := h.whole()
	exitAfter := time.Now()
	stopErr := h.svc.stop(h.cfg.ShutdownTimeout + 5*time.Second)
	code := h.svc.exitCode()
	w.bar("service stopped at the end (SIGTERM, idle)", fmt.Sprintf("code %d after %s", code, secs(time.Since(exitAfter))), "code 0",
		stopErr == nil && code == 0)
	w.info("scenarios' run time", "%s", secs(time.Since(started)))
	all = append(all, w)
	h.tearDown()
	fmt.Fprintln(stdout)
	printFigures(stdout, all)
	for _, s := range all {
		if s.failed() {
			fmt.Fprintln(stdout, "\nacs-faults: a figure missed its bar (FAILED above); the service's log is", *logPath)
			return 1
		}
	}
	fmt.Fprintln(stdout, "\nacs-faults: every bar met")
	return 0
}

func writePID(path string, s *service) {
	if s != nil {
		_ = os.WriteFile(path, []byte(strconv.Itoa(s.pid())+"\n"), 0o600)
	}
}

// setUp opens the database, starts the DS and 3DS Server simulator and the service, and waits until it
// is ready.
func (h *harness) setUp(phonePath, cardsPath, sample, pkiDir, simAddr string) error {
	if err := h.setUpClients(phonePath, cardsPath, sample, pkiDir, simAddr); err != nil {
		return err
	}
	var err error
	if h.svc, err = startService(h.acsBin, h.cfgPath, h.logPath, h.base); err != nil {
		return err
	}
	if _, err := h.svc.waitReady(h.probe, time.Minute); err != nil {
		return err
	}
	return nil
}

// setUpClients opens the database and starts the DS, the 3DS Server simulator and the clients.
func (h *harness) setUpClients(phonePath, cardsPath, sample, pkiDir, simAddr string) error {
	key, cards, err := fleet.Load(phonePath, cardsPath)
	if err != nil {
		return err
	}
	if h.db, err = pgxpool.New(context.Background(), h.cfg.Database.URL); err != nil {
		return errors.New("database URL does not parse")
	}
	acsURL, err := url.Parse(h.base)
	if err != nil {
		return err
	}
	if h.sim, err = sim3ds.StartOn(h.base, simAddr); err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	h.rec = &recorder{next: tr, acsHost: acsURL.Host}
	// Each request is bounded; the bar (an answer within 5 s) is measured, this only keeps a hung one from
	// holding a client for ever.
	h.sim.Client = &http.Client{Transport: h.rec, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := h.serveDS(pkiDir); err != nil {
		return err
	}
	h.drv = &driver{sim: h.sim, sample: sample, acs: h.base, pool: fleet.NewPool(cards),
		phone: &fleet.Phone{Base: h.base, Client: h.sim.Client, Key: key, PIN: fleet.PIN}}
	return nil
}

// serveDS plays the DS that the configuration names, over mutual TLS with the development PKI: the ACS
// presents its client certificate, whose key is on the HSM.
func (h *harness) serveDS(pkiDir string) error {
	if len(h.cfg.ThreeDS.DirectoryServers) == 0 {
		return errors.New("the configuration names no Directory Server")
	}
	u, err := url.Parse(h.cfg.ThreeDS.DirectoryServers[0].URL)
	if err != nil {
		return err
	}
	f := devpki.In(pkiDir)
	cert, err := tls.LoadX509KeyPair(f.DS, f.DSKey)
	if err != nil {
		return fmt.Errorf("the DS's certificate (acs pki dev %s): %w", pkiDir, err)
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return err
	}
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", f.CA)
	}
	if err := h.sim.ServeDSOn(u.Host, cert, cas); err != nil {
		return err
	}
	if h.sim.DSURL() != h.cfg.ThreeDS.DirectoryServers[0].URL {
		return fmt.Errorf("the DS serves %s, the configuration names %s", h.sim.DSURL(), u)
	}
	return nil
}

// tearDown stops the service (if it runs) and the simulator.
func (h *harness) tearDown() {
	if h.svc != nil {
		_ = h.svc.stop(h.cfg.ShutdownTimeout + 5*time.Second)
		// Gone: its process id may be another process's soon.
		_ = os.Remove(h.pidPath)
	}
	if h.sim != nil {
		h.sim.Close()
	}
	if h.db != nil {
		h.db.Close()
	}
}
