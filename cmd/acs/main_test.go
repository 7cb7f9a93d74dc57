package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"example.com/acs/acs"
	"example.com/acs/config"
	"example.com/acs/hsm"
	"example.com/acs/internal/testenv"
)

func writeConfig(t *testing.T) string {
	t.Helper()
	path, _ := writeConfigDB(t)
	return path
}

func writeConfigDB(t *testing.T) (string, string) {
	t.Helper()
	dbURL := testenv.DatabaseURL(t)
	h := testenv.HSMConfig(t)
	body := fmt.Sprintf(`listen: 127.0.0.1:8089
public_url: http://127.0.0.1:8080
database: {url: %q}
hsm: {module: %q, token_label: %q, pin: %q, key_prefix: %q}
log: {level: debug, format: json}
issuer: {name: Testbank}
threeds: {reference_number: TEST_REF, directory_servers: [{scheme: visa, url: "https://ds.example/rreq"}]}
letters: {out_dir: %q}
sms: {gateway: dev, sender: Testbank}
`, dbURL, h.Module, h.TokenLabel, h.Pin, h.KeyPrefix, t.TempDir())
	p := filepath.Join(t.TempDir(), "acs.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, dbURL
}

func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestOperatorCommands(t *testing.T) {
	cfg, dbURL := writeConfigDB(t)
	cardFile := "../../testdata/cards.csv"
	phone := filepath.Join(t.TempDir(), "phone.json")

	if code, _, stderr := cli(t, "-config", cfg, "import-cards", cardFile); code != 1 || !strings.Contains(stderr, "acs migrate") {
		t.Fatalf("import before migrate: %d %s", code, stderr)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"migrate"}, "schema at version"},
		{[]string{"migrate"}, "applied 0 migrations"},
		{[]string{"hsm", "init"}, "created"},
		{[]string{"hsm", "init"}, "already holds every key"},
		{[]string{"import-cards", cardFile}, "24 created, 0 updated"},
		{[]string{"import-cards", cardFile}, "0 created, 24 updated"},
		{[]string{"letters", "batch"}, "no letters to print"},
		{[]string{"letters", "sample", filepath.Join(t.TempDir(), "sample.pdf")}, "sample.pdf"},
		{[]string{"staff", "add", "mia", "agent"}, "acss_"},
		{[]string{"staff", "otp", "mia"}, "otpauth://totp/"},
		{[]string{"demo", "seed"}, "registered for mTAN"},
		{[]string{"demo", "seed"}, "registered already"},
		{[]string{"demo", "seed", phone}, "registered for the app on the demo phone"},
		{[]string{"demo", "seed", phone}, "registered already on the demo phone"},
		{[]string{"keys", "rotate"}, "new primary key"},
		{[]string{"keys", "reencrypt"}, "issuer_cards.pan_enc: 24 rows rewritten"},
		{[]string{"keys", "reencrypt"}, "issuer_cards.pan_enc: 0 rows rewritten"},
		// Issue 12: every encrypted column moves to the new key, not the card columns only.
		{[]string{"keys", "rotate"}, "new primary key"},
		{[]string{"keys", "reencrypt"}, "registrations.mobile_enc: 1 rows rewritten"},
		{[]string{"keys", "rotate"}, "new primary key"},
		{[]string{"keys", "reencrypt"}, "registrations.offline_secret_enc: 1 rows rewritten"},
		{[]string{"audit", "verify"}, "chain intact"},
	}
	for _, s := range steps {
		code, stdout, stderr := cli(t, append([]string{"-config", cfg}, s.args...)...)
		if code != 0 || !strings.Contains(stdout, s.want) {
			t.Fatalf("acs %v: exit %d\nstdout: %s\nstderr: %s", s.args, code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "4000110000000017") {
			t.Fatalf("acs %v printed a card number", s.args)
		}
	}

	if fi, err := os.Stat(phone); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("demo phone: %v %v", fi, err)
	}
	if raw, _ := os.ReadFile(phone); !strings.Contains(string(raw), "device_key_pkcs8") || strings.Contains(string(raw), "4821") {
		t.Fatalf("demo phone file: %s", raw)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `INSERT INTO letters (id, card_id, state, reason, requested_by, requested_at)
		SELECT gen_random_uuid(), id, 'requested', 'test', 'test', now() FROM issuer_cards LIMIT 3`); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := cli(t, "-config", cfg, "letters", "batch"); code != 0 || !strings.Contains(stdout, "3 letters printed") {
		t.Fatalf("letters batch: %d %s %s", code, stdout, stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.csv")
	_ = os.WriteFile(bad, []byte("pan,expiry,status,product,holder_name,date_of_birth,street,postal_code,city,country\n4000110000000018,2030-01,active,credit,A B,1990-01-01,Weg 1,10115,Berlin,DE\n"), 0o600)
	code, _, stderr := cli(t, "-config", cfg, "import-cards", bad)
	if code != 1 || !strings.Contains(stderr, "line 2: pan: fails the Luhn check") || strings.Contains(stderr, "4000110000000018") {
		t.Fatalf("bad file: %d %s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	cfg := writeConfig(t)
	for _, args := range [][]string{{}, {"-config", cfg}, {"-config", cfg, "frobnicate"}, {"-config", cfg, "import-cards"}, {"-nope"},
		{"-config", cfg, "staff", "add", "mia"}} {
		if code, _, _ := cli(t, args...); code != 2 {
			t.Errorf("acs %v: exit %d, want 2", args, code)
		}
	}
	t.Setenv("ACS_CONFIG", "")
	if code, _, stderr := cli(t, "migrate"); code != 2 || !strings.Contains(stderr, "no configuration") {
		t.Errorf("no config: %d %s", code, stderr)
	}
	if code, _, stderr := cli(t, "-config", "/nonexistent.yaml", "migrate"); code != 1 || !strings.Contains(stderr, "nonexistent") {
		t.Errorf("missing config file: %d %s", code, stderr)
	}
}

// R-AUTH-8: the issuer checks an authentication value with `acs verify-av`, the card number on stdin.
func TestVerifyAV(t *testing.T) {
	cfg := writeConfig(t)
	if code, out, errOut := cli(t, "-config", cfg, "hsm", "init"); code != 0 {
		t.Fatalf("hsm init: %s %s", out, errOut)
	}
	h := testenv.HSMConfig(t)
	h.KeyPrefix = keyPrefixOf(t, cfg)
	hs, err := hsm.Open(h)
	if err != nil {
		t.Fatal(err)
	}
	in := acs.AVInput{ACSTransID: "0f2a5e9c-6a3b-4c1d-9e8f-7a6b5c4d3e2f", AcctNumber: "4000110000000017", MinorUnits: 4990,
		Currency: "978", AcquirerBIN: "412345", AcquirerMerchantID: "M-000123", TransStatus: "Y", ECI: "05"}
	av, err := acs.AuthValue(hs, in)
	hs.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := func(amount, value string) string {
		return `{"acsTransID":"0f2a5e9c-6a3b-4c1d-9e8f-7a6b5c4d3e2f","acctNumber":"4000110000000017","purchaseAmount":"` + amount +
			`","purchaseCurrency":"978","acquirerBIN":"412345","acquirerMerchantID":"M-000123","transStatus":"Y","eci":"05","authenticationValue":"` + value + `"}`
	}
	run1 := func(stdin string) (int, string) {
		var out, errb bytes.Buffer
		code := run([]string{"-config", cfg, "verify-av"}, strings.NewReader(stdin), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run1(body("4990", av)); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("valid value: %d %s", code, out)
	}
	if code, out := run1(body("4991", av)); code != 1 || !strings.Contains(out, "invalid") {
		t.Fatalf("one cent more: %d %s", code, out)
	}
	if code, out := run1("4000110000000017"); code != 1 || strings.Contains(out, "4000110000000017") {
		t.Fatalf("garbage input: %d %s", code, out)
	}
}

// keyPrefixOf reads the key prefix back from a config file written by writeConfig.
func keyPrefixOf(t *testing.T, path string) string {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c.HSM.KeyPrefix
}

// Issue 12: the registry of encrypted columns (encryptedColumns) holds every bytea column named *_enc
// that the schema has, so that key rotation cannot forget one and an old key can be retired.
func TestEveryEncryptedColumnIsRegistered(t *testing.T) {
	pool := testenv.DB(t)
	rows, err := pool.Query(context.Background(), `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type = 'bytea' AND column_name LIKE '%\_enc'`)
	if err != nil {
		t.Fatal(err)
	}
	inSchema, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, c := range encryptedColumns() {
		registered[c.Table+"."+c.Column] = true
	}
	for _, c := range inSchema {
		if !registered[c] {
			t.Errorf("%s is encrypted but not in encryptedColumns(): keys reencrypt would leave it under old keys", c)
		}
	}
	if len(inSchema) != len(registered) {
		t.Errorf("schema has %d encrypted columns, the registry %d", len(inSchema), len(registered))
	}
}

// acs evidence prints what proves an app answer and fails when it does not verify or is missing: the
// checks themselves are acs.TestEvidenceOfAnApproval; here the command's output and exit.
func TestEvidenceCommand(t *testing.T) {
	cfg := writeConfig(t)
	for _, step := range [][]string{{"migrate"}, {"hsm", "init"}} {
		if code, _, stderr := cli(t, append([]string{"-config", cfg}, step...)...); code != 0 {
			t.Fatalf("%v: %s", step, stderr)
		}
	}
	if code, _, stderr := cli(t, "-config", cfg, "evidence", "not-an-id"); code != 1 || !strings.Contains(stderr, "acsTransID") {
		t.Errorf("a bad id: %d %s", code, stderr)
	}
	if code, _, stderr := cli(t, "-config", cfg, "evidence", "8a880dc0-d2d2-4067-bcb1-b08d1690b26e"); code != 1 ||
		!strings.Contains(stderr, "no app confirmation") {
		t.Errorf("an unknown transaction: %d %s", code, stderr)
	}
	var out bytes.Buffer
	e := &acs.Evidence{Card: "520011******0012", Merchant: "Beispiel-Shop", Amount: "49,90 EUR", State: "approved", Verification: "pin",
		SignedData: []byte(`["acs-confirmation-v1"]`), Signature: []byte{1, 2}, DeviceKeySHA256: make([]byte, 32), SignatureValid: true}
	if err := printEvidence(&out, e); err == nil || !strings.Contains(out.String(), "data is the stored transaction's NO") {
		t.Errorf("changed data: %v\n%s", err, out.String())
	}
	out.Reset()
	e.DataMatches = true
	if err := printEvidence(&out, e); err != nil || !strings.Contains(out.String(), "signature verifies yes") {
		t.Errorf("verified: %v\n%s", err, out.String())
	}
}
