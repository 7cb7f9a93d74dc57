package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/store"
)

func setup(t *testing.T) (*pgxpool.Pool, *clockwork.FakeClock, *audit.Log, uuid.UUID) {
	t.Helper()
	pool := testenv.DB(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	card := uuid.New()
	if _, err := pool.Exec(context.Background(), `INSERT INTO issuer_cards (id, pan_hash, pan_enc, pan_first6, pan_last4, pan_length, scheme,
		product, expiry_month, status, holder_enc) VALUES ($1, $2, '\x00', '400011', '0017', 16, 'visa', 'credit', '2030-01-01', 'active', '\x00')`,
		card, bytes.Repeat([]byte{1}, 32)); err != nil {
		t.Fatal(err)
	}
	return pool, clock, audit.New(pool, clock), card
}

// R-SUP-3: who, what, when, which card; append-only even for SQL the application may run.
func TestAuditLogIsAppendOnly(t *testing.T) {
	pool, _, log, card := setup(t)
	ctx := context.Background()
	if err := log.Record(ctx, pool, audit.Entry{Actor: "staff:mia", Action: "letter.request", CardID: &card,
		CardMasked: "400011******0017", Details: map[string]string{"reason": "letter lost"}}); err != nil {
		t.Fatal(err)
	}
	es, err := log.ForCard(ctx, card)
	if err != nil || len(es) != 1 || es[0].Actor != "staff:mia" || es[0].Details["reason"] != "letter lost" || es[0].At.IsZero() {
		t.Fatalf("entries: %+v %v", es, err)
	}
	for _, sql := range []string{`UPDATE audit_log SET actor = 'someone else'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", sql, err)
		}
	}
	if err := log.Record(ctx, pool, audit.Entry{Actor: "staff:mia", Action: "card.lookup", CardMasked: "4000110000000017"}); err == nil {
		t.Fatal("a full card number was accepted as masked")
	}
}

func TestAuditEntryRollsBackWithItsAction(t *testing.T) {
	pool, _, log, card := setup(t)
	ctx := context.Background()
	_ = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
		if err := log.Record(ctx, tx, audit.Entry{Actor: "staff:mia", Action: "card.block", CardID: &card}); err != nil {
			t.Fatal(err)
		}
		return context.Canceled // the action failed
	})
	if es, _ := log.ForCard(ctx, card); len(es) != 0 {
		t.Fatal("an entry outlived its rolled-back action")
	}
}

// R-REG-9: the count covers the last 13 months, no more.
func TestIssuerDataReadsThirteenMonths(t *testing.T) {
	pool, clock, log, card := setup(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := log.IssuerDataRead(ctx, pool, card, "registration_check"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(24 * time.Hour * 200)
	if err := log.IssuerDataRead(ctx, pool, card, "registration_check"); err != nil {
		t.Fatal(err)
	}
	if n, err := log.IssuerDataReads(ctx, card); err != nil || n != 4 {
		t.Fatalf("after 200 days: %d %v", n, err)
	}
	clock.Advance(24 * time.Hour * 200) // the first three are now more than 13 months old
	if n, _ := log.IssuerDataReads(ctx, card); n != 1 {
		t.Fatalf("after 400 days: %d, want 1", n)
	}
}

// Issue 12, PCI DSS 10.3.4: the chain finds an entry changed, removed or moved, even by someone who got
// past the append-only trigger (here the database owner, who can disable it); concurrent writers keep
// the chain in order.
func TestAuditChain(t *testing.T) {
	pool, clock, plain, card := setup(t)
	ctx := context.Background()
	h := testenv.HSM(t)
	log := plain.Chained(h)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := store.WithTx(ctx, pool, func(tx pgx.Tx) error {
				return log.Record(ctx, tx, audit.Entry{Actor: "staff:mia", Action: "card.view", CardID: &card,
					CardMasked: "400011******0017", Details: map[string]string{"n": fmt.Sprint(i)}})
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
		clock.Advance(time.Second)
	}
	wg.Wait()
	n, broken, err := log.Verify(ctx, h)
	if err != nil || n != 8 || len(broken) != 0 {
		t.Fatalf("intact chain: %d %v %v", n, broken, err)
	}
	tamper := func(sql string) []audit.Broken {
		t.Helper()
		for _, s := range []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`, sql,
			`ALTER TABLE audit_log ENABLE TRIGGER USER`} {
			if _, err := pool.Exec(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		_, broken, err := log.Verify(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		return broken
	}
	if b := tamper(`UPDATE audit_log SET actor = 'staff:eve' WHERE id = (SELECT min(id) + 2 FROM audit_log)`); len(b) != 1 ||
		b[0].Reason != "content changed" {
		t.Fatalf("changed: %v", b)
	}
	if b := tamper(`DELETE FROM audit_log WHERE id = (SELECT min(id) + 5 FROM audit_log)`); len(b) != 2 {
		t.Fatalf("changed and removed: %v", b)
	}
}
