// Command acs is the Access Control Server: one binary whose subcommands serve the EMV 3DS surface and
// run the operator's tasks (schema migration, HSM key creation, card file import, key rotation). main
// only parses, loads and validates the configuration, constructs the parts, and runs; the logic lives
// in the packages.
package main

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"example.com/acs/acs"
	"example.com/acs/apidoc"
	"example.com/acs/appapi"
	"example.com/acs/audit"
	"example.com/acs/authval"
	"example.com/acs/cardmgmt"
	"example.com/acs/cards"
	"example.com/acs/config"
	"example.com/acs/demo"
	"example.com/acs/dslink"
	"example.com/acs/envelope"
	"example.com/acs/hsm"
	"example.com/acs/internal/devpki"
	"example.com/acs/issuerapi"
	"example.com/acs/letters"
	"example.com/acs/limits"
	"example.com/acs/portal"
	"example.com/acs/push"
	"example.com/acs/registration"
	"example.com/acs/retention"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/store"
	"example.com/acs/support"
	"example.com/acs/whitelist"
)

const usage = `usage: acs [-config FILE] COMMAND [ARGS]

Commands:
  serve               serve HTTP until SIGTERM or SIGINT
  migrate             apply database migrations
  hsm init            create the HSM keys the ACS needs (once per token)
  import-cards FILE   load the issuer's card file (CSV); all rows or none; registrations of cards it
                      marks blocked or closed end
  statements sms MONTH FILE
                      write the SMS statement of billing month MONTH (YYYY-MM) for the card billing
                      system (CSV card_ref,card,sent_at,purpose,price,currency; abuse-marked SMS left out)
  retention run       remove or anonymise what is past its retention (configuration retention; README
                      "Retention"): batched, safe while the service runs, idempotent
  cards apply FILE    apply the card management system's delta file (block, unblock, replace, renew,
                      close; CSV action,pan,new_pan,expiry,reason); all rows or none
  staff add NAME ROLE create a support staff member (ROLE agent or supervisor); prints the token and
                      the authenticator app's TOTP secret once
  staff rotate NAME   give a staff member a new token (the old one and its sessions stop); prints it once
  staff otp NAME      give a staff member a new TOTP secret (lost phone; lifts a lock); prints it once
  staff disable NAME  end a staff member's access at once
  letters sample FILE write a sample letter PDF (made-up holder and code) to look at
  letters batch       print every requested ID-code letter into one PDF and manifest
  verify-av           check an authentication value against the transaction the ACS answered: reads
                      the authorisation's data as JSON on standard input (as POST
                      /issuer/v1/authentication-values/verify does); exit 1 unless valid
  keys list           list the HSM's keys of this configuration: labels and types, never values
  issuer-client add NAME      give an issuer system (authorisation host) an /issuer/v1 token; printed once
  issuer-client disable NAME  end an issuer system's access at once
  evidence ID         show what proves an app approval of the transaction ID and verify it again:
                      the signed data, the signature, the device key's fingerprint; exit 1 if it fails
  keys rotate         add a new primary data key; old ciphertexts still decrypt
  keys reencrypt      rewrite stored secrets under the primary data key
  audit verify        check the audit log's hash chain: entries changed, removed or out of order
  demo seed [PHONE]   development only: register the demo card 4000 11** **** 0017 for mTAN and, given a
                      state file PHONE for acs-app, 5200 11** **** 0012 for the app on that demo phone
  pki dev DIR         development only: a DS CA, a loopback DS certificate and the ACS's DS client
                      certificate for the HSM's ds-client key, under DIR (kept when still valid)

The configuration file defaults to $ACS_CONFIG; environment variables override it (see README).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("acs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	cfgPath := fs.String("config", os.Getenv("ACS_CONFIG"), "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd := command(fs.Args(), stdin)
	if cmd == nil {
		fs.Usage()
		return 2
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "acs: no configuration: pass -config FILE or set ACS_CONFIG")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "acs:", err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = cmd(ctx, cfg, log, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "acs:", err)
		return 1
	}
	return 0
}

type commandFunc func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error

// command picks the subcommand for args, or nil when args name none.
func command(args []string, stdin io.Reader) commandFunc {
	switch strings.Join(args, " ") {
	case "serve":
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, _ io.Writer) error {
			return serve(ctx, cfg, log)
		}
	case "migrate":
		return func(ctx context.Context, cfg *config.Config, _ *slog.Logger, out io.Writer) error {
			return migrate(ctx, cfg, out)
		}
	case "hsm init":
		return func(_ context.Context, cfg *config.Config, _ *slog.Logger, out io.Writer) error {
			return hsmInit(cfg, out)
		}
	case "letters batch":
		return lettersBatch
	case "verify-av":
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return verifyAV(ctx, cfg, log, stdin, out)
		}
	case "keys list":
		return func(_ context.Context, cfg *config.Config, _ *slog.Logger, out io.Writer) error {
			return keysList(cfg, out)
		}
	case "keys rotate":
		return keysRotate
	case "demo seed":
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return demoSeed(ctx, cfg, log, "", out)
		}
	case "keys reencrypt":
		return keysReencrypt
	case "audit verify":
		return auditVerify
	case "retention run":
		return retentionRun
	}
	if len(args) == 4 && args[0] == "staff" && args[1] == "add" {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return staffAdd(ctx, cfg, log, args[2], support.Role(args[3]), out)
		}
	}
	if len(args) == 3 && args[0] == "staff" && (args[1] == "disable" || args[1] == "rotate" || args[1] == "otp") {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return staffChange(ctx, cfg, log, args[1], args[2], out)
		}
	}
	if len(args) == 3 && args[0] == "issuer-client" && (args[1] == "add" || args[1] == "disable") {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return issuerClient(ctx, cfg, log, args[1], args[2], out)
		}
	}
	if len(args) == 3 && args[0] == "letters" && args[1] == "sample" {
		return func(_ context.Context, cfg *config.Config, _ *slog.Logger, out io.Writer) error {
			return lettersSample(cfg, args[2], out)
		}
	}
	if len(args) == 3 && args[0] == "demo" && args[1] == "seed" {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return demoSeed(ctx, cfg, log, args[2], out)
		}
	}
	if len(args) == 3 && args[0] == "pki" && args[1] == "dev" {
		return func(_ context.Context, cfg *config.Config, _ *slog.Logger, out io.Writer) error {
			return pkiDev(cfg, args[2], out)
		}
	}
	if len(args) == 2 && args[0] == "evidence" {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return evidence(ctx, cfg, log, args[1], out)
		}
	}
	if len(args) == 4 && args[0] == "statements" && args[1] == "sms" {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return statementSMS(ctx, cfg, log, args[2], args[3], out)
		}
	}
	if len(args) == 3 && args[0] == "cards" && args[1] == "apply" {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return cardsApply(ctx, cfg, log, args[2], out)
		}
	}
	if len(args) == 2 && args[0] == "import-cards" {
		return func(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
			return importCards(ctx, cfg, log, args[1], out)
		}
	}
	return nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// deps are the long-lived parts the commands share: connections, keys and the domain services.
type deps struct {
	clock        clockwork.Clock
	smsPrice     decimal.Decimal
	budget       sms.Budget
	mtanOutbox   *sms.Outbox // the challenges' (serve has its mTANs sent by its dispatcher at once)
	pool         *pgxpool.Pool
	hsm          *hsm.HSM
	keys         *envelope.Keyring
	digests      *envelope.Digester
	cards        *cards.Directory
	letters      *letters.Letters
	audit        *audit.Log
	registration *registration.Registrar
	support      *support.Service
	results      *acs.Results
	threeds      *acs.Handler
	whitelist    *whitelist.List
	challenges   *acs.Challenges
	decider      *acs.Decider
	app          *acs.AppChannel
	push         *push.Service
	av           *authval.Service
	issuer       *issuerapi.Service
	cardChanges  *cardmgmt.Service
	// metricsRegistry is served at /metrics with the HTTP metrics and the decision counters.
	metricsRegistry *prometheus.Registry
	metrics         *acs.Metrics
}

func (d *deps) Close() {
	if d.hsm != nil {
		_ = d.hsm.Close()
	}
	if d.pool != nil {
		d.pool.Close()
	}
}

// open connects the database (which must be at the schema this binary expects) and the HSM, loads the
// data keyset, and constructs the domain services.
func open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*deps, error) {
	d := &deps{}
	var err error
	if d.pool, err = store.Open(ctx, cfg.Database); err != nil {
		return nil, err
	}
	cur, latest, err := store.SchemaVersion(ctx, d.pool)
	if err != nil {
		d.Close()
		return nil, err
	}
	if cur != latest {
		d.Close()
		return nil, fmt.Errorf("database schema is at version %d, this binary needs %d: run `acs migrate`", cur, latest)
	}
	if d.hsm, err = hsm.Open(cfg.HSM, cfg.HSMKeys()...); err != nil {
		d.Close()
		return nil, err
	}
	if n, err := d.hsm.SessionCopies(); err != nil {
		log.Warn("hsm open: keys used as token objects, no session copies", "err", err)
	} else {
		log.Info("hsm open", "session_copies", n)
	}
	d.av = authval.New(cfg.AuthValues, d.hsm)
	if d.keys, err = envelope.Open(ctx, d.pool, d.hsm.KEK(), "pii"); err != nil {
		d.Close()
		return nil, err
	}
	if d.digests, err = envelope.OpenDigester(ctx, d.pool, d.hsm.KEK(), "digest"); err != nil {
		d.Close()
		return nil, err
	}
	d.clock = clockwork.NewRealClock()
	d.smsPrice = decimal.RequireFromString(cfg.SMS.Price) // validated with the configuration
	d.budget = sms.Budget{PerHour: cfg.SMS.BudgetPerHour, PerDay: cfg.SMS.BudgetPerDay}
	clock, price := d.clock, d.smsPrice
	d.audit = audit.New(d.pool, clock).Chained(d.hsm)
	d.cards = cards.New(cards.Deps{Pool: d.pool, Keys: d.keys, Hasher: d.hsm, Log: log})
	d.letters = letters.New(letters.Deps{Pool: d.pool, Verifier: d.hsm, Cards: d.cards, Clock: clock, Log: log, Issuer: cfg.Issuer.Name,
		Access: d.audit})
	d.registration = registration.New(registration.Deps{Pool: d.pool, Cards: d.cards, Letters: d.letters, Data: d.keys, Keys: d.hsm,
		Limits: limits.New(d.pool, clock),
		Outbox: sms.NewOutbox(d.keys, clock).WithBudget(d.budget), Audit: d.audit, Clock: clock, Log: log, SMSPrice: price,
		Currency: cfg.SMS.Currency})
	d.whitelist = whitelist.New(d.pool, clock)
	d.support = support.New(support.Deps{Pool: d.pool, Keys: d.hsm, Cards: d.cards, Letters: d.letters, Whitelist: d.whitelist,
		Registration: d.registration, Audit: d.audit, Clock: clock, Log: log, Data: d.keys, Issuer: cfg.Issuer.Name,
		Transactions: func(ctx context.Context, cardID uuid.UUID) (any, error) { return acs.History(ctx, d.pool, cardID, 50) }, Limits: limits.New(d.pool, clock)})
	d.metricsRegistry = prometheus.NewRegistry()
	d.metrics = acs.NewMetrics(d.metricsRegistry)
	d.metricsRegistry.MustRegister(d.hsm.Collector(), store.Cached(store.PoolCollector(d.pool), store.MetricsPeriod),
		store.Cached(acs.RReqBacklog(d.pool), store.MetricsPeriod))
	link, err := dsLink(cfg.ThreeDS, d.hsm)
	if err != nil {
		d.Close()
		return nil, err
	}
	if d.push, err = pushService(cfg.Push, d.pool, d.keys, log, d.metricsRegistry); err != nil {
		d.Close()
		return nil, err
	}
	if d.app, err = appChannel(cfg, d.hsm, d.keys); err != nil {
		d.Close()
		return nil, err
	}
	d.results = acs.NewResults(acs.ResultDeps{Pool: d.pool, Cards: d.cards, AV: d.av, Clock: clock, Log: log, Link: link,
		MaxAttempts: cfg.ThreeDS.RReqMaxAttempts, RetryInterval: cfg.ThreeDS.RReqRetryInterval,
		ReadTimeout: cfg.ThreeDS.DSLink.ReadTimeout, Whitelist: d.whitelist, Metrics: d.metrics})
	d.mtanOutbox = sms.NewOutbox(d.keys, clock).WithBudget(d.budget)
	d.challenges = acs.NewChallenges(acs.ChallengeDeps{Pool: d.pool, Registration: d.registration, Digests: d.digests,
		Outbox: d.mtanOutbox, Clock: clock, Log: log, SMSPrice: price, Currency: cfg.SMS.Currency,
		Results: d.results, Pusher: pusher{d.push}, Sessions: d.keys})
	var pipe *store.Pipeline
	if n := cfg.Database.PipelineLanes; n > 0 {
		pipe = &store.Pipeline{Pool: d.pool, Lanes: n, Max: store.DefaultPipelineMax}
		d.metricsRegistry.MustRegister(store.PipelineCollector(pipe))
	}
	d.decider = acs.NewDecider(acs.DecisionDeps{Pool: d.pool, Pipe: pipe, Cards: d.cards, Clock: clock, Log: log,
		ChallengeURL: strings.TrimSuffix(cfg.PublicURL, "/") + "/3ds/challenge", ReferenceNumber: cfg.ThreeDS.ReferenceNumber,
		AV: d.av, Digests: d.digests, Risk: risk(cfg.ThreeDS), Whitelist: d.whitelist, Metrics: d.metrics,
		OperatorID: cfg.ThreeDS.OperatorID, App: d.app, Decoupled: d.challenges})
	d.threeds = acs.NewHandler(acs.HandlerDeps{Decider: d.decider, Challenges: d.challenges, Results: d.results, Tokens: d.keys,
		Clock: clock, Log: log, Issuer: cfg.Issuer.Name, LoopbackFraming: strings.HasPrefix(cfg.PublicURL, "http://"),
		RequireDSCertificate: cfg.TLS.ClientCAFile != "", DSCertificateNames: cfg.TLS.ClientNames})
	d.cardChanges = cardmgmt.New(cardmgmt.Deps{Pool: d.pool, Cards: d.cards, Registration: d.registration, Letters: d.letters,
		Audit: d.audit})
	d.issuer = issuerapi.New(issuerapi.Deps{Pool: d.pool, Keys: d.hsm, Limits: limits.New(d.pool, clock),
		Verifier: acs.NewAVVerifier(d.pool, d.cards, d.av, d.clock), CardChanges: d.cardChanges, Cards: d.cards, Zone: cfg.Issuer.Zone(),
		Audit: d.audit, Clock: clock, Log: log})
	return d, nil
}

// pkiDev writes the development PKI of the DS link under dir (internal/devpki): a CA standing in for
// the schemes' DS CA, a DS certificate for loopback, and the ACS's client certificate for the HSM's
// ds-client key. Development only, like the demo seed: refused unless the SMS gateway is dev.
func pkiDev(cfg *config.Config, dir string, out io.Writer) error {
	if cfg.SMS.Gateway != "dev" {
		return errors.New("pki dev: development only (sms.gateway must be dev); production certificates come from the scheme's DS CA")
	}
	h, err := hsm.Open(cfg.HSM, cfg.OwnKeys()...)
	if err != nil {
		return err
	}
	defer h.Close()
	f, wrote, err := devpki.Ensure(dir, h.DSClientSigner(), h.Signer(), time.Now())
	if err != nil {
		return err
	}
	if len(cfg.OwnKeys()) > 0 {
		// A scheme requires PS256: the certificate of the HSM's RSA key as well (acs-signing-rsa.pem).
		rsaKey, err := h.SchemeSigner(config.RSASigningKey.Name)
		if err != nil {
			return err
		}
		w, err := devpki.EnsureSigning(f, f.ACSSigningRSA, rsaKey, time.Now())
		if err != nil {
			return err
		}
		wrote = wrote || w
	}
	state := "up to date"
	if wrote {
		state = "written"
	}
	fmt.Fprintf(out, "pki dev: %s: CA %s, DS %s, ACS client %s, ACS signing %s (keys on the HSM)\n", state, f.CA, f.DS, f.ACSClient, f.ACSSigning)
	return nil
}

// appChannel reads the schemes' signing certificates for the app channel; nil when none is configured.
// A certificate that is not for the HSM's signer key is refused at start: every app purchase of the
// scheme would fail at the SDK's check.
func appChannel(cfg *config.Config, h *hsm.HSM, keys *envelope.Keyring) (*acs.AppChannel, error) {
	chains, signers := map[string][][]byte{}, map[string]crypto.Signer{}
	for _, ds := range cfg.ThreeDS.DirectoryServers {
		if ds.SigningCertFile == "" {
			continue
		}
		signer := h.Signer()
		if ds.SigningAlg == "PS256" {
			s, err := h.SchemeSigner(config.RSASigningKey.Name)
			if err != nil {
				return nil, err
			}
			signer, signers[ds.Scheme] = s, s
		}
		chain, err := dslink.LoadChain(ds.SigningCertFile, signer.Public())
		if err != nil {
			return nil, fmt.Errorf("threeds.directory_servers[%s].signing_cert_file: %w", ds.Scheme, err)
		}
		chains[ds.Scheme] = chain
	}
	if len(chains) == 0 {
		return nil, nil
	}
	return &acs.AppChannel{Signer: h.Signer(), Chains: chains, Signers: signers,
		URL: strings.TrimSuffix(cfg.PublicURL, "/") + "/3ds/app", Keys: keys}, nil
}

// dsLink builds the link to the Directory Servers: the configured DSs are the allow-list, the client
// certificate's key is the HSM's ds-client key.
func dsLink(t config.ThreeDS, h *hsm.HSM) (*dslink.Link, error) {
	roots, err := dslink.LoadRoots(t.DSLink.CAFile)
	if err != nil {
		return nil, err
	}
	client, err := dslink.ClientCertificate(t.DSLink.ClientCertFile, h.DSClientSigner())
	if err != nil {
		return nil, err
	}
	cfg := dslink.Config{Roots: roots, Client: client, Timeout: t.DSLink.ReadTimeout, PlainLoopback: t.DSLink.PlainLoopback}
	for _, d := range t.DirectoryServers {
		cfg.DSs = append(cfg.DSs, dslink.DS{Scheme: d.Scheme, URL: d.URL, Hosts: d.Hosts})
	}
	return dslink.New(cfg)
}

// evidence prints what proves the app answer of a transaction and verifies it again from the stored
// data (§ 675w BGB): an error when there is no signed answer, or it does not verify.
func evidence(ctx context.Context, cfg *config.Config, log *slog.Logger, acsTransID string, out io.Writer) error {
	id, err := uuid.Parse(acsTransID)
	if err != nil {
		return errors.New("evidence: give the transaction's acsTransID")
	}
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	e, err := d.challenges.Evidence(ctx, id)
	if err != nil {
		return err
	}
	return printEvidence(out, e)
}

func printEvidence(out io.Writer, e *acs.Evidence) error {
	yes := map[bool]string{true: "yes", false: "NO"}
	fmt.Fprintf(out, "transaction        %s\ncard               %s\nmerchant           %s\namount             %s\ndate               %s\n",
		e.ACSTransID, e.Card, e.Merchant, e.Amount, e.Date.UTC().Format(time.RFC3339))
	answered := "-"
	if e.AnsweredAt != nil {
		answered = e.AnsweredAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "answer             %s (%s) at %s; transaction ended %s\n", e.State, orNone(e.Verification), answered, orNone(e.TransStatus))
	if len(e.SignedData) == 0 {
		fmt.Fprintln(out, "signed answer      none")
		return errors.New("evidence: no signed answer for this transaction")
	}
	fmt.Fprintf(out, "signed data        %s\nsignature          %s\ndevice key sha256  %x\n", e.SignedData,
		base64.StdEncoding.EncodeToString(e.Signature), e.DeviceKeySHA256)
	fmt.Fprintf(out, "signature verifies %s\ndata is the stored transaction's %s\n", yes[e.SignatureValid], yes[e.DataMatches])
	if !e.Verified() {
		return errors.New("evidence: the approval does not verify")
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pusher hands a waiting confirmation to the push service, which wakes the app in the background
// (its id only: no card data, amount or merchant passes Google or Apple).
type pusher struct{ s *push.Service }

func (p pusher) Push(ctx context.Context, registrationID uuid.UUID, c acs.Confirmation) error {
	p.s.Notify(ctx, registrationID, push.Message{ConfirmationID: c.ID})
	return nil
}

// pushService builds the push clients the configuration names (FCM for Android, APNs for iOS).
func pushService(cfg config.Push, pool *pgxpool.Pool, keys *envelope.Keyring, log *slog.Logger, reg prometheus.Registerer) (*push.Service, error) {
	senders := map[push.Platform]push.Sender{}
	if cfg.FCM.ServiceAccountFile != "" {
		f, err := push.LoadFCM(cfg.FCM.ServiceAccountFile, cfg.FCM.SendURL)
		if err != nil {
			return nil, fmt.Errorf("push.fcm: %w", err)
		}
		senders[push.Android] = f
	}
	if cfg.APNs.KeyFile != "" {
		key, err := push.LoadAPNsKey(cfg.APNs.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("push.apns: %w", err)
		}
		u := cfg.APNs.URL
		if u == "" {
			u = "https://api.push.apple.com"
		}
		// HTTP/2 is what APNs speaks; net/http negotiates it over TLS.
		senders[push.IOS] = &push.APNs{URL: u, Topic: cfg.APNs.Topic, KeyID: cfg.APNs.KeyID, TeamID: cfg.APNs.TeamID, Key: key,
			Client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true}}, Now: time.Now}
	}
	return push.New(push.Deps{Pool: pool, Keys: keys, Senders: senders, Log: log}, reg), nil
}

// risk translates the validated configuration into the decision's rules.
func risk(c config.ThreeDS) acs.Risk {
	var r acs.Risk
	r.LowValue.Enabled, r.LowValue.MaxAmount, r.LowValue.MaxCumulative, r.LowValue.MaxCount = c.LowValue.Exemption()
	r.TRA = acs.TRA{UpTo100: c.Risk.TRAUpTo100, UpTo250: c.Risk.TRAUpTo250, UpTo500: c.Risk.TRAUpTo500}
	r.ChallengeAbove = decimal.RequireFromString(c.Risk.ChallengeAbove)
	r.Velocity = acs.Velocity{Count: c.Risk.VelocityCount, Window: c.Risk.VelocityWindow}
	r.KnownBrowsers = c.Risk.KnownBrowsers
	r.WhitelistMax = decimal.RequireFromString(c.Risk.WhitelistMax)
	return r
}

func staffAdd(ctx context.Context, cfg *config.Config, log *slog.Logger, name string, role support.Role, out io.Writer) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	en, err := d.support.AddStaff(ctx, name, role)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "staff add: %s (%s) created. Both shown this once; hand them over in person.\n", name, role)
	printOTP(out, en)
	fmt.Fprintf(out, "token (valid %d days): %s\n", int(support.TokenTTL.Hours()/24), en.Token)
	return nil
}

// printOTP shows a TOTP enrolment: the URI an authenticator app reads (as a QR code would carry it) and
// the secret for typing in.
func printOTP(out io.Writer, en support.Enrolment) {
	fmt.Fprintf(out, "authenticator app: %s\nor type in the key: %s\n", en.OTPURI, en.OTPSecret)
}

// staffChange disables a staff member or gives them a new token or TOTP secret (printed once).
func staffChange(ctx context.Context, cfg *config.Config, log *slog.Logger, verb, name string, out io.Writer) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	switch verb {
	case "disable":
		if err := d.support.DisableStaff(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(out, "staff disable: %s can no longer sign in\n", name)
		return nil
	case "otp":
		en, err := d.support.EnrolOTP(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "staff otp: %s has a new second factor (the old one no longer works), shown this once:\n", name)
		printOTP(out, en)
		return nil
	}
	token, err := d.support.RotateStaff(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "staff rotate: %s has a new token (the old one no longer works), shown this once:\n%s\n", name, token)
	return nil
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	gw, err := smsGateway(cfg, d)
	if err != nil {
		return err
	}
	dispatcher := &sms.Dispatcher{Pool: d.pool, Keys: d.keys, Gateway: gw, Clock: d.clock, Log: log,
		MaxAttempts: cfg.SMS.MaxAttempts, Backoff: cfg.SMS.Backoff, Metrics: sms.NewMetrics(d.metricsRegistry, d.pool, store.MetricsPeriod)}
	// A challenge's mTAN goes to the gateway from the request that queued it, right after the commit.
	d.mtanOutbox.SendsWith(dispatcher)
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	dispatched := make(chan struct{})
	go func() { dispatcher.Run(dispatchCtx, 5*time.Second); close(dispatched) }()
	// The dispatcher stops after the server has drained, so an SMS queued by a last request still leaves.
	defer func() { stopDispatch(); <-dispatched }()
	// Timeouts and RReq delivery run in every process; row locks keep them from doing anything twice.
	resultsDone := make(chan struct{})
	go func() { d.results.Run(dispatchCtx, time.Second); close(resultsDone) }()
	defer func() { stopDispatch(); <-resultsDone }()

	e := server.New(server.Deps{
		Log:      log,
		Registry: d.metricsRegistry,
		Checks:   map[string]server.Checker{"database": d.pool, "hsm": d.hsm},
		TLS:      cfg.TLS.Enabled(),
	})
	d.support.Routes(e.Group("/support/v1"))
	d.issuer.Routes(e.Group("/issuer/v1"))
	// The published contracts of /app/v1, /support/v1 and /issuer/v1 (issue 16; README "API contracts").
	apidoc.Routes(e.Group("/api-docs"))
	e.GET("/support/console", support.Console)
	portal.New(portal.Deps{Registrar: d.registration, Cards: d.cards, Audit: d.audit, Keys: d.keys, Clock: d.clock,
		Log: log, Issuer: cfg.Issuer.Name, Whitelist: d.whitelist}).
		Routes(e.Group("/portal"))
	if inbox, ok := gw.(*sms.DevInbox); ok {
		e.GET("/dev/sms", inbox.Handler)
	}
	// Apps waiting for confirmations are woken by a NOTIFY from whichever process created one.
	wake := store.NewBroadcast()
	go wake.Run(dispatchCtx, d.pool, "app_confirmations")
	appapi.New(appapi.Deps{Pool: d.pool, Registrar: d.registration, Clock: d.clock, Log: log, Whitelist: d.whitelist,
		Challenges: d.challenges, Wake: wake, Stopping: ctx.Done(), Push: d.push}).
		Routes(e.Group("/app/v1"))
	d.threeds.Routes(e.Group("/3ds"))
	home := "/portal"
	if cfg.Demo.Enabled {
		dd := demo.Deps{PublicURL: cfg.PublicURL, Challenges: d.challenges, PhoneState: cfg.Demo.PhoneState, Clock: d.clock}
		if d.app != nil && cfg.ThreeDS.DSLink.CAFile != "" {
			// The in-app checkout's SDK trusts the development DS CA that issued the signing certificate.
			if dd.SDKRoots, err = dslink.LoadRoots(cfg.ThreeDS.DSLink.CAFile); err != nil {
				return err
			}
		}
		demo.New(dd).Routes(e.Group("/demo"))
		home = "/demo"
	}
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, home) })
	if cfg.AdminListen != "" {
		stop, err := serveAdmin(cfg.AdminListen, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return server.Run(ctx, e, log, server.Options{
		Listen: cfg.Listen, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, ClientCAFile: cfg.TLS.ClientCAFile,
		ShutdownTimeout: cfg.ShutdownTimeout,
	})
}

// serveAdmin serves Go's profiler on addr (loopback, checked by the configuration): a CPU profile of a
// load run is `go tool pprof http://ADDR/debug/pprof/profile?seconds=10`.
func serveAdmin(addr string, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiler listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

func smsGateway(cfg *config.Config, d *deps) (sms.Gateway, error) {
	switch cfg.SMS.Gateway {
	case "kannel":
		return &sms.Kannel{URL: cfg.SMS.KannelURL, Username: cfg.SMS.KannelUsername, Password: cfg.SMS.KannelPassword,
			From: cfg.SMS.Sender}, nil
	case "dev":
		return &sms.DevInbox{Pool: d.pool, Clock: d.clock}, nil
	}
	return nil, fmt.Errorf("unknown SMS gateway %q", cfg.SMS.Gateway)
}

func migrate(ctx context.Context, cfg *config.Config, out io.Writer) error {
	pool, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := store.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	cur, _, err := store.SchemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "migrate: applied %d migrations, schema at version %d\n", n, cur)
	return nil
}

