package retention_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"example.com/acs/audit"
	"example.com/acs/internal/testenv"
	"example.com/acs/retention"
	"example.com/acs/whitelist"
)

type fixture struct {
	*testenv.Stack
	card uuid.UUID
}

func (fx *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := fx.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := fx.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// transaction inserts a challenged, ended transaction created at, with its challenge and its RReq in
// state result (delivered or pending).
func (fx *fixture) transaction(t *testing.T, at time.Time, result string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	fx.exec(t, `INSERT INTO acs_transactions (acs_trans_id, three_ds_server_trans_id, ds_trans_id, message_version,
		card_id, amount, minor_units, currency, exponent, merchant_name, acquirer_bin, acquirer_merchant_id, mcc, merchant_country,
		purchase_date, challenge_ind, notification_url, browser_language, trans_status, reasons, created_at, final_status)
		VALUES ($1, $2, $3, '2.2.0', $4, 10, 1000, '978', 2, 'Beispiel-Shop', '412345', 'M-1', '5732', '276', $5, '01',
		'https://shop.example/n', 'de', 'C', '["challenge_succeeded"]', $5, 'Y')`, id, uuid.New(), uuid.New(), fx.card, at)
	fx.exec(t, `INSERT INTO acs_challenges (acs_trans_id, method, state, created_at) VALUES ($1, 'mtan', 'succeeded', $2)`, id, at)
	fx.exec(t, `INSERT INTO acs_results (acs_trans_id, target_url, rreq, state, next_attempt_at, created_at)
		VALUES ($1, 'https://ds.example/rreq', '{}', $2, $3, $3)`, id, result, at)
	return id
}

// registration inserts an app registration of the card that ended at closed.
func (fx *fixture) registration(t *testing.T, closed time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	fx.exec(t, `INSERT INTO registrations (id, card_id, method, state, created_at, activated_at, closed_at, close_reason,
		device_key_enc, device_key_hash, device_platform, device_os_version, pin_verifier, em_cert_id, offline_secret_enc)
		VALUES ($1, $2, 'app', 'ended', $3, $3, $3, 'card blocked', '\x01', $4, 'ios', '17.4', '\x02', $5, '\x03')`,
		id, fx.card, closed, make([]byte, 32), uuid.New())
	return id
}

// pendingMTAN inserts an mTAN registration of card that began at created and was never completed.
func (fx *fixture) pendingMTAN(t *testing.T, card uuid.UUID, created time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	fx.exec(t, `INSERT INTO registrations (id, card_id, method, state, created_at, mobile_enc, mobile_hash, mobile_masked, question,
		answer_verifier) VALUES ($1, $2, 'mtan', 'pending', $3, '\x01', $4, '+49151******78', 'birthplace', '\x02')`,
		id, card, created, make([]byte, 32))
	return id
}

// Issue 16: retention removes or anonymises exactly what is due, with a fake clock: transactions older
// than 18 months (not one whose RReq is still pending; a trusted merchant it added stays), ended
// registrations' secrets, issuer-data reads and SMS older than 13 months, audit entries older than six
// years (the chain still verifies), working rows older than two days; a second run finds nothing.
func TestRetentionRemovesOnlyWhatIsDue(t *testing.T) {
	st := testenv.NewStack(t)
	ctx := context.Background()
	card, err := st.Cards.FindByPAN(ctx, "4000110000000017")
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{Stack: st, card: card.ID}
	t0 := testenv.Start
	month := func(n int) time.Time { return t0.AddDate(0, n, 0) }

	oldTx := fx.transaction(t, t0, "delivered")
	pendingTx := fx.transaction(t, t0, "pending")
	recentTx := fx.transaction(t, month(12), "delivered")
	wl := whitelist.New(fx.Pool, fx.Clock)
	fx.exec(t, `INSERT INTO whitelist_entries (id, card_id, acquirer_bin, acquirer_merchant_id, merchant_name, added_at, added_by_trans_id)
		VALUES ($1, $2, '412345', 'M-1', 'Beispiel-Shop', $3, $4)`, uuid.New(), fx.card, t0, oldTx)
	oldReg, recentReg := fx.registration(t, t0), fx.registration(t, month(12))
	other, _ := st.Cards.FindByPAN(ctx, "4000110000000025")
	stale, fresh := fx.pendingMTAN(t, other.ID, t0), fx.pendingMTAN(t, card.ID, month(18).Add(24*time.Hour))
	fx.exec(t, `INSERT INTO app_push_tokens (registration_id, platform, token_enc, updated_at) VALUES ($1, 'ios', '\x01', $2)`, oldReg, t0)
	for _, at := range []time.Time{t0, month(7)} {
		fx.exec(t, `INSERT INTO issuer_data_access (card_id, purpose, accessed_at) VALUES ($1, 'registration_check', $2)`, fx.card, at)
		fx.exec(t, `INSERT INTO sms_outbox (id, card_id, purpose, to_masked, price, currency, state, next_attempt_at, created_at, sent_at)
			VALUES ($1, $2, 'mtan', '+49151******78', 0.09, 'EUR', 'sent', $3, $3, $3)`, uuid.New(), fx.card, at)
		fx.exec(t, `INSERT INTO acs_card_browsers (card_id, kind, digest, first_seen, last_seen) VALUES ($1, 'ip', $2, $3, $3)`,
			fx.card, append(make([]byte, 31), byte(at.Month())), at)
	}
	// Audit entries from 2018 (more than six years before the run) and from t0, chained.
	old := audit.New(fx.Pool, clockwork.NewFakeClockAt(time.Date(2018, 3, 1, 0, 0, 0, 0, time.UTC))).Chained(fx.HSM)
	recent := audit.New(fx.Pool, fx.Clock).Chained(fx.HSM)
	for i := 0; i < 3; i++ {
		if err := old.Record(ctx, fx.Pool, audit.Entry{Actor: "system", Action: "test.old"}); err != nil {
			t.Fatal(err)
		}
	}
	// They were written in 2018 by the database's clock too (which stamps recorded_at itself): the test,
	// owner of its database, dates them back with the triggers off.
	fx.exec(t, `ALTER TABLE audit_log DISABLE TRIGGER USER`)
	fx.exec(t, `UPDATE audit_log SET recorded_at = at WHERE action = 'test.old'`)
	fx.exec(t, `ALTER TABLE audit_log ENABLE TRIGGER USER`)
	for i := 0; i < 2; i++ {
		if err := recent.Record(ctx, fx.Pool, audit.Entry{Actor: "system", Action: "test.recent"}); err != nil {
			t.Fatal(err)
		}
	}
	fx.exec(t, `INSERT INTO rate_counters (rule, subject, window_start, count) VALUES ('x', 'old', $1, 1), ('x', 'new', $2, 1)`,
		month(19).Add(-72*time.Hour), month(19).Add(-time.Hour))

	fx.Clock.Advance(month(19).Sub(t0))
	cfg := retention.DefaultConfig
	cfg.BatchSize = 10
	svc := retention.New(fx.Pool, fx.Clock, recent, cfg)
	results, err := svc.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range results {
		got[r.Table] = r.Rows
	}
	want := map[string]int{"acs_transactions": 1, "registrations in progress": 1, "registrations": 2, "issuer_data_access": 1, "sms_outbox": 1,
		"acs_card_browsers": 1, "audit_log": 3, "rate_counters": 1}
	for table, n := range want {
		if got[table] != n {
			t.Errorf("%s: %d rows, want %d (%v)", table, got[table], n, results)
		}
	}
	if n := fx.count(t, `SELECT count(*) FROM acs_transactions WHERE acs_trans_id = ANY($1)`, []uuid.UUID{pendingTx, recentTx}); n != 2 {
		t.Fatalf("%d of the transactions not due are left", n)
	}
	if n := fx.count(t, `SELECT count(*) FROM acs_challenges WHERE acs_trans_id = $1`, oldTx) +
		fx.count(t, `SELECT count(*) FROM acs_results WHERE acs_trans_id = $1`, oldTx); n != 0 {
		t.Fatalf("the old transaction's challenge or result is left")
	}
	if entries, err := wl.List(ctx, fx.card); err != nil || len(entries) != 1 {
		t.Fatalf("the trusted merchant added by the removed transaction: %v %v", entries, err)
	}
	if n := fx.count(t, `SELECT count(*) FROM registrations WHERE id = $1 AND anonymised_at IS NOT NULL AND device_key_enc IS NULL
		AND pin_verifier IS NULL AND offline_secret_enc IS NULL AND device_key_hash IS NULL AND close_reason = 'card blocked'`, oldReg); n != 1 {
		t.Fatal("the old registration is not anonymised (or lost its record)")
	}
	if n := fx.count(t, `SELECT count(*) FROM app_push_tokens WHERE registration_id = $1`, oldReg); n != 0 {
		t.Fatal("the anonymised registration's push token is left")
	}
	if n := fx.count(t, `SELECT count(*) FROM registrations WHERE id = $1 AND anonymised_at IS NULL AND device_key_enc IS NOT NULL`, recentReg); n != 1 {
		t.Fatal("the recent registration was anonymised")
	}
	if n := fx.count(t, `SELECT count(*) FROM registrations WHERE id = $1 AND state = 'abandoned' AND anonymised_at IS NOT NULL
		AND mobile_enc IS NULL AND answer_verifier IS NULL`, stale); n != 1 {
		t.Fatal("the registration never completed keeps its number and answer")
	}
	if n := fx.count(t, `SELECT count(*) FROM registrations WHERE id = $1 AND state = 'pending' AND mobile_enc IS NOT NULL`, fresh); n != 1 {
		t.Fatal("a registration under way was touched")
	}
	if n := fx.count(t, `SELECT count(*) FROM audit_log WHERE action = 'retention.run' AND details->>'acs_transactions' = '1'`); n != 1 {
		t.Fatal("the run is not on the record")
	}
	if n := fx.count(t, `SELECT count(*) FROM audit_log WHERE action = 'test.recent'`); n != 2 {
		t.Fatalf("%d recent audit entries left", n)
	}
	if n := fx.count(t, `SELECT count(*) FROM audit_log WHERE action = 'audit.prune' AND details->>'removed' = '3'`); n != 1 {
		t.Fatal("the prune is not on the record")
	}
	// The two entries kept, the prune's and the run's.
	if n, broken, err := recent.Verify(ctx, fx.HSM); err != nil || len(broken) != 0 || n != 4 {
		t.Fatalf("audit chain after retention: %d %v %v", n, broken, err)
	}

	// Idempotent: nothing more is due.
	results, err = svc.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Rows != 0 {
			t.Errorf("second run: %s %d rows", r.Table, r.Rows)
		}
	}
}

