package letters_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/acs/apperr"
	"example.com/acs/internal/testenv"
	"example.com/acs/letters"
)

type fixture struct {
	*testenv.Stack
	l   *letters.Letters
	out string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testenv.NewStack(t)
	return &fixture{Stack: st, l: st.Letters, out: t.TempDir()}
}

func (fx *fixture) card(t *testing.T, pan string) uuid.UUID {
	t.Helper()
	c, err := fx.Cards.FindByPAN(context.Background(), pan)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// letter requests and prints a letter for the card and returns its code.
func (fx *fixture) letter(t *testing.T, card uuid.UUID) string {
	t.Helper()
	if _, err := fx.l.Request(context.Background(), card, "registration", "portal"); err != nil {
		t.Fatal(err)
	}
	return fx.PrintLetters(t)
}

func wantKind(t *testing.T, err error, k apperr.Kind) {
	t.Helper()
	if apperr.KindOf(err) != k {
		t.Fatalf("got %v, want kind %s", err, k)
	}
}

func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	re := regexp.MustCompile(`^[2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5}$`)
	for i := 0; i < 2000; i++ {
		c, err := letters.NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(c) || strings.ContainsAny(c, "01OI") {
			t.Fatalf("code %q is not in the unambiguous alphabet", c)
		}
		if seen[c] {
			t.Fatalf("code %q repeated", c)
		}
		seen[c] = true
	}
	if got := letters.NormalizeCode(" k7p3q-x9m2z "); got != "K7P3QX9M2Z" {
		t.Errorf("NormalizeCode: %q", got)
	}
	for _, bad := range []string{"", "K7P3QX9M2", "K7P3QX9M2ZZ", "K7P3QX9M20", "K7P3QX9M2O", "K7P3QX9M2Ä"} {
		if got := letters.NormalizeCode(bad); got != "" {
			t.Errorf("NormalizeCode(%q) = %q, want refusal", bad, got)
		}
	}
}

// R-REG-3: valid for 15 days from printing: a second before is accepted, a second after is refused.
func TestValidityFifteenDays(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	a, b := fx.card(t, "4000110000000017"), fx.card(t, "4000110000000025")
	codeA, codeB := fx.letter(t, a), fx.letter(t, b)

	fx.Clock.Advance(letters.Validity - time.Second)
	if _, err := fx.l.Redeem(ctx, a, uuid.Nil, codeA); err != nil {
		t.Fatalf("15 days minus a second: %v", err)
	}
	fx.Clock.Advance(2 * time.Second)
	_, err := fx.l.Redeem(ctx, b, uuid.Nil, codeB)
	wantKind(t, err, apperr.Expired)
	ls, _ := fx.l.ForCard(ctx, b)
	if ls[0].State != letters.Expired {
		t.Fatalf("state after expiry: %s", ls[0].State)
	}
}

func TestExpireDue(t *testing.T) {
	fx := newFixture(t)
	fx.letter(t, fx.card(t, "4000110000000017"))
	fx.Clock.Advance(letters.Validity)
	if n, err := fx.l.ExpireDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("expired %d, %v", n, err)
	}
}

// R-REG-3: a newer letter supersedes the older unused code; a used code is spent.
func TestSupersededAndUsed(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.card(t, "5200110000000012")
	old := fx.letter(t, card)
	fx.Clock.Advance(time.Hour)
	if _, err := fx.l.Request(ctx, card, "letter lost", "agent:mia"); err != nil {
		t.Fatal(err)
	}
	_, err := fx.l.Redeem(ctx, card, uuid.Nil, old)
	wantKind(t, err, apperr.NotFound) // the new letter is not printed yet, the old one is superseded
	res, err := fx.l.Batch(ctx, fx.out)
	if err != nil || res.Letters != 1 {
		t.Fatal(res, err)
	}
	fresh := fx.Codes()[len(fx.Codes())-1]
	_, err = fx.l.Redeem(ctx, card, uuid.Nil, old)
	wantKind(t, err, apperr.Invalid)
	if _, err := fx.l.Redeem(ctx, card, uuid.Nil, strings.ToLower(fresh)); err != nil {
		t.Fatalf("new code: %v", err)
	}
	_, err = fx.l.Redeem(ctx, card, uuid.Nil, fresh)
	wantKind(t, err, apperr.NotFound)

	ls, err := fx.l.ForCard(ctx, card)
	if err != nil || len(ls) != 2 || ls[0].State != letters.Used || ls[1].State != letters.Superseded || ls[0].FailedAttempts != 1 {
		t.Fatalf("letters: %+v %v", ls, err)
	}
	if ls[1].Reason != "registration" || ls[0].Reason != "letter lost" || ls[0].RequestedBy != "agent:mia" {
		t.Fatalf("reasons: %+v", ls)
	}
}

