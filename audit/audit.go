// Package audit owns the two records the bank must be able to show: the append-only audit log of staff
// and security-relevant actions (R-SUP-3: who, what, when, which card by masked number), and the log of
// reads of the issuer's card data during registration (R-REG-9), counted for the cardholder over the
// last 13 months. It is apart from the debug log: what it keeps is evidence, and it never holds a full
// card number or a secret.
package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
)

// Execer is a pool or a transaction: an audit entry commits with the action it records.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Hasher computes the HSM-keyed hash that chains the entries (hsm.HSM.Index).
type Hasher interface {
	Index(domain string, data []byte) ([]byte, error)
}

// Entry is one audited action.
type Entry struct {
	At         time.Time         `json:"at"`
	Actor      string            `json:"actor"`  // "staff:mia", "cardholder", "system"
	Action     string            `json:"action"` // "letter.request", "card.block", ...
	CardID     *uuid.UUID        `json:"card_id,omitempty"`
	CardMasked string            `json:"card,omitempty"` // 400011******0017; never the full number
	Details    map[string]string `json:"details,omitempty"`
}

var maskedRE = regexp.MustCompile(`^[0-9]{6}[*]{3,9}[0-9]{4}$`)

// Log writes audit entries and access records.
type Log struct {
	pool  *pgxpool.Pool
	clock clockwork.Clock
	chain Hasher
}

// New returns a Log whose entries are not chained (tests of other things).
func New(pool *pgxpool.Pool, clock clockwork.Clock) *Log { return &Log{pool: pool, clock: clock} }

// Chained returns the log with every new entry chained to the one before by h's keyed hash (Verify).
func (l *Log) Chained(h Hasher) *Log {
	c := *l
	c.chain = h
	return &c
}

// chainLock serialises chained writers, so that each entry's predecessor is the entry before it in id
// order (audit writes are rare: registrations, staff actions, not purchases).
const chainLock = 0x617564697463686e // "auditchn"

// digest is an entry's chain hash: its content and the hash before it, keyed in the HSM.
func (l *Log) digest(h Hasher, prev []byte, id int64, at time.Time, actor, action string, cardID *uuid.UUID, masked *string,
	details []byte) ([]byte, error) {
	card, m := "", ""
	if cardID != nil {
		card = cardID.String()
	}
	if masked != nil {
		m = *masked
	}
	data, _ := json.Marshal([]any{fmt.Sprintf("%x", prev), id, at.UTC().Format(time.RFC3339Nano), actor, action, card, m, string(details)})
	return h.Index("audit_chain", data)
}

