// Package retention owns how long the ACS keeps what it records, and `acs retention run`, which removes
// or anonymises what is due (issue 16): transactions with their challenges, results, app confirmations
// and SDK sessions; registrations that ended long ago, which keep their record but lose every secret,
// number and device key; the reads of issuer data (R-REG-9: shown for 13 months, so kept at least that
// long); the SMS ledger; the audit log (through audit.Log.Prune, which keeps the chain verifiable); and
// short-lived working rows (rate counters, staff sessions, step-ups, the development SMS inbox).
//
// A run is itself an audit entry (retention.run, with the counts). Every rule is one statement per batch, each its own short transaction, oldest rows first, skipping
// rows another transaction holds: a run is safe while the service runs, and running it again removes
// nothing more until more is due.
package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/audit"
)

// Config is how long each kind of record is kept, in months (configuration `retention`).
type Config struct {
	// TransactionsMonths keeps authentications, their challenges, results and evidence, the risk
	// history of browsers seen with a card, and ended registrations' secrets: 18 months by default,
	// the longest chargeback window of the schemes, in which the issuer must prove how a purchase was
	// authenticated.
	TransactionsMonths int `yaml:"transactions_months" validate:"min=13,max=120"`
	// AccessLogMonths keeps the reads of issuer data; the cardholder is shown 13 months (R-REG-9).
	AccessLogMonths int `yaml:"access_log_months" validate:"min=13,max=120"`
	// SMSMonths keeps the SMS ledger: 13 months by default, as support shows them; the monthly
	// statement (R-AUTH-9) has long been billed by then, and the billing system keeps the invoice.
	SMSMonths int `yaml:"sms_months" validate:"min=13,max=120"`
	// AuditMonths keeps the audit log: 72 months by default (six years, as § 257 HGB keeps business
	// correspondence); never less than 12 (PCI DSS 10.5.1), which the database enforces as well.
	AuditMonths int `yaml:"audit_months" validate:"min=12,max=240"`
	// BatchSize is how many rows one statement handles.
	BatchSize int `yaml:"batch_size" validate:"min=10,max=10000"`
}

// DefaultConfig is the retention of a configuration that says nothing.
var DefaultConfig = Config{TransactionsMonths: 18, AccessLogMonths: 13, SMSMonths: 13, AuditMonths: 72, BatchSize: 1000}

// Working rows live a fixed time: the longest rate-limit window is a day, staff sessions and step-ups
// last minutes to hours.
const workingRowsAge = 48 * time.Hour

// Result is what one rule did in a run.
type Result struct {
	Table  string `json:"table"`
	Action string `json:"action"` // removed or anonymised
	Before string `json:"before"` // rows older than this were due (RFC 3339)
	Rows   int    `json:"rows"`
	Error  string `json:"error,omitempty"`
}

// Service runs the rules.
type Service struct {
	pool  *pgxpool.Pool
	clock clockwork.Clock
	audit *audit.Log
	cfg   Config
}

// New returns a Service.
func New(pool *pgxpool.Pool, clock clockwork.Clock, log *audit.Log, cfg Config) *Service {
	return &Service{pool: pool, clock: clock, audit: log, cfg: cfg}
}

// rule is one kind of record: a statement that handles at most $2 rows older than $1 and returns how
// many it handled (constants of this file, never input).
type rule struct {
	table, action string
	before        func(now time.Time, c Config) time.Time
	sql           string
}

func months(f func(Config) int) func(time.Time, Config) time.Time {
	return func(now time.Time, c Config) time.Time { return now.AddDate(0, -f(c), 0) }
}

func working(now time.Time, _ Config) time.Time { return now.Add(-workingRowsAge) }