// At most 5 wrong codes; the 6th attempt is refused even with the right code, until a new letter.
func TestFiveWrongCodesLock(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.card(t, "2223000000000015")
	code := fx.letter(t, card)
	wrong := "ZZZZZ-ZZZZZ"
	if code == wrong {
		wrong = "YYYYY-YYYYY"
	}
	for i := 1; i < letters.MaxAttempts; i++ {
		_, err := fx.l.Redeem(ctx, card, uuid.Nil, wrong)
		wantKind(t, err, apperr.Invalid)
	}
	_, err := fx.l.Redeem(ctx, card, uuid.Nil, "not a code") // malformed counts too
	wantKind(t, err, apperr.Locked)
	_, err = fx.l.Redeem(ctx, card, uuid.Nil, code)
	wantKind(t, err, apperr.Locked)

	fresh := fx.letter(t, card)
	if _, err := fx.l.Redeem(ctx, card, uuid.Nil, fresh); err != nil {
		t.Fatalf("a new letter unlocks: %v", err)
	}
}

func TestCodeIsBoundToItsCard(t *testing.T) {
	fx := newFixture(t)
	a, b := fx.card(t, "4000110000000017"), fx.card(t, "4000110000000025")
	codeA := fx.letter(t, a)
	fx.letter(t, b)
	_, err := fx.l.Redeem(context.Background(), b, uuid.Nil, codeA)
	wantKind(t, err, apperr.Invalid)
}

// Two (here sixteen) concurrent activations with one code: exactly one wins.
func TestConcurrentRedeemOneWins(t *testing.T) {
	fx := newFixture(t)
	card := fx.card(t, "4000110000000033")
	code := fx.letter(t, card)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, losses := 0, 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := fx.l.Redeem(context.Background(), card, uuid.Nil, code)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if apperr.KindOf(err) == apperr.NotFound {
				losses++
			} else {
				t.Errorf("loser got %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || losses != 15 {
		t.Fatalf("%d wins, %d losses", wins, losses)
	}
}

func TestConcurrentRequestsLeaveOneOpenLetter(t *testing.T) {
	fx := newFixture(t)
	card := fx.card(t, "4000110000000041")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := fx.l.Request(context.Background(), card, "registration", "portal")
			// A request loses to another (Conflict) or, once three went through, to the daily bound.
			if err != nil && apperr.KindOf(err) != apperr.Conflict && apperr.KindOf(err) != apperr.TooMany {
				t.Errorf("request: %v", err)
			}
		}()
	}
	wg.Wait()
	var open int
	if err := fx.Pool.QueryRow(context.Background(), `SELECT count(*) FROM letters WHERE card_id = $1 AND state IN ('requested','printed')`, card).Scan(&open); err != nil || open != 1 {
		t.Fatalf("%d open letters, %v", open, err)
	}
}

func TestRequestValidation(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	_, err := fx.l.Request(ctx, uuid.New(), "registration", "portal")
	wantKind(t, err, apperr.NotFound)
	_, err = fx.l.Request(ctx, fx.card(t, "4000110000000017"), " ", "portal")
	wantKind(t, err, apperr.Invalid)
}

