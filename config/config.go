// Package config owns the service configuration: one struct read from a YAML file, overridden by
// environment variables, and validated before anything starts, so that a bad configuration fails loudly
// at start-up rather than under traffic.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/go-playground/validator/v10"
	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"example.com/acs/authval"
	"example.com/acs/hsm"
	"example.com/acs/retention"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// Config is the whole configuration of `acs`.
type Config struct {
	// Listen is host:port for the HTTP server.
	Listen string `yaml:"listen" env:"ACS_LISTEN" validate:"required,hostname_port"`
	// PublicURL is where browsers and 3DS Servers reach this ACS (the acsURL of a challenge).
	PublicURL string       `yaml:"public_url" env:"ACS_PUBLIC_URL" validate:"required,http_url"`
	TLS       TLS          `yaml:"tls"`
	Database  store.Config `yaml:"database"`
	HSM       hsm.Config   `yaml:"hsm"`
	Log       Log          `yaml:"log"`
	Issuer    Issuer       `yaml:"issuer"`
	Letters   Letters      `yaml:"letters"`
	SMS       SMS          `yaml:"sms"`
	ThreeDS   ThreeDS      `yaml:"threeds"`
	Demo      Demo         `yaml:"demo"`
	Push      Push         `yaml:"push"`
	// AuthValues is the issuer's authentication-value policy and scheme keys (issue 15).
	AuthValues authval.Config `yaml:"authentication_values"`
	// Retention is how long records are kept (acs retention run, issue 16).
	Retention retention.Config `yaml:"retention"`
	// ShutdownTimeout bounds how long in-flight requests may finish after SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" validate:"min=1s,max=5m"`
	// AdminListen, when set, is a loopback host:port serving Go's profiler (net/http/pprof) for the
	// operator and the load runs; never reachable from outside the machine.
	AdminListen string `yaml:"admin_listen" env:"ACS_ADMIN_LISTEN" validate:"omitempty,hostname_port"`
}

// TLS is the server certificate. Without one the server listens on loopback only.
type TLS struct {
	CertFile string `yaml:"cert_file" env:"ACS_TLS_CERT_FILE" validate:"required_with=KeyFile"`
	KeyFile  string `yaml:"key_file" env:"ACS_TLS_KEY_FILE" validate:"required_with=CertFile"`
	// ClientCAFile, when set, makes the ACS verify the DS's client certificate itself (mutual TLS on the
	// AReq link, 2.3.1 6.1.3.1): the AReq endpoint then refuses a connection without a certificate
	// issued by one of these CAs. Empty: a TLS-terminating proxy in front does this (see README).
	ClientCAFile string `yaml:"client_ca_file" validate:"omitempty,excluded_without=CertFile"`
	// ClientNames, when set, are the DSs' certificate names (subject common name or DNS name): a DS CA
	// also certifies 3DS Servers and ACSs, so a certificate from it is not yet a DS's.
	ClientNames []string `yaml:"client_names" validate:"omitempty,excluded_without=ClientCAFile,dive,required"`
}

