package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"example.com/acs/config"
)

// Every configuration file the repository ships must load and validate (boulder's TestConfigValidation).
func TestShippedConfigsValidate(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("found %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if strings.HasPrefix(f, "production") {
				// Production files leave the HSM PIN to the environment, as the service manager sets it.
				t.Setenv("ACS_HSM_PIN", "from-the-environment")
				t.Setenv("ACS_SMS_KANNEL_PASSWORD", "from-the-environment")
			}
			if _, err := config.Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const valid = `
listen: 127.0.0.1:8080
public_url: http://127.0.0.1:8080
database: {url: "postgres://app@127.0.0.1:5432/acs"}
hsm: {module: /x.so, token_label: t, pin: "1", key_prefix: acs}
issuer: {name: Musterbank}
threeds: {reference_number: TEST_REF, directory_servers: [{scheme: visa, url: "https://ds.example/rreq"}]}
letters: {out_dir: /tmp}
sms: {gateway: dev, sender: Bank}
`

func TestInvalidConfigsFailLoudly(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":          {valid + "listn: x\n", "listn"},
		"missing database":     {strings.Replace(valid, `database: {url: "postgres://app@127.0.0.1:5432/acs"}`, "", 1), "database.url"},
		"bad log level":        {valid + "log: {level: loud, format: json}\n", "log.level"},
		"access log too short": {valid + "retention: {access_log_months: 12, transactions_months: 18, sms_months: 13, audit_months: 72, batch_size: 1000}\n", "retention.access_log_months"},
		"audit kept < a year":  {valid + "retention: {access_log_months: 13, transactions_months: 18, sms_months: 13, audit_months: 6, batch_size: 1000}\n", "retention.audit_months"},
		"public without TLS":   {strings.Replace(valid, "listen: 127.0.0.1:8080", "listen: 0.0.0.0:8080", 1), "loopback"},
		"cert without key":     {valid + "tls: {cert_file: /c.pem}\n", "tls.key_file"},
		"public profiler":      {valid + "admin_listen: 0.0.0.0:8098\n", "admin_listen"},
		"no pool wait bound":   {strings.Replace(valid, `key_prefix: acs}`, `key_prefix: acs, pool_wait_timeout: 0s}`, 1), "hsm.pool_wait_timeout"},
		"kannel without URL":   {strings.Replace(valid, "gateway: dev", "gateway: kannel", 1), "sms.kannel_url"},
		"unknown gateway":      {strings.Replace(valid, "gateway: dev", "gateway: pigeon", 1), "sms.gateway"},
		"space in key prefix":  {strings.Replace(valid, `key_prefix: acs`, `key_prefix: "a b"`, 1), "hsm.key_prefix"},
		"no directory server":  {strings.Replace(valid, `, directory_servers: [{scheme: visa, url: "https://ds.example/rreq"}]`, "", 1), "threeds.directory_servers"},
		"unknown scheme":       {strings.Replace(valid, "scheme: visa", "scheme: pigeon", 1), "threeds.directory_servers[0].scheme"},
		// Issue 15: a value's key identifier has 4 bits for Mastercard; the active key must be kept.
		"mastercard key id 16": {valid + "authentication_values: {mastercard: {ranges: [{name: all, bins: [\"5\"], keys: [16], active: 16}]}}\n",
			"mastercard.all: key 16"},
		"active key not kept": {valid + "authentication_values: {visa: {ranges: [{name: all, bins: [\"4\"], keys: [1], active: 2}]}}\n",
			"active key 2"},
		"range without bins": {valid + "authentication_values: {visa: {ranges: [{name: all, keys: [1], active: 1}]}}\n",
			"authentication_values.visa.ranges[0].bins"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(write(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("ACS_LISTEN", "127.0.0.1:9090")
	t.Setenv("ACS_HSM_PIN", "from-env")
	c, err := config.Load(write(t, valid))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9090" || c.HSM.Pin != "from-env" {
		t.Fatalf("overrides not applied: %q %q", c.Listen, c.HSM.Pin)
	}
}