// The batch prints each letter once; the PDF carries issuer, address, masked card, code and last valid
// day; the manifest, the database and the logs carry no code.
func TestBatchPrintsOnceAndOnlyThePaperHasTheCode(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	for _, pan := range []string{"4000110000000017", "5200110000000012"} {
		if _, err := fx.l.Request(ctx, fx.card(t, pan), "registration", "portal"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := fx.l.Batch(ctx, fx.out)
	if err != nil || res.Letters != 2 {
		t.Fatalf("batch: %+v %v", res, err)
	}
	again, err := fx.l.Batch(ctx, fx.out)
	if err != nil || again.Letters != 0 || again.PDFPath != "" {
		t.Fatalf("second batch printed again: %+v %v", again, err)
	}
	files, _ := filepath.Glob(filepath.Join(fx.out, "*"))
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	st, err := os.Stat(res.PDFPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("PDF mode: %v %v", st.Mode(), err)
	}
	raw, _ := os.ReadFile(res.PDFPath)
	if !bytes.HasPrefix(raw, []byte("%PDF-")) {
		t.Fatal("not a PDF")
	}
	text := testenv.PDFText(raw)
	for _, want := range []string{"Musterbank AG", "Anna Schmidt", "Lindenstra\xdfe 12", "10115 Berlin",
		"400011******0017", "520011******0012", fx.Codes()[0], fx.Codes()[1], "07.12.2026", "Ihr ID-Code f\xfcr"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	manifest, _ := os.ReadFile(res.ManifestPath)
	if !strings.Contains(string(manifest), "10115") {
		t.Errorf("manifest: %s", manifest)
	}

	dump := testenv.Dump(t, fx.Pool, "letters")
	for _, code := range fx.Codes() {
		for where, text := range map[string]string{"manifest": string(manifest), "database": dump, "logs": fx.Logs.String()} {
			if strings.Contains(text, code) || strings.Contains(text, strings.ReplaceAll(code, "-", "")) {
				t.Errorf("%s holds an ID code", where)
			}
		}
	}
	if strings.Contains(string(manifest), "4000110000000017") || strings.Contains(text, "4000110000000017") {
		t.Error("a full card number was printed")
	}
}

// Issue 12, R-REG-3: a letter's code redeems only for the registration it was issued for; typed for
// another it is a wrong code (counted), and the letter stays usable for its own.
func TestCodeRedeemsOnlyForItsRegistration(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.card(t, "4000110000000017")
	own, other := uuid.New(), uuid.New()
	if _, err := fx.Pool.Exec(ctx, `INSERT INTO registrations (id, card_id, method, state, created_at, device_key_enc, device_key_hash,
		pin_verifier, em_cert_id, offline_secret_enc) VALUES ($1, $2, 'app', 'pending', now(), '\x00', $3, '\x00', $4, '\x00')`,
		own, card, make([]byte, 32), uuid.New()); err != nil {
		t.Fatal(err)
	}
	code := fx.letter(t, card)
	if _, err := fx.l.Redeem(ctx, card, other, code); apperr.KindOf(err) != apperr.Invalid {
		t.Fatalf("redeemed for another registration: %v", err)
	}
	if _, err := fx.l.Redeem(ctx, card, own, code); err != nil {
		t.Fatalf("its own registration: %v", err)
	}
}

// Issue 12: each letter costs postage and voids the one before: at most MaxPerDay a card in 24 hours.
func TestLettersPerDay(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	card := fx.card(t, "4000110000000017")
	for i := 0; i < letters.MaxPerDay; i++ {
		if _, err := fx.l.Request(ctx, card, "lost", "staff:mia"); err != nil {
			t.Fatalf("letter %d: %v", i, err)
		}
	}
	if _, err := fx.l.Request(ctx, card, "lost", "staff:mia"); !errors.Is(err, letters.ErrTooManyLetters) {
		t.Fatalf("past the daily bound: %v", err)
	}
	fx.Clock.Advance(24 * time.Hour)
	if _, err := fx.l.Request(ctx, card, "lost", "staff:mia"); err != nil {
		t.Fatalf("the next day: %v", err)
	}
}