// hsmInit creates the ACS's own keys the token lacks. The schemes' keys come from the key ceremony:
// missing ones are an error naming their labels, unless the development configuration lets them be
// made at random (authentication_values.generate_missing_keys).
func hsmInit(cfg *config.Config, out io.Writer) error {
	keys := cfg.OwnKeys()
	if cfg.AuthValues.GenerateMissingKeys {
		keys = append(keys, cfg.AuthValues.HSMKeys()...)
	}
	created, err := hsm.Init(cfg.HSM, keys...)
	if err != nil {
		return err
	}
	if !cfg.AuthValues.GenerateMissingKeys {
		missing, err := hsm.MissingSchemeKeys(cfg.HSM, cfg.AuthValues.HSMKeys())
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("hsm init: the token lacks the scheme keys %s: load them under these labels with the HSM's "+
				"key-ceremony tools (README \"Authentication values\")", strings.Join(missing, ", "))
		}
	}
	if len(created) == 0 {
		fmt.Fprintf(out, "hsm init: token %q already holds every key\n", cfg.HSM.TokenLabel)
		return nil
	}
	fmt.Fprintf(out, "hsm init: created %s on token %q\n", strings.Join(created, ", "), cfg.HSM.TokenLabel)
	return nil
}

func importCards(ctx context.Context, cfg *config.Config, log *slog.Logger, path string, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := d.cards.Import(ctx, f)
	if err != nil {
		var ie *cards.ImportError
		if errors.As(err, &ie) {
			return fmt.Errorf("%s: %w", path, err)
		}
		return err
	}
	// R-REG-10: a card the file marks blocked or closed keeps no registration. The decision refuses such
	// a card already; this ends what its holder had set up.
	ended, err := d.registration.EndForUnusableCards(ctx, "card file: card not active")
	if err != nil {
		return err
	}
	for _, id := range ended {
		if err := d.audit.Record(ctx, d.pool, audit.Entry{Actor: "file:" + filepath.Base(path), Action: "card.registrations_ended",
			CardID: &id, Details: map[string]string{"reason": "card not active in the card file"}}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "import-cards: %s: %d created, %d updated, registrations of %d cards ended\n", path, res.Created, res.Updated, len(ended))
	return nil
}

// statementSMS writes the month's SMS statement (R-AUTH-9) to path, replacing it whole (written to a
// temporary file first, then renamed: the billing system never reads half a file).
func statementSMS(ctx context.Context, cfg *config.Config, log *slog.Logger, month, path string, out io.Writer) error {
	zone := cfg.Issuer.Zone()
	m, err := sms.ParseMonth(month, zone)
	if err != nil {
		return fmt.Errorf("statements sms: %w", err)
	}
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	lines, err := sms.Statement(ctx, d.pool, m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".statement-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := sms.WriteStatement(tmp, lines, zone); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(out, "statements sms: %s: %d SMS charged, written to %s\n", month, len(lines), path)
	return nil
}

// cardsApply applies a delta file of the card management system (package cardmgmt), all or none.
func cardsApply(ctx context.Context, cfg *config.Config, log *slog.Logger, path string, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	changes, err := cardmgmt.ParseFile(f)
	if err != nil {
		return fmt.Errorf("cards apply: %s: %w", path, err)
	}
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := d.cardChanges.Apply(ctx, "file:"+filepath.Base(path), changes)
	if err != nil {
		return fmt.Errorf("cards apply: %s: %w", path, err)
	}
	changed, ended := 0, 0
	for _, r := range res {
		if r.Changed {
			changed++
		}
		ended += r.RegistrationsEnded
	}
	fmt.Fprintf(out, "cards apply: %s: %d changes, %d took effect (the others were in effect already), %d registrations ended\n",
		path, len(res), changed, ended)
	return nil
}

// encryptedColumns lists every column holding envelope ciphertexts; key re-encryption walks them all.
// encryptedColumns is the registry of every Tink-encrypted column, gathered from the packages that own
// them; TestEveryEncryptedColumnIsRegistered fails when the schema has one it lacks, so that a new
// column cannot be forgotten by key rotation (and an old key retired too early).
func encryptedColumns() []envelope.Column {
	var all []envelope.Column
	for _, cols := range [][]envelope.Column{cards.Columns, registration.Columns, sms.Columns, support.Columns, acs.Columns, push.Columns} {
		all = append(all, cols...)
	}
	return all
}

func keysRotate(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	id, err := d.keys.Rotate(ctx, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "keys rotate: new primary key %d; run `acs keys reencrypt` to move stored data to it\n", id)
	return nil
}

func keysReencrypt(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	for _, col := range encryptedColumns() {
		n, err := d.keys.ReencryptColumn(ctx, col)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "keys reencrypt: %s.%s: %d rows rewritten\n", col.Table, col.Column, n)
	}
	return nil
}

// auditVerify recomputes the audit log's chain (exit 1 and the entries when it is broken).
func auditVerify(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	n, broken, err := d.audit.Verify(ctx, d.hsm)
	if err != nil {
		return err
	}
	for _, b := range broken {
		fmt.Fprintf(out, "audit verify: entry %d: %s\n", b.ID, b.Reason)
	}
	if len(broken) > 0 {
		return fmt.Errorf("audit verify: the chain is broken at %d places", len(broken))
	}
	fmt.Fprintf(out, "audit verify: %d entries, chain intact\n", n)
	return nil
}

// retentionRun applies the retention rules and prints what each removed or anonymised.
func retentionRun(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	results, err := retention.New(d.pool, d.clock, d.audit, cfg.Retention).Run(ctx)
	for _, r := range results {
		fmt.Fprintf(out, "retention: %-20s %-10s %7d rows older than %s\n", r.Table, r.Action, r.Rows, r.Before)
	}
	if err == nil {
		log.InfoContext(ctx, "retention run", "results", results)
	}
	return err
}

func lettersBatch(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) error {
	if err := os.MkdirAll(cfg.Letters.OutDir, 0o700); err != nil {
		return err
	}
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	l := d.letters
	expired, err := l.ExpireDue(ctx)
	if err != nil {
		return err
	}
	res, err := l.Batch(ctx, cfg.Letters.OutDir)
	if err != nil {
		return err
	}
	if res.Letters == 0 {
		fmt.Fprintf(out, "letters batch: no letters to print (%d expired)\n", expired)
		return nil
	}
	fmt.Fprintf(out, "letters batch: %d letters printed to %s, manifest %s (%d expired)\n", res.Letters, res.PDFPath, res.ManifestPath, expired)
	return nil
}

// lettersSample renders one letter with made-up data, for a newcomer (or the print shop) to look at. It
// needs neither database nor HSM, and the code on it opens nothing.
func lettersSample(cfg *config.Config, path string, out io.Writer) error {
	now := time.Now()
	pdf, err := letters.RenderPDF([]letters.Page{{
		Issuer: cfg.Issuer.Name, Name: "Erika Mustermann", Street: "Heidestraße 17", PostalCode: "51147", City: "Köln",
		Country: "DE", MaskedCard: "400011******0017", Code: "MUSTR-BRF23", PrintedAt: now, ValidUntil: now.Add(letters.Validity),
	}})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "letters sample: %s\n", path)
	return nil
}