var rules = []rule{
	{"acs_transactions", "removed", months(func(c Config) int { return c.TransactionsMonths }), `
		WITH due AS (SELECT t.acs_trans_id FROM acs_transactions t WHERE t.created_at < $1
				AND NOT EXISTS (SELECT 1 FROM acs_results r WHERE r.acs_trans_id = t.acs_trans_id AND r.state = 'pending')
				ORDER BY t.created_at LIMIT $2 FOR UPDATE SKIP LOCKED),
			c AS (DELETE FROM acs_challenges WHERE acs_trans_id IN (SELECT acs_trans_id FROM due)),
			r AS (DELETE FROM acs_results WHERE acs_trans_id IN (SELECT acs_trans_id FROM due)),
			a AS (DELETE FROM app_confirmations WHERE acs_trans_id IN (SELECT acs_trans_id FROM due)),
			s AS (DELETE FROM acs_sdk_sessions WHERE acs_trans_id IN (SELECT acs_trans_id FROM due)),
			t AS (DELETE FROM acs_transactions WHERE acs_trans_id IN (SELECT acs_trans_id FROM due) RETURNING 1)
		SELECT count(*) FROM t`},
	// A registration begun and never finished (its letter long expired) holds a number and an answer
	// verifier as well: it is abandoned, dated to when it began, so that the next rule anonymises it.
	{"registrations in progress", "abandoned", months(func(c Config) int { return c.TransactionsMonths }), `
		WITH due AS (SELECT id FROM registrations WHERE state IN ('pending', 'confirming') AND created_at < $1
				ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED),
			g AS (UPDATE registrations SET state = 'abandoned', closed_at = created_at, close_reason = 'never completed (retention)'
				WHERE id IN (SELECT id FROM due) RETURNING 1)
		SELECT count(*) FROM g`},
	{"registrations", "anonymised", months(func(c Config) int { return c.TransactionsMonths }), `
		WITH due AS (SELECT id FROM registrations WHERE anonymised_at IS NULL AND state IN ('abandoned', 'replaced', 'ended')
				AND closed_at < $1 ORDER BY closed_at LIMIT $2 FOR UPDATE SKIP LOCKED),
			p AS (DELETE FROM app_push_tokens WHERE registration_id IN (SELECT id FROM due)),
			g AS (UPDATE registrations SET anonymised_at = now(), mobile_enc = NULL, mobile_hash = NULL, mobile_masked = NULL,
				answer_verifier = NULL, confirm_verifier = NULL, device_key_enc = NULL, device_key_hash = NULL,
				device_os_version = NULL, pin_verifier = NULL, offline_secret_enc = NULL
				WHERE id IN (SELECT id FROM due) RETURNING 1)
		SELECT count(*) FROM g`},
	{"acs_card_browsers", "removed", months(func(c Config) int { return c.TransactionsMonths }), `
		WITH due AS (SELECT card_id, kind, digest FROM acs_card_browsers WHERE last_seen < $1 ORDER BY last_seen LIMIT $2
				FOR UPDATE SKIP LOCKED),
			d AS (DELETE FROM acs_card_browsers b USING due WHERE (b.card_id, b.kind, b.digest) = (due.card_id, due.kind, due.digest)
				RETURNING 1)
		SELECT count(*) FROM d`},
	{"issuer_data_access", "removed", months(func(c Config) int { return max(c.AccessLogMonths, audit.AccessWindowMonths) }), `
		WITH d AS (DELETE FROM issuer_data_access WHERE id IN (SELECT id FROM issuer_data_access WHERE accessed_at < $1
				ORDER BY accessed_at LIMIT $2) RETURNING 1)
		SELECT count(*) FROM d`},
	{"sms_outbox", "removed", months(func(c Config) int { return c.SMSMonths }), `
		WITH d AS (DELETE FROM sms_outbox WHERE id IN (SELECT id FROM sms_outbox WHERE created_at < $1 AND state <> 'pending'
				ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1)
		SELECT count(*) FROM d`},
	{"rate_counters", "removed", working, `
		WITH d AS (DELETE FROM rate_counters WHERE (rule, subject, window_start) IN (SELECT rule, subject, window_start
				FROM rate_counters WHERE window_start < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1)
		SELECT count(*) FROM d`},
	{"staff_sessions", "removed", working, `
		WITH d AS (DELETE FROM staff_sessions WHERE token_hash IN (SELECT token_hash FROM staff_sessions WHERE expires_at < $1
				LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1)
		SELECT count(*) FROM d`},
	{"step_ups", "removed", working, `
		WITH d AS (DELETE FROM step_ups WHERE id IN (SELECT id FROM step_ups WHERE created_at < $1 LIMIT $2
				FOR UPDATE SKIP LOCKED) RETURNING 1)
		SELECT count(*) FROM d`},
	{"dev_sms_inbox", "removed", working, `
		WITH d AS (DELETE FROM dev_sms_inbox WHERE id IN (SELECT id FROM dev_sms_inbox WHERE sent_at < $1 LIMIT $2) RETURNING 1)
		SELECT count(*) FROM d`},
}

// maxBatches bounds one rule's batches in a run, so that a run ends even if rows keep falling due.
const maxBatches = 100000

// Run applies every rule, batch after batch until nothing more is due, then prunes the audit log, and
// records the run with its counts in the audit log. A rule that fails does not stop the others: the
// result names it (Error), and Run returns the failures joined.
func (s *Service) Run(ctx context.Context) ([]Result, error) {
	now := s.clock.Now()
	var out []Result
	var errs []error
	batches := func(res *Result, one func() (int, error)) {
		for i := 0; i < maxBatches; i++ {
			n, err := one()
			if err != nil {
				res.Error = err.Error()
				errs = append(errs, fmt.Errorf("retention: %s: %w", res.Table, err))
				return
			}
			res.Rows += n
			if n < s.cfg.BatchSize {
				return
			}
		}
	}
	for _, r := range rules {
		before := r.before(now, s.cfg)
		res := Result{Table: r.table, Action: r.action, Before: before.UTC().Format(time.RFC3339)}
		batches(&res, func() (n int, err error) {
			err = s.pool.QueryRow(ctx, r.sql, before, s.cfg.BatchSize).Scan(&n)
			return n, err
		})
		out = append(out, res)
	}
	before := now.AddDate(0, -s.cfg.AuditMonths, 0)
	res := Result{Table: "audit_log", Action: "removed", Before: before.UTC().Format(time.RFC3339)}
	batches(&res, func() (int, error) { return s.audit.Prune(ctx, before, s.cfg.BatchSize) })
	out = append(out, res)
	details := map[string]string{}
	for _, r := range out {
		details[strings.ReplaceAll(r.Table, " ", "_")] = fmt.Sprint(r.Rows)
	}
	if err := s.audit.Record(ctx, s.pool, audit.Entry{Actor: "system", Action: "retention.run", Details: details}); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}