// The audit log stays append-only for everyone but retention, and retention itself cannot remove an
// entry younger than 12 months, whatever it is told (the database's own clock decides; PCI DSS 10.5.1).
func TestAuditRetentionCannotRemoveRecentEntries(t *testing.T) {
	st := testenv.NewStack(t)
	ctx := context.Background()
	log := audit.New(st.Pool, clockwork.NewRealClock()).Chained(st.HSM)
	if err := log.Record(ctx, st.Pool, audit.Entry{Actor: "system", Action: "test.recent"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool.Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("an audit entry was deleted outside retention")
	}
	// Told to remove everything, retention keeps what the database keeps; a DELETE in a retention
	// transaction itself is refused.
	if n, err := log.Prune(ctx, time.Now().Add(time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("retention removed %d entries younger than 12 months: %v", n, err)
	}
	tx, err := st.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tx.Exec(ctx, `SET LOCAL acs.audit_retention = 'on'`)
	if _, err := tx.Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("a recent audit entry was deleted in a retention transaction")
	}
	_ = tx.Rollback(ctx)
	if _, err := st.Pool.Exec(ctx, `UPDATE audit_chain_anchors SET hash = NULL`); err == nil {
		t.Fatal("an anchor was changed")
	}
	// A forged anchor (one that would make verify skip a cut) is refused: outside retention, naming no
	// entry, with another hash, or covering an entry younger than 12 months.
	var id int64
	var hash []byte
	_ = st.Pool.QueryRow(ctx, `SELECT id, hash FROM audit_log`).Scan(&id, &hash)
	for name, sql := range map[string]string{
		"outside retention": `INSERT INTO audit_chain_anchors (through_id, hash, removed, at) VALUES ($1, $2, 1, now())`,
		"no such entry":     `SET LOCAL acs.audit_retention = 'on'; INSERT INTO audit_chain_anchors (through_id, hash, removed, at) VALUES ($1 + 1000, NULL, 1, now())`,
		"another hash":      `SET LOCAL acs.audit_retention = 'on'; INSERT INTO audit_chain_anchors (through_id, hash, removed, at) VALUES ($1, '\x00', 1, now())`,
		"recent entry":      `SET LOCAL acs.audit_retention = 'on'; INSERT INTO audit_chain_anchors (through_id, hash, removed, at) VALUES ($1, $2, 1, now())`,
	} {
		tx, err := st.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stmts := strings.Split(sql, "; ")
		for i, s := range stmts {
			if i < len(stmts)-1 {
				_, err = tx.Exec(ctx, s)
				continue
			}
			if strings.Contains(s, "$2") {
				_, err = tx.Exec(ctx, s, id, hash)
			} else {
				_, err = tx.Exec(ctx, s, id)
			}
		}
		_ = tx.Rollback(ctx)
		if err == nil {
			t.Errorf("forged anchor (%s) accepted", name)
		}
	}
	var n int
	_ = st.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d entries left", n)
	}
}
