package cards_test

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/cards"
	"example.com/acs/envelope"
	"example.com/acs/internal/testenv"
)

const demoFile = "../testdata/cards.csv"

type fixture struct {
	pool *pgxpool.Pool
	dir  *cards.Directory
	logs *testenv.Buffer
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	pool := testenv.DB(t)
	h := testenv.HSM(t)
	keys, err := envelope.Open(context.Background(), pool, h.KEK(), "pii")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return fixture{pool: pool, dir: cards.New(cards.Deps{Pool: pool, Keys: keys, Hasher: h, Log: log}), logs: logs}
}

func demoPANs(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var pans []string
	for _, r := range recs[1:] {
		pans = append(pans, r[0])
	}
	return pans
}

func importFile(t *testing.T, fx fixture, path string) cards.ImportResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := fx.dir.Import(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func count(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM issuer_cards`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDemoFileImportsAndReimportUpdates(t *testing.T) {
	fx := newFixture(t)
	pans := demoPANs(t)
	if len(pans) < 20 {
		t.Fatalf("demo file has %d cards, want at least 20", len(pans))
	}
	if res := importFile(t, fx, demoFile); res.Created != len(pans) || res.Updated != 0 {
		t.Fatalf("first import: %+v", res)
	}
	if res := importFile(t, fx, demoFile); res.Created != 0 || res.Updated != len(pans) {
		t.Fatalf("second import: %+v", res)
	}
	if n := count(t, fx.pool); n != len(pans) {
		t.Fatalf("%d rows after two imports, want %d", n, len(pans))
	}

	ctx := context.Background()
	c, err := fx.dir.FindByPAN(ctx, "4000 1100 0000 0017")
	if err != nil {
		t.Fatal(err)
	}
	if c.Masked() != "400011******0017" || c.Scheme != cards.Visa || c.Status != cards.Active {
		t.Fatalf("card: %+v %s", c, c.Masked())
	}
	h, err := fx.dir.Holder(ctx, c.ID)
	if err != nil || h.Name != "Anna Schmidt" || h.City != "Berlin" {
		t.Fatalf("holder: %+v %v", h, err)
	}
	if pan, err := fx.dir.PAN(ctx, c.ID); err != nil || pan != "4000110000000017" {
		t.Fatalf("PAN round trip failed: %v", err)
	}
	if _, err := fx.dir.FindByPAN(ctx, "4000110000000025"[:15]+"3"); !errors.Is(err, cards.ErrNotFound) {
		t.Fatalf("unknown card: %v", err)
	}
	mc, err := fx.dir.FindByPAN(ctx, "2223000000000015")
	if err != nil {
		t.Fatal(err)
	}
	if mc.Scheme != cards.Mastercard {
		t.Fatalf("2-series card scheme %s", mc.Scheme)
	}

	var expired, blocked int
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, p := range pans {
		c, err := fx.dir.FindByPAN(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if c.Expired(now) {
			expired++
		}
		if c.Status == cards.Blocked {
			blocked++
		}
	}
	if expired == 0 || blocked == 0 {
		t.Fatalf("demo data lacks expired (%d) or blocked (%d) cards", expired, blocked)
	}
}

// PCI DSS 3.5.1 / R-KEY-1: no full card number in logs (even at debug level), in error messages, or in
// clear in any column of any table.
func TestNoFullCardNumberInLogsErrorsOrColumns(t *testing.T) {
	fx := newFixture(t)
	pans := demoPANs(t)
	importFile(t, fx, demoFile)

	// A refused file whose rows hold card numbers, for the error message.
	bad := "pan,expiry,status,product,holder_name,date_of_birth,street,postal_code,city,country\n" +
		pans[0] + ",2029-13,active,credit,Anna Schmidt,1984-03-12,Lindenstraße 12,10115,Berlin,DE\n" +
		pans[1][:15] + "0,2029-01,active,credit,Jonas Müller,1979-11-02,Hauptstraße 5a,80331,München,DE\n" +
		pans[2] + ",2029-01,active,credit,Leonie Weber\n"
	_, err := fx.dir.Import(context.Background(), strings.NewReader(bad))
	if err == nil {
		t.Fatal("bad file imported")
	}
	haystacks := map[string]string{"logs": fx.logs.String(), "error": err.Error(), "database": dumpDatabase(t, fx.pool)}
	if !strings.Contains(haystacks["logs"], "card import row") {
		t.Fatal("debug logging was not on: the test proves nothing")
	}
	for _, p := range append(pans, pans[1][:15]+"0") {
		for where, text := range haystacks {
			for _, form := range []string{p, hex.EncodeToString([]byte(p)), p[6:]} {
				if strings.Contains(text, form) {
					t.Errorf("%s contains a card number (form %q)", where, form)
				}
			}
		}
	}
}

func dumpDatabase(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	d := testenv.Dump(t, pool)
	if !strings.Contains(d, "pan_last4") {
		t.Fatal("dump holds no cards: the test proves nothing")
	}
	return d
}

func TestMalformedFileImportsNothing(t *testing.T) {
	fx := newFixture(t)
	importFile(t, fx, demoFile)
	before := count(t, fx.pool)

	header := strings.Join(cards.FileColumns, ",") + "\n"
	good := "4000110000000991,2030-01,active,credit,Neu Kunde,1990-01-01,Neuer Weg 1,10115,Berlin,DE\n"
	for name, tc := range map[string]struct {
		body string
		want []string
	}{
		"bad header":       {"card,expiry\n" + good, []string{"line 1: header must be"}},
		"empty":            {"", []string{"line 1: no header"}},
		"luhn":             {header + good + "4000110000000992,2030-01,active,credit,A B,1990-01-01,Weg 1,10115,Berlin,DE\n", []string{"line 3: pan: fails the Luhn check"}},
		"not visa/mc":      {header + good + "378282246310005,2030-01,active,credit,A B,1990-01-01,Weg 1,10115,Berlin,DE\n", []string{"line 3: pan: is not a Visa or Mastercard"}},
		"letters":          {header + "4000ABCD00000991,2030-01,active,credit,A B,1990-01-01,Weg 1,10115,Berlin,DE\n", []string{"line 2: pan: must be 13 to 19 digits"}},
		"several problems": {header + good + "4000110000000017,30-01,open,gold,A,1990-02-30,W,1,B,Deutschland\n", []string{"line 3: expiry", "line 3: status", "line 3: product", "line 3: holder_name", "line 3: date_of_birth", "line 3: street", "line 3: postal_code", "line 3: city", "line 3: country"}},
		"short row":        {header + good + "4000110000000017,2030-01\n", []string{"line 3: has 2 fields, want 10"}},
		"duplicate":        {header + good + good, []string{"line 3: pan: same card number as line 2"}},
		"bad quote":        {header + good + "\"4000110000000017,2030-01,active,credit,A B,1990-01-01,Weg 1,10115,Berlin,DE\n", []string{"line 3"}},
		// Streamed: two batches of good rows are written before the wrong one, and rolled back with it.
		"problem after batches": {string(synthFile(2500)) + "4000110000000992,2030-01,active,credit,A B,1990-01-01,Weg 1,10115,Berlin,DE\n", []string{"line 2502: pan: fails the Luhn check"}},
		"duplicate far apart":   {string(synthFile(2500)) + strings.SplitN(string(synthFile(1)), "\n", 3)[1] + "\n", []string{"line 2502: pan: same card number as line 2"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fx.dir.Import(context.Background(), strings.NewReader(tc.body))
			var ie *cards.ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an ImportError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if n := count(t, fx.pool); n != before {
				t.Fatalf("%d cards after a refused file, want %d", n, before)
			}
		})
	}
}

func TestConcurrentImportsDoNotDuplicate(t *testing.T) {
	fx := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Open(demoFile)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			if _, err := fx.dir.Import(context.Background(), f); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := count(t, fx.pool); n != len(demoPANs(t)) {
		t.Fatalf("%d rows after concurrent imports", n)
	}
}

func TestCheckPAN(t *testing.T) {
	for pan, want := range map[string]error{
		"4111111111111111":     nil,
		"4222222222222":        nil,
		"5555555555554444":     nil,
		"2223003122003222":     nil,
		"2720990000000007":     nil,
		"4111111111111112":     cards.ErrPANLuhn,
		"378282246310005":      cards.ErrPANScheme, // Amex
		"6011111111111117":     cards.ErrPANScheme, // Discover
		"2721000000000004":     cards.ErrPANScheme, // just above the 2-series
		"411111111111":         cards.ErrPANFormat,
		"41111111111111111111": cards.ErrPANFormat,
		"4111-1111-1111-1111":  cards.ErrPANFormat, // not normalised
		"":                     cards.ErrPANFormat,
	} {
		if _, err := cards.CheckPAN(pan); !errors.Is(err, want) {
			t.Errorf("CheckPAN(%q) = %v, want %v", pan, err, want)
		}
	}
	if got := cards.NormalizePAN(" 4111-1111 1111-1111 "); got != "4111111111111111" {
		t.Errorf("NormalizePAN: %q", got)
	}
}

func TestExpired(t *testing.T) {
	c := cards.Card{ExpiryMonth: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	if c.Expired(time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)) {
		t.Error("expired on the last day of its month")
	}
	if !c.Expired(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("valid after its month")
	}
}

// FuzzParse: whatever the file, importing ends in rows or an ImportError, never a panic, and an error
// never quotes a card number that was in the input.
func FuzzImportParse(f *testing.F) {
	seed, _ := os.ReadFile(demoFile)
	f.Add(string(seed))
	f.Add("pan\n\"")
	f.Add(strings.Join(cards.FileColumns, ",") + "\n4111111111111111,,,,,,,,,\n")
	f.Fuzz(func(t *testing.T, body string) {
		err := cards.ParseForTest(body)
		if err != nil && strings.Contains(err.Error(), "4000110000000017") {
			t.Fatal("error quotes a card number")
		}
	})
}
