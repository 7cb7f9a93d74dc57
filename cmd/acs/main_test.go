package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/acs"
	"example.com/acs/apidoc/apidoctest"
	"example.com/acs/cards"
	"example.com/acs/config"
	"example.com/acs/hsm"
	"example.com/acs/internal/testenv"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/support"
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
authentication_values: {generate_missing_keys: true}
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
		// Issue 16: nothing of a fresh service is due yet; the run reports every table it looked at.
		{[]string{"retention", "run"}, "retention: audit_log"},
		{[]string{"retention", "run"}, "registrations        anonymised       0 rows"},
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

// R-AUTH-8, issue 15: the issuer checks an authentication value with `acs verify-av` (the card number on
// standard input) against the transaction the ACS answered; `acs keys list` shows the scheme keys `acs
// hsm init` made, by label and type; `acs issuer-client` hands out and ends /issuer/v1 tokens.
func TestVerifyAVAndKeys(t *testing.T) {
	cfg := writeConfig(t)
	// Without the known-browser rule a low-value purchase is frictionless.
	raw, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), "threeds: {", "threeds: {risk: {known_browsers: false}, ", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"migrate"}, {"hsm", "init"}, {"import-cards", "../../testdata/cards.csv"}, {"demo", "seed"}} {
		if code, out, errOut := cli(t, append([]string{"-config", cfg}, args...)...); code != 0 {
			t.Fatalf("%v: %s %s", args, out, errOut)
		}
	}
	code, out, _ := cli(t, "-config", cfg, "keys", "list")
	for _, want := range []string{"-av-mc-all-01 ", "generic-secret", "-av-visa-all-01-a ", "-av-visa-all-01-aba ", "des3", "-kek ", "aes"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("keys list lacks %q: %d %s", want, code, out)
		}
	}

	// A low-value purchase is frictionless: Y with a Visa CAVV.
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	dsTransID := uuid.NewString()
	areq, _ := json.Marshal(map[string]any{"messageType": "AReq", "messageVersion": "2.2.0", "threeDSServerTransID": uuid.NewString(),
		"dsTransID": dsTransID, "threeDSServerRefNumber": "TEST", "threeDSRequestorID": "test", "threeDSRequestorName": "test",
		"threeDSRequestorChallengeInd": "01", "deviceChannel": "02", "messageCategory": "01", "threeDSRequestorAuthenticationInd": "01",
		"threeDSRequestorURL": "https://shop.example/", "threeDSCompInd": "U", "dsReferenceNumber": "DS_REF", "threeDSServerURL": "https://3ds.example/",
		"dsURL":                    "https://ds.example/rreq",
		"browserJavascriptEnabled": false, "acctNumber": "4000110000000017", "acquirerBIN": "412345", "acquirerMerchantID": "M-000456",
		"merchantName": "Buchladen am Markt", "mcc": "5942", "merchantCountryCode": "276", "purchaseAmount": "1250", "purchaseCurrency": "978",
		"purchaseExponent": "2", "purchaseDate": time.Now().UTC().Format("20060102150405"), "notificationURL": "https://3ds.example/notify",
		"browserAcceptHeader": "text/html", "browserLanguage": "de-DE", "browserUserAgent": "acs demo seed", "browserScreenHeight": "900", "browserScreenWidth": "1440"})
	a, erro := acs.ParseAReq(areq)
	if erro != nil {
		t.Fatal(erro)
	}
	_, res, err := d.decider.Decide(ctx, a)
	d.Close()
	if err != nil || res.TransStatus != "Y" || res.ECI != "05" {
		t.Fatalf("decide: %+v %v", res, err)
	}
	body := func(id, amount, value string) string {
		return `{"` + id + `","acctNumber":"4000110000000017","purchaseAmount":"` + amount +
			`","purchaseCurrency":"978","acquirerMerchantID":"M-000456","authenticationValue":"` + value + `"}`
	}
	run1 := func(stdin string) (int, string) {
		var out, errb bytes.Buffer
		code := run([]string{"-config", cfg, "verify-av"}, strings.NewReader(stdin), &out, &errb)
		return code, out.String() + errb.String()
	}
	byACS, byDS := `acsTransID":"`+res.ACSTransID, `dsTransID":"`+dsTransID
	for _, id := range []string{byACS, byDS} {
		if code, out := run1(body(id, "1250", res.AuthenticationValue)); code != 0 || !strings.Contains(out, `"result":"valid"`) ||
			!strings.Contains(out, `"eci":"05"`) {
			t.Fatalf("valid value: %d %s", code, out)
		}
	}
	if code, out := run1(body(byACS, "1251", res.AuthenticationValue)); code != 1 || !strings.Contains(out, `"mismatch":["purchaseAmount"]`) {
		t.Fatalf("one cent more: %d %s", code, out)
	}
	if code, out := run1(body(`acsTransID":"`+uuid.NewString(), "1250", res.AuthenticationValue)); code != 1 ||
		!strings.Contains(out, "unknown_transaction") {
		t.Fatalf("unknown transaction: %d %s", code, out)
	}
	for _, in := range []string{"4000110000000017", body(byACS, "1250", "short")} {
		if code, out := run1(in); code != 1 || strings.Contains(out, "4000110000000017") {
			t.Fatalf("bad input: %d %s", code, out)
		}
	}

	code, out, _ = cli(t, "-config", cfg, "issuer-client", "add", "auth-host")
	if code != 0 || !regexp.MustCompile(`acsi_[A-Za-z0-9_-]{43}`).MatchString(out) {
		t.Fatalf("issuer-client add: %d %s", code, out)
	}
	if code, _, errOut := cli(t, "-config", cfg, "issuer-client", "add", "auth-host"); code != 1 || !strings.Contains(errOut, "taken") {
		t.Fatalf("issuer-client add twice: %d %s", code, errOut)
	}
	if code, out, _ := cli(t, "-config", cfg, "issuer-client", "disable", "auth-host"); code != 0 || !strings.Contains(out, "no longer") {
		t.Fatalf("issuer-client disable: %d %s", code, out)
	}
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

