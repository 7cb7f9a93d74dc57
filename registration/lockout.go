package registration

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/store"
)

// MaxConsecutiveFailures wrong entries in a row lock a registration's method (PSD2 RTS Art. 4(3)(b):
// at most five). They are counted per registration, that is per card and method, across every
// challenge, step-up and app answer: a fraudster cannot get five more tries by starting another
// purchase.
const MaxConsecutiveFailures = 5

// ErrMethodLocked refuses any use of a locked method; support can lift the lock after checking who
// calls (Unlock).
var ErrMethodLocked = apperr.New(apperr.Locked,
	"this confirmation method is locked after 5 wrong entries in a row; please call us to unlock it")

// FailTx counts one failed use of registration regID's method (a wrong mTAN or security answer, offline
// password or app PIN) inside the caller's transaction, which must commit even when the attempt's own
// answer is an error. It returns how many tries are left before the lock; 0 means the method is locked
// now.
func (r *Registrar) FailTx(ctx context.Context, tx pgx.Tx, regID uuid.UUID) (left int, err error) {
	var n int
	err = tx.QueryRow(ctx, `UPDATE registrations SET auth_failures = auth_failures + 1,
			locked_at = CASE WHEN auth_failures + 1 >= $2 THEN coalesce(locked_at, $3) ELSE locked_at END
		WHERE id = $1 RETURNING auth_failures`, regID, MaxConsecutiveFailures, r.d.Clock.Now()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("registration: count failure: %w", err)
	}
	if n >= MaxConsecutiveFailures {
		r.d.Log.WarnContext(ctx, "method locked after consecutive failures", "registration_id", regID, "failures", n)
		return 0, nil
	}
	return MaxConsecutiveFailures - n, nil
}

// SucceedTx resets the count after a successful use of the method.
func (r *Registrar) SucceedTx(ctx context.Context, tx pgx.Tx, regID uuid.UUID) error {
	_, err := tx.Exec(ctx, SucceedSQL, regID)
	return err
}

// SucceedSQL is SucceedTx's statement ($1 the registration), for a caller that sends it in a batch with
// the rest of a challenge's end.
const SucceedSQL = `UPDATE registrations SET auth_failures = 0 WHERE id = $1 AND locked_at IS NULL AND auth_failures > 0`

// TriesLeft reports how many wrong entries the method of regID has left before it locks (0: locked).
func (r *Registrar) TriesLeft(ctx context.Context, q Querier, regID uuid.UUID) (int, error) {
	var n int
	var locked bool
	err := q.QueryRow(ctx, `SELECT auth_failures, locked_at IS NOT NULL FROM registrations WHERE id = $1`, regID).Scan(&n, &locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, apperr.New(apperr.NotFound, "no such registration")
	}
	if err != nil {
		return 0, err
	}
	return TriesLeftOf(n, locked), nil
}

// TriesLeftOf is TriesLeft for a registration's auth_failures and lock as a caller read them with other
// data in one statement.
func TriesLeftOf(failures int, locked bool) int {
	if locked {
		return 0
	}
	return max(MaxConsecutiveFailures-failures, 0)
}

// Unlock lifts the lock (and the count) of the card's active registration; support does it after
// checking the caller, and it is audited with who did it.
func (r *Registrar) Unlock(ctx context.Context, cardID uuid.UUID, actor string) error {
	return store.WithTx(ctx, r.d.Pool, func(tx pgx.Tx) error {
		var regID uuid.UUID
		err := tx.QueryRow(ctx, `UPDATE registrations SET auth_failures = 0, locked_at = NULL
			WHERE card_id = $1 AND state = 'active' AND (locked_at IS NOT NULL OR auth_failures > 0) RETURNING id`, cardID).Scan(&regID)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.NotFound, "the card's confirmation method is not locked")
		}
		if err != nil {
			return err
		}
		card, err := r.d.Cards.GetVia(ctx, tx, cardID)
		if err != nil {
			return err
		}
		return r.d.Audit.Record(ctx, tx, audit.Entry{Actor: actor, Action: "registration.unlock", CardID: &cardID,
			CardMasked: card.Masked(), Details: map[string]string{"registration_id": regID.String()}})
	})
}