// Exemption returns the low-value exemption as the decision uses it (validated by Load).
func (l LowValue) Exemption() (enabled bool, maxAmount, maxCumulative decimal.Decimal, maxCount int) {
	return l.Enabled, decimal.RequireFromString(l.MaxAmount), decimal.RequireFromString(l.MaxCumulative), l.MaxCount
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Letters configures the ID-code letter print batches.
type Letters struct {
	// OutDir receives each batch's PDF and manifest for the print shop. The PDFs hold ID codes in clear:
	// the folder must be readable only by the ACS and the print transfer.
	OutDir string `yaml:"out_dir" env:"ACS_LETTERS_OUT_DIR" validate:"required"`
}

// SMS configures the gateway that delivers the outbox.
type SMS struct {
	// Gateway is "kannel" (production) or "dev" (the local SMS inbox; never for real cardholders).
	Gateway        string `yaml:"gateway" validate:"oneof=dev kannel"`
	KannelURL      string `yaml:"kannel_url" validate:"required_if=Gateway kannel,omitempty,http_url"`
	KannelUsername string `yaml:"kannel_username" validate:"required_if=Gateway kannel"`
	KannelPassword string `yaml:"kannel_password" env:"ACS_SMS_KANNEL_PASSWORD" validate:"required_if=Gateway kannel"`
	// Sender is the alphanumeric sender id shown on the phone (at most 11 characters in GSM).
	Sender string `yaml:"sender" validate:"required,max=11"`
	// Price per SMS charged to the cardholder (decimal, in Currency); above zero, mTAN registration asks
	// for the price agreement (R-REG-6).
	Price       string        `yaml:"price" validate:"required,numeric"`
	Currency    string        `yaml:"currency" validate:"iso4217"`
	MaxAttempts int           `yaml:"max_attempts" validate:"min=1,max=20"`
	Backoff     time.Duration `yaml:"backoff" validate:"min=100ms,max=10m"`
	// BudgetPerHour and BudgetPerDay bound the SMS of every kind one card may cause (each is billed to
	// the cardholder); 0 switches a bound off.
	BudgetPerHour int `yaml:"budget_per_hour" validate:"min=0,max=1000"`
	BudgetPerDay  int `yaml:"budget_per_day" validate:"min=0,max=10000"`
}

// ThreeDS configures the EMV 3-D Secure surface.
type ThreeDS struct {
	// ReferenceNumber is the acsReferenceNumber EMVCo assigns with the ACS's approval.
	ReferenceNumber string `yaml:"reference_number" validate:"required,max=32"`
	// OperatorID is acsOperatorID (2.2.0, 2.3.1 ARes): the id the DS assigned to the ACS operator.
	OperatorID string `yaml:"operator_id" validate:"max=32"`
	// DirectoryServers are the DSs the ACS talks to: an RReq goes to the AReq's dsURL only when it names
	// one of their hosts, else to the scheme's url; no other host is ever called.
	DirectoryServers []DirectoryServer `yaml:"directory_servers" validate:"required,min=1,dive"`
	// DSLink is the ACS's side of the mutual-TLS link to the DSs.
	DSLink DSLink `yaml:"ds_link"`
	// RReqMaxAttempts bounds the sends of an RReq whose DS cannot be reached; RReqRetryInterval is the
	// wait between them (2.3.1 5.5.2.2: 10 seconds).
	RReqMaxAttempts   int           `yaml:"rreq_max_attempts" validate:"min=1,max=100"`
	RReqRetryInterval time.Duration `yaml:"rreq_retry_interval" validate:"min=100ms,max=10m"`
	LowValue          LowValue      `yaml:"low_value"`
	Risk              Risk          `yaml:"risk"`
}

// Push configures waking the bank's app when a confirmation waits (package push). A platform left
// empty is not pushed to; the app learns of confirmations by long-polling in any case.
type Push struct {
	FCM  FCM  `yaml:"fcm"`
	APNs APNs `yaml:"apns"`
}

// FCM is Firebase Cloud Messaging (HTTP v1) for Android.
type FCM struct {
	// ServiceAccountFile is the Google service-account key file (JSON) of the Firebase project.
	ServiceAccountFile string `yaml:"service_account_file"`
	// SendURL replaces https://fcm.googleapis.com (tests, a proxy); the token URL is the key file's.
	SendURL string `yaml:"send_url" validate:"omitempty,http_url"`
}

// APNs is Apple's push service for iOS, with token-based authentication.
type APNs struct {
	// URL: https://api.push.apple.com, or https://api.sandbox.push.apple.com for development builds.
	URL string `yaml:"url" validate:"omitempty,http_url"`
	// KeyFile is the .p8 key Apple issued; KeyID and TeamID name it; Topic is the app's bundle id.
	KeyFile string `yaml:"key_file" validate:"required_with=URL"`
	KeyID   string `yaml:"key_id" validate:"required_with=KeyFile"`
	TeamID  string `yaml:"team_id" validate:"required_with=KeyFile"`
	Topic   string `yaml:"topic" validate:"required_with=KeyFile"`
}

// DirectoryServer is one scheme's DS.
type DirectoryServer struct {
	// Scheme is the card scheme as the card directory names it (visa, mastercard, ...).
	Scheme string `yaml:"scheme" validate:"required,oneof=visa mastercard amex diners jcb unionpay girocard"`
	// URL receives the scheme's RReqs when the AReq's dsURL names no allowed host.
	URL string `yaml:"url" validate:"required,http_url"`
	// Hosts an AReq's dsURL may name (host:port; port * for any, development only).
	Hosts []string `yaml:"hosts"`
	// SigningCertFile is the certificate this scheme's DS CA issued for the ACS's signing key (the HSM's
	// signer key), PEM, with any chaining certificates after it and without the DS CA's own: a merchant
	// app's 3DS SDK verifies acsSignedContent with it (EMV 6.2.3.2). Empty: the scheme's app-channel
	// AReqs are answered U (device not supported).
	SigningCertFile string `yaml:"signing_cert_file"`
	// SigningAlg is the JWS algorithm of acsSignedContent the scheme requires: ES256 (default, the HSM's
	// P-256 signer key) or PS256 (the HSM's RSA-2048 key signer-rsa, which `acs hsm init` then creates);
	// SigningCertFile must then be that key's certificate.
	SigningAlg string `yaml:"signing_alg" validate:"omitempty,oneof=ES256 PS256"`
}

// RSASigningKey is the HSM's RSA key for schemes that require PS256.
var RSASigningKey = hsm.SchemeKey{Name: "signer-rsa", Type: hsm.SchemeRSA}

// OwnKeys are the ACS's own keys the configuration needs beyond the fixed ones: the RSA signing key
// when a scheme requires PS256. `acs hsm init` always creates them.
func (c *Config) OwnKeys() []hsm.SchemeKey {
	for _, ds := range c.ThreeDS.DirectoryServers {
		if ds.SigningAlg == "PS256" {
			return []hsm.SchemeKey{RSASigningKey}
		}
	}
	return nil
}

// HSMKeys are all configured keys hsm.Open needs: OwnKeys and the authentication-value keys.
func (c *Config) HSMKeys() []hsm.SchemeKey { return append(c.OwnKeys(), c.AuthValues.HSMKeys()...) }

// DSLink configures the mutual-TLS client towards the DSs.
type DSLink struct {
	// CAFile holds the DS CA roots that verify the DSs' server certificates; empty: the system roots.
	CAFile string `yaml:"ca_file"`
	// ClientCertFile is the ACS's client certificate (PEM, with its chain) issued by the DS CA; its
	// private key is the HSM's ds-client key (`acs hsm init`). Empty: no client certificate.
	ClientCertFile string `yaml:"client_cert_file"`
	// PlainLoopback allows plain http to loopback DS hosts (development and tests only).
	PlainLoopback bool `yaml:"plain_loopback"`
	// ReadTimeout is how long the ACS waits for an RRes (Req 241: 5 seconds).
	ReadTimeout time.Duration `yaml:"read_timeout" validate:"min=1s,max=1m"`
}

// Risk configures the rules that force a challenge and the transaction-risk-analysis exemption
// (PSD2 RTS Art. 18). Each TRA band may be switched on only while the issuer's fraud rate stays within
// the band's reference rate (13, 6 and 1 basis points for remote card payments).
type Risk struct {
	TRAUpTo100 bool `yaml:"tra_up_to_100"`
	TRAUpTo250 bool `yaml:"tra_up_to_250"`
	TRAUpTo500 bool `yaml:"tra_up_to_500"`
	// ChallengeAbove challenges every purchase above this amount in EUR; "0": no limit.
	ChallengeAbove string `yaml:"challenge_above" validate:"required,numeric"`
	// VelocityCount AReqs for a card within VelocityWindow force a challenge; 0 switches the rule off.
	VelocityCount  int           `yaml:"velocity_count" validate:"min=0,max=1000"`
	VelocityWindow time.Duration `yaml:"velocity_window" validate:"min=0,max=24h"`
	// KnownBrowsers challenges a browser or IP address the card has not completed a challenge from.
	KnownBrowsers bool `yaml:"known_browsers"`
	// WhitelistMax caps the trusted-merchant exemption in EUR ("0": no cap): a merchant is identified by
	// acquirer ids any AReq can carry.
	WhitelistMax string `yaml:"whitelist_max_amount" validate:"required,numeric"`
}

// LowValue is the low-value exemption (PSD2 RTS Art. 16), amounts in EUR. The RTS caps are the
// defaults; an issuer may only be stricter.
type LowValue struct {
	Enabled       bool   `yaml:"enabled"`
	MaxAmount     string `yaml:"max_amount" validate:"required,numeric"`
	MaxCumulative string `yaml:"max_cumulative" validate:"required,numeric"`
	MaxCount      int    `yaml:"max_count" validate:"min=1,max=5"`
}

// Demo is the development-only demo shop and virtual phone (package demo).
type Demo struct {
	Enabled bool `yaml:"enabled"`
	// PhoneState is the demo phone's acs-app state file that `acs demo seed` writes.
	PhoneState string `yaml:"phone_state" validate:"required_if=Enabled true"`
	// FleetCards, for load and fault runs (faults/): `acs demo seed` also registers every card of this
	// issuer card file (the CSV of import-cards) for the app, all on one phone whose acs-app state file
	// is FleetPhone. Many cards, because each card may be sent only a few confirmations in ten minutes.
	FleetCards string `yaml:"fleet_cards"`
	FleetPhone string `yaml:"fleet_phone" validate:"required_with=FleetCards"`
}

// Log configures the structured (slog) log.
type Log struct {
	Level  string `yaml:"level" env:"ACS_LOG_LEVEL" validate:"oneof=debug info warn error"`
	Format string `yaml:"format" env:"ACS_LOG_FORMAT" validate:"oneof=json text"`
}

// Issuer describes the bank this ACS serves.
type Issuer struct {
	Name string `yaml:"name" validate:"required,max=64"`
	// TimeZone is the bank's (IANA name): billing months of the SMS statement begin at its midnight.
	TimeZone string `yaml:"time_zone" validate:"omitempty,timezone"`
}

// Zone is the bank's time zone (Europe/Berlin unless configured).
func (i Issuer) Zone() *time.Location {
	name := i.TimeZone
	if name == "" {
		name = "Europe/Berlin"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC // validated at load; the embedded tzdata has it
	}
	return loc
}

func defaults() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		Database:        store.Config{PipelineLanes: store.DefaultPipelineLanes},
		PublicURL:       "http://127.0.0.1:8080",
		Log:             Log{Level: "info", Format: "json"},
		ShutdownTimeout: 20 * time.Second,
		HSM:             hsm.Config{MaxSessions: 32, PoolWaitTimeout: 5 * time.Second},
		SMS: SMS{Price: "0", Currency: "EUR", MaxAttempts: 5, Backoff: 2 * time.Second,
			BudgetPerHour: sms.DefaultBudget.PerHour, BudgetPerDay: sms.DefaultBudget.PerDay},
		ThreeDS: ThreeDS{RReqMaxAttempts: 30, RReqRetryInterval: 10 * time.Second, DSLink: DSLink{ReadTimeout: 5 * time.Second},
			LowValue: LowValue{Enabled: true, MaxAmount: "30", MaxCumulative: "100", MaxCount: 5},
			Risk: Risk{ChallengeAbove: "0", KnownBrowsers: true, VelocityCount: 10, VelocityWindow: 10 * time.Minute,
				WhitelistMax: "500"}},
		Retention: retention.DefaultConfig,
	}
}