// Issue 15: in production the scheme keys come from the key ceremony: `acs hsm init` names the missing
// ones instead of making random ones, and passes once they are loaded under those labels.
func TestHSMInitNeedsSchemeKeys(t *testing.T) {
	cfg := writeConfig(t)
	raw, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), "authentication_values: {generate_missing_keys: true}\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "-config", cfg, "hsm", "init")
	if code != 1 || !strings.Contains(errOut, "-av-mc-all-01") || !strings.Contains(errOut, "-av-visa-all-01-aba") ||
		!strings.Contains(errOut, "key-ceremony") {
		t.Fatalf("hsm init without scheme keys: %d %s", code, errOut)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range c.AuthValues.HSMKeys() {
		n := 32
		if k.Type == hsm.SchemeDES3 {
			n = 24
		}
		if err := hsm.ImportSchemeKey(c.HSM, k, []byte(testenv.RandomHex(t, n/2))); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errOut := cli(t, "-config", cfg, "hsm", "init"); code != 0 || !strings.Contains(out, "already holds every key") {
		t.Fatalf("hsm init after the ceremony: %d %s %s", code, out, errOut)
	}
}

// Issue 16, R-REG-10: the card management system's delta file (`acs cards apply`): a renewal keeps the
// card's registration; a block ends it, and the next AReq is N (12); a replacement closes the old
// number, ends its registration and adds the new card; the same file again changes nothing; a bad row
// is refused naming its line, never the number; `import-cards` ends the registrations of cards it marks
// blocked. Every change is audited.
func TestCardsApply(t *testing.T) {
	cfg := writeConfig(t)
	for _, args := range [][]string{{"migrate"}, {"hsm", "init"}, {"import-cards", "../../testdata/cards.csv"}, {"demo", "seed", filepath.Join(t.TempDir(), "phone.json")}} {
		if code, out, errOut := cli(t, append([]string{"-config", cfg}, args...)...); code != 0 {
			t.Fatalf("%v: %s %s", args, out, errOut)
		}
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	state := func(pan string) (cards.Status, bool) {
		t.Helper()
		d, err := open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		card, err := d.cards.FindByPAN(ctx, pan)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.registration.Active(ctx, card.ID)
		return card.Status, err == nil
	}
	write := func(rows ...string) string {
		p := filepath.Join(t.TempDir(), "delta.csv")
		if err := os.WriteFile(p, []byte("action,pan,new_pan,expiry,reason\n"+strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	renew := write("renew,4000110000000017,,2031-09,renewal")
	if code, out, errOut := cli(t, "-config", cfg, "cards", "apply", renew); code != 0 || !strings.Contains(out, "1 took effect") {
		t.Fatalf("renew: %d %s %s", code, out, errOut)
	}
	if st, registered := state("4000110000000017"); st != cards.Active || !registered {
		t.Fatalf("after renew: %s %v", st, registered)
	}
	delta := write("block,4000110000000017,,,lost", "replace,5200110000000012,5200110000000095,2031-05,stolen")
	code, out, errOut := cli(t, "-config", cfg, "cards", "apply", delta)
	if code != 0 || !strings.Contains(out, "2 took effect") || !strings.Contains(out, "2 registrations ended") {
		t.Fatalf("block and replace: %d %s %s", code, out, errOut)
	}
	if st, registered := state("4000110000000017"); st != cards.Blocked || registered {
		t.Fatalf("after block: %s %v", st, registered)
	}
	if st, registered := state("5200110000000012"); st != cards.Closed || registered {
		t.Fatalf("replaced card: %s %v", st, registered)
	}
	if st, registered := state("5200110000000095"); st != cards.Active || registered {
		t.Fatalf("replacement: %s %v", st, registered)
	}
	if code, out, _ := cli(t, "-config", cfg, "cards", "apply", delta); code != 0 || !strings.Contains(out, "0 took effect") {
		t.Fatalf("the same file again: %d %s", code, out)
	}
	// The blocked card's next purchase is refused.
	d, err := open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a, erro := acs.ParseAReq(testAReq("4000110000000017", uuid.NewString()))
	if erro != nil {
		t.Fatal(erro)
	}
	_, res, err := d.decider.Decide(ctx, a)
	d.Close()
	if err != nil || res.TransStatus != "N" || res.TransStatusReason != "12" {
		t.Fatalf("AReq after the block: %+v %v", res, err)
	}
	for _, bad := range []struct{ row, want string }{
		{"block,4000110000000018,,,lost", "no such card"},
		{"replace,4000110000000025,4000110000000033,2031-01,", "newAcctNumber"},
		{"renew,4000110000000025,,31-01,", "line 2: expiry"},
		{"block,4000110000000025,,,see 4000110000000033", "line 2: reason"},
		{"frobnicate,4000110000000025,,,", "line 2: action"},
		{"replace,5200110000000012,5200110000000038,2031-05,", "closed"}, // no second replacement
	} {
		code, out, errOut := cli(t, "-config", cfg, "cards", "apply", write(bad.row))
		if code != 1 || !strings.Contains(errOut, bad.want) || strings.Contains(out+errOut, "40001100000000") {
			t.Errorf("%s: %d %s %s", bad.row, code, out, errOut)
		}
	}
	if code, out, _ := cli(t, "-config", cfg, "audit", "verify"); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("audit: %d %s", code, out)
	}

	// Unblocked, the card registers anew; a full card file that marks it blocked ends that registration.
	if code, _, errOut := cli(t, "-config", cfg, "cards", "apply", write("unblock,4000110000000017,,,found")); code != 0 {
		t.Fatalf("unblock: %s", errOut)
	}
	// (The full file gives the card back the expiry the demo's holder data name.)
	if code, out, errOut := cli(t, "-config", cfg, "import-cards", "../../testdata/cards.csv"); code != 0 {
		t.Fatalf("import: %s %s", out, errOut)
	}
	if code, out, errOut := cli(t, "-config", cfg, "demo", "seed"); code != 0 {
		t.Fatalf("register again: %s %s", out, errOut)
	}
	if _, registered := state("4000110000000017"); !registered {
		t.Fatal("not registered again")
	}
	raw, _ := os.ReadFile("../../testdata/cards.csv")
	file := filepath.Join(t.TempDir(), "cards.csv")
	blocked := strings.Replace(string(raw), "4000110000000017,2029-09,active", "4000110000000017,2029-09,blocked", 1)
	if err := os.WriteFile(file, []byte(blocked), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, "-config", cfg, "import-cards", file); code != 0 || !strings.Contains(out, "registrations of 1 cards ended") {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	if st, registered := state("4000110000000017"); st != cards.Blocked || registered {
		t.Fatalf("after the full file: %s %v", st, registered)
	}
}

// testAReq is a browser purchase AReq of pan (49,90 EUR at M-000123).
func testAReq(pan, dsTransID string) []byte {
	b, _ := json.Marshal(map[string]any{"messageType": "AReq", "messageVersion": "2.2.0", "threeDSServerTransID": uuid.NewString(),
		"dsTransID": dsTransID, "threeDSServerRefNumber": "TEST", "threeDSRequestorID": "test", "threeDSRequestorName": "test",
		"threeDSRequestorChallengeInd": "01", "deviceChannel": "02", "messageCategory": "01", "threeDSRequestorAuthenticationInd": "01",
		"threeDSRequestorURL": "https://shop.example/", "threeDSCompInd": "U", "dsReferenceNumber": "DS_REF", "threeDSServerURL": "https://3ds.example/",
		"dsURL": "https://ds.example/rreq", "browserJavascriptEnabled": false, "acctNumber": pan, "acquirerBIN": "412345",
		"acquirerMerchantID": "M-000123", "merchantName": "Beispiel-Shop", "mcc": "5942", "merchantCountryCode": "276",
		"purchaseAmount": "4990", "purchaseCurrency": "978", "purchaseExponent": "2", "purchaseDate": time.Now().UTC().Format("20060102150405"),
		"notificationURL": "https://3ds.example/notify", "browserAcceptHeader": "text/html", "browserLanguage": "de-DE",
		"browserUserAgent": "test", "browserScreenHeight": "900", "browserScreenWidth": "1440"})
	return b
}

// Issue 16, R-AUTH-9: `acs statements sms MONTH FILE` writes the billing month's charged SMS per card
// (card_ref, masked card, time, purpose, price); running it twice gives the same bytes; an SMS support
// marked as caused by abuse is left out (and the marking is audited); the issuer API serves the same
// file, and looks up a card's card_ref for its number; no card number is in the file.
func TestSMSStatement(t *testing.T) {
	cfg := writeConfig(t)
	raw, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), "sms: {gateway: dev, sender: Testbank}", `sms: {gateway: dev, sender: Testbank, price: "0.09"}`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"migrate"}, {"hsm", "init"}, {"import-cards", "../../testdata/cards.csv"}, {"demo", "seed"}} {
		if code, out, errOut := cli(t, append([]string{"-config", cfg}, args...)...); code != 0 {
			t.Fatalf("%v: %s %s", args, out, errOut)
		}
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	month := time.Now().In(c.Issuer.Zone()).Format("2006-01")
	dir := t.TempDir()
	run := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if code, out, errOut := cli(t, "-config", cfg, "statements", "sms", month, p); code != 0 || !strings.Contains(out, "SMS charged") {
			t.Fatalf("statement: %d %s %s", code, out, errOut)
		}
		b, _ := os.ReadFile(p)
		return string(b)
	}
	first, second := run("a.csv"), run("b.csv")
	lines := strings.Split(strings.TrimSpace(first), "\n")
	if first != second || len(lines) < 3 || lines[0] != "card_ref,card,sent_at,purpose,price,currency" ||
		!strings.Contains(first, "400011******0017") || !strings.Contains(first, ",0.0900,EUR") || strings.Contains(first, "4000110000000017") {
		t.Fatalf("statement:\n%s\n---\n%s", first, second)
	}
	ctx := context.Background()
	d, err := open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	card, _ := d.cards.FindByPAN(ctx, "4000110000000017")
	ledger, err := sms.Ledger(ctx, d.pool, card.ID, time.Time{}, time.Now().Add(time.Hour))
	if err != nil || len(ledger) == 0 {
		t.Fatalf("ledger: %v %v", ledger, err)
	}
	who := support.Staff{ID: uuid.New(), Name: "mia", Role: support.Agent}
	if changed, err := d.support.MarkSMSAbuse(ctx, who, card.ID, ledger[0].ID, "mTANs requested by someone else"); err != nil || !changed {
		t.Fatalf("mark: %v %v", changed, err)
	}
	if changed, err := d.support.MarkSMSAbuse(ctx, who, card.ID, ledger[0].ID, "again"); err != nil || changed {
		t.Fatalf("mark again: %v %v", changed, err)
	}
	if _, err := d.support.MarkSMSAbuse(ctx, who, uuid.New(), ledger[0].ID, "x"); err == nil {
		t.Fatal("an SMS marked through another card")
	}
	after := run("c.csv")
	if n := len(strings.Split(strings.TrimSpace(after), "\n")); n != len(lines)-1 {
		t.Fatalf("after the abuse mark: %d lines, want %d:\n%s", n, len(lines)-1, after)
	}

	// The issuer API: the same file, and the card_ref of a card number.
	token, err := d.issuer.AddClient(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	e := server.New(server.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.Use(apidoctest.Validator(t, apidoctest.MustLoad("issuer")))
	d.issuer.Routes(e.Group("/issuer/v1"))
	srv := httptest.NewServer(e)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do(http.MethodGet, "/issuer/v1/statements/sms/"+month, ""); code != 200 || body != after {
		t.Fatalf("statement over HTTP: %d\n%s", code, body)
	}
	if code, body := do(http.MethodGet, "/issuer/v1/statements/sms/2026-13", ""); code != 400 || !strings.Contains(body, "month") {
		t.Fatalf("bad month: %d %s", code, body)
	}
	if code, body := do(http.MethodPost, "/issuer/v1/cards/lookup", `{"acctNumber":"4000110000000017"}`); code != 200 ||
		!strings.Contains(body, card.ID.String()) || strings.Contains(body, "4000110000000017") {
		t.Fatalf("lookup: %d %s", code, body)
	}
}