// Record appends an entry through q (the caller's transaction, so the entry and the action commit or
// roll back together). A masked number that is not masked is refused rather than stored.
func (l *Log) Record(ctx context.Context, q Execer, e Entry) error {
	if e.CardMasked != "" && !maskedRE.MatchString(e.CardMasked) {
		return fmt.Errorf("audit: card number is not masked")
	}
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("audit: details: %w", err)
	}
	var masked *string
	if e.CardMasked != "" {
		masked = &e.CardMasked
	}
	// The details as PostgreSQL keeps them (jsonb normalises), so that Verify hashes what it reads.
	var canon []byte
	if err := q.QueryRow(ctx, `SELECT $1::text::jsonb::text`, string(details)).Scan(&canon); err != nil {
		return fmt.Errorf("audit: details: %w", err)
	}
	at := l.clock.Now().UTC().Truncate(time.Microsecond) // timestamptz keeps microseconds
	if l.chain == nil {
		if _, err := q.Exec(ctx, `INSERT INTO audit_log (at, actor, action, card_id, card_masked, details)
			VALUES ($1, $2, $3, $4, $5, $6)`, at, e.Actor, e.Action, e.CardID, masked, canon); err != nil {
			return fmt.Errorf("audit: record %s: %w", e.Action, err)
		}
		return nil
	}
	var id int64
	var prev []byte
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(chainLock)); err != nil {
		return fmt.Errorf("audit: lock chain: %w", err)
	}
	// The chain continues from the newest entry, or, when retention removed them all, from the anchor.
	if err := q.QueryRow(ctx, `SELECT nextval('audit_log_id_seq'),
		coalesce((SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1),
			(SELECT hash FROM audit_chain_anchors ORDER BY through_id DESC LIMIT 1))`).Scan(&id, &prev); err != nil {
		return fmt.Errorf("audit: chain head: %w", err)
	}
	h, err := l.digest(l.chain, prev, id, at, e.Actor, e.Action, e.CardID, masked, canon)
	if err != nil {
		return fmt.Errorf("audit: chain hash: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO audit_log (id, at, actor, action, card_id, card_masked, details, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, at, e.Actor, e.Action, e.CardID, masked, canon, prev, h); err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

// Broken is where Verify found the chain broken.
type Broken struct {
	ID     int64
	Reason string
}

// Verify walks the chained entries in order and recomputes each hash: an entry changed (its hash does
// not match its content), removed or moved (its prev_hash is not the hash of the entry before it), or
// an unchained entry after the chain began, is reported. It returns how many entries it checked.
func (l *Log) Verify(ctx context.Context, h Hasher) (int, []Broken, error) {
	// One snapshot for the anchor and the entries, so that a prune running meanwhile is seen whole or not.
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, nil, fmt.Errorf("audit: verify: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// After retention removed the oldest entries, the chain continues from the hash of the last one
	// removed (audit_chain_anchors): the first entry kept must name it.
	last, started, err := anchor(ctx, tx)
	if err != nil {
		return 0, nil, err
	}
	rows, err := tx.Query(ctx, `SELECT id, at, actor, action, card_id, card_masked, details::text, prev_hash, hash
		FROM audit_log ORDER BY id`)
	if err != nil {
		return 0, nil, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	var broken []Broken
	n := 0
	for rows.Next() {
		var id int64
		var at time.Time
		var actor, action string
		var cardID *uuid.UUID
		var masked *string
		var details string
		var prev, hash []byte
		if err := rows.Scan(&id, &at, &actor, &action, &cardID, &masked, &details, &prev, &hash); err != nil {
			return n, broken, err
		}
		if hash == nil {
			if started {
				broken = append(broken, Broken{id, "not chained, after the chain began"})
			}
			continue
		}
		n++
		if started && !bytes.Equal(prev, last) {
			broken = append(broken, Broken{id, "does not follow the entry before it (one removed or moved)"})
		}
		want, err := l.digest(h, prev, id, at, actor, action, cardID, masked, []byte(details))
		if err != nil {
			return n, broken, err
		}
		if !hmac.Equal(want, hash) {
			broken = append(broken, Broken{id, "content changed"})
		}
		started, last = true, hash
	}
	return n, broken, rows.Err()
}

// anchor is where the chain continues after the entries retention removed: the hash of the last removed
// entry; started is false when nothing chained was removed.
func anchor(ctx context.Context, q Execer) (hash []byte, started bool, err error) {
	err = q.QueryRow(ctx, `SELECT hash FROM audit_chain_anchors ORDER BY through_id DESC LIMIT 1`).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("audit: chain anchor: %w", err)
	}
	return hash, hash != nil, nil
}

// Prune removes up to batch of the oldest entries written before cutoff (retention, issue 16) and
// records the hash of the last one removed, so that Verify still checks the chain from the first entry
// kept. Only a prefix is removed: an entry before cutoff that follows a newer one waits for it. The
// database refuses entries younger than 12 months whatever cutoff says (migration 00036).
func (l *Log) Prune(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	var removed int
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(chainLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL acs.audit_retention = 'on'`); err != nil {
			return err
		}
		var through *int64
		var hash []byte
		// The prefix ends at the first entry that is not due: by the configured cutoff, or because the
		// database keeps it (written less than 12 months ago by its clock; migration 00038), so that a
		// clock ahead of the database's, or a leap day, does not make the batch fail on the guard.
		err := tx.QueryRow(ctx, `WITH due AS (SELECT id, hash FROM audit_log
				WHERE id < coalesce((SELECT min(id) FROM audit_log WHERE at >= $1 OR at >= now() - interval '12 months'
					OR recorded_at >= now() - interval '12 months'), 9223372036854775807)
				ORDER BY id LIMIT $2)
			SELECT (SELECT max(id) FROM due), (SELECT hash FROM due ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM due)`,
			cutoff, batch).Scan(&through, &hash, &removed)
		if err != nil || through == nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_chain_anchors (through_id, hash, removed, at) VALUES ($1, $2, $3, $4)`,
			*through, hash, removed, l.clock.Now()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM audit_log WHERE id <= $1`, *through); err != nil {
			return err
		}
		// The removal is itself on the record, chained after the entries kept.
		return l.Record(ctx, tx, Entry{Actor: "system", Action: "audit.prune", Details: map[string]string{
			"through_id": fmt.Sprint(*through), "removed": fmt.Sprint(removed), "cutoff": cutoff.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return 0, fmt.Errorf("audit: prune: %w", err)
	}
	return removed, nil
}

// ForCard lists a card's audit entries, oldest first.
func (l *Log) ForCard(ctx context.Context, cardID uuid.UUID) ([]Entry, error) {
	rows, err := l.pool.Query(ctx, `SELECT at, actor, action, card_id, coalesce(card_masked, ''), details FROM audit_log
		WHERE card_id = $1 ORDER BY at, id`, cardID)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var details []byte
		if err := rows.Scan(&e.At, &e.Actor, &e.Action, &e.CardID, &e.CardMasked, &details); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// IssuerDataRead records one read of the issuer's data of a card (R-REG-9).
func (l *Log) IssuerDataRead(ctx context.Context, q Execer, cardID uuid.UUID, purpose string) error {
	if _, err := q.Exec(ctx, `INSERT INTO issuer_data_access (card_id, purpose, accessed_at) VALUES ($1, $2, $3)`,
		cardID, purpose, l.clock.Now()); err != nil {
		return fmt.Errorf("audit: record issuer data read: %w", err)
	}
	return nil
}

// AccessWindowMonths is how far back the cardholder is shown reads of the issuer's data (R-REG-9).
const AccessWindowMonths = 13

// IssuerDataReads counts the reads of a card's issuer data in the last 13 months.
func (l *Log) IssuerDataReads(ctx context.Context, cardID uuid.UUID) (int, error) {
	n, _, err := l.IssuerDataReadsSince(ctx, cardID)
	return n, err
}

// IssuerDataReadsSince is IssuerDataReads with the start of the window it counted.
func (l *Log) IssuerDataReadsSince(ctx context.Context, cardID uuid.UUID) (n int, since time.Time, err error) {
	since = l.clock.Now().AddDate(0, -AccessWindowMonths, 0)
	if err := l.pool.QueryRow(ctx, `SELECT count(*) FROM issuer_data_access WHERE card_id = $1 AND accessed_at > $2`,
		cardID, since).Scan(&n); err != nil {
		return 0, since, fmt.Errorf("audit: count issuer data reads: %w", err)
	}
	return n, since, nil
}