// Load reads the YAML file at path (unknown keys are an error, so a typo is not silently ignored), applies
// environment overrides, and validates the result.
func Load(path string) (*Config, error) {
	c := defaults()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if err := env.Parse(&c); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	c.AuthValues.Defaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks every field and the rules that span fields.
func (c *Config) Validate() error {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			return f.Name
		}
		return name
	})
	if err := v.Struct(c); err != nil {
		var ve validator.ValidationErrors
		if errors.As(err, &ve) {
			msgs := make([]string, 0, len(ve))
			for _, fe := range ve {
				// The namespace starts with the struct's Go name; drop it so the path reads like the YAML.
				_, path, _ := strings.Cut(fe.Namespace(), ".")
				msgs = append(msgs, fmt.Sprintf("%s: fails %q", path, fe.Tag()))
			}
			return errors.New(strings.Join(msgs, "; "))
		}
		return err
	}
	if err := c.AuthValues.Check(); err != nil {
		return err
	}
	if p, err := decimal.NewFromString(c.SMS.Price); err != nil || p.IsNegative() {
		return errors.New("sms.price: must be a decimal amount of at least 0")
	}
	lv := c.ThreeDS.LowValue
	maxAmount, err1 := decimal.NewFromString(lv.MaxAmount)
	maxSum, err2 := decimal.NewFromString(lv.MaxCumulative)
	if err1 != nil || err2 != nil || maxAmount.IsNegative() || maxAmount.GreaterThan(decimal.NewFromInt(30)) ||
		maxSum.LessThan(maxAmount) || maxSum.GreaterThan(decimal.NewFromInt(100)) {
		return errors.New("threeds.low_value: max_amount must be 0..30 EUR and max_cumulative max_amount..100 EUR (PSD2 RTS Art. 16)")
	}
	if c.Demo.Enabled && c.SMS.Gateway != "dev" {
		return errors.New("demo.enabled: the demo shop is for development only; it needs sms.gateway dev")
	}
	if a, err := decimal.NewFromString(c.ThreeDS.Risk.WhitelistMax); err != nil || a.IsNegative() {
		return errors.New("threeds.risk.whitelist_max_amount: must be a decimal amount of at least 0")
	}
	if a, err := decimal.NewFromString(c.ThreeDS.Risk.ChallengeAbove); err != nil || a.IsNegative() {
		return errors.New("threeds.risk.challenge_above: must be a decimal amount of at least 0")
	}
	if c.ThreeDS.DSLink.PlainLoopback && !c.Demo.Enabled && c.SMS.Gateway != "dev" {
		return errors.New("threeds.ds_link.plain_loopback: development only; it needs sms.gateway dev")
	}
	if c.AdminListen != "" {
		host, _, _ := net.SplitHostPort(c.AdminListen)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return errors.New("admin_listen: the profiler is served on a loopback address only")
		}
	}
	if !c.TLS.Enabled() {
		host, _, _ := net.SplitHostPort(c.Listen)
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("listen: plain HTTP is allowed on loopback only; configure tls.cert_file and tls.key_file")
		}
	}
	return nil
}