// errInvalidAV is verify-av's exit 1: the value is not this transaction's (or the transaction unknown).
var errInvalidAV = errors.New("verify-av: not valid")

// verifyAV is the issuer API's verification on the command line: the card number comes on standard
// input, never on the command line where ps would show it.
func verifyAV(ctx context.Context, cfg *config.Config, log *slog.Logger, stdin io.Reader, out io.Writer) error {
	var req acs.VerifyRequest
	dec := json.NewDecoder(io.LimitReader(stdin, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return errors.New("verify-av: standard input must be one JSON object with acctNumber, acsTransID or dsTransID, " +
			"purchaseAmount, purchaseCurrency, acquirerMerchantID (optional), authenticationValue")
	}
	if err := server.Validate(req); err != nil {
		return fmt.Errorf("verify-av: %w", err)
	}
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := acs.NewAVVerifier(d.pool, d.cards, d.av, d.clock).Verify(ctx, req)
	if err != nil {
		return fmt.Errorf("verify-av: %w", err)
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(out, "verify-av: %s\n", b)
	if res.Result != acs.AVValid {
		return errInvalidAV
	}
	return nil
}

// keysList prints the token's keys of this configuration's prefix.
func keysList(cfg *config.Config, out io.Writer) error {
	keys, err := hsm.ListKeys(cfg.HSM)
	if err != nil {
		return err
	}
	for _, k := range keys {
		fmt.Fprintf(out, "%-48s %s\n", k.Label, k.Type)
	}
	return nil
}

// issuerClient adds or disables an issuer system's access to /issuer/v1.
func issuerClient(ctx context.Context, cfg *config.Config, log *slog.Logger, verb, name string, out io.Writer) error {
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	if verb == "disable" {
		if err := d.issuer.DisableClient(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(out, "issuer-client disable: %s can no longer call /issuer/v1\n", name)
		return nil
	}
	token, err := d.issuer.AddClient(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "issuer-client add: %s created; its token (Authorization: Bearer), shown this once:\n%s\n", name, token)
	return nil
}
