package acs

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// The lifecycle of a challenged transaction (README "Lifecycle"), whichever the channel (browser, app
// SDK, decoupled): the transaction (acs_transactions, trans_status C or D) is open until final_status is
// set, by finishTx only, in the same database transaction that ends its challenge and its app
// confirmation and queues its RReq. The challenge (acs_challenges), the app's confirmation
// (app_confirmations) and the RReq's delivery (acs_results) each start pending and move to one end
// state. Every move is a transition below: one UPDATE guarded by the pending state, whose row count
// decides, so that of two racing ends exactly one takes effect, and a transition to a state that is
// not an end is refused before any SQL runs. No other code writes these state columns.

// ChallengeState is the state of a challenge (acs_challenges.state): pending, then one end.
type ChallengeState string

const (
	ChallengePending   ChallengeState = "pending"
	ChallengeSucceeded ChallengeState = "succeeded"
	ChallengeFailed    ChallengeState = "failed"    // wrong entries used up, declined, refused, locked
	ChallengeCancelled ChallengeState = "cancelled" // the cardholder (or the SDK) cancelled
	ChallengeTimedOut  ChallengeState = "timed_out" // no CReq in 30 s, no end in 10 minutes, no decoupled answer
)

// ConfirmationState is the state of the app's confirmation (app_confirmations.state).
type ConfirmationState string

const (
	ConfirmationPending  ConfirmationState = "pending"
	ConfirmationApproved ConfirmationState = "approved"
	ConfirmationDeclined ConfirmationState = "declined"
	ConfirmationFailed   ConfirmationState = "failed"  // identification failed, app locked
	ConfirmationExpired  ConfirmationState = "expired" // the challenge ended otherwise first
)

// confirmationEnd is the confirmation's end state for a result of the app's answer.
func confirmationEnd(r Result) ConfirmationState {
	switch {
	case r.Status == "Y":
		return ConfirmationApproved
	case r.Why == ReasonDeclined:
		return ConfirmationDeclined
	}
	return ConfirmationFailed
}

// DeliveryState is the state of an RReq's delivery (acs_results.state).
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"   // to be sent (again)
	DeliveryDelivered DeliveryState = "delivered" // the DS acknowledged it with an RRes
	DeliveryTimedOut  DeliveryState = "timed_out" // sent, no RRes in time: the DS may have it, not sent again
	DeliveryAbandoned DeliveryState = "abandoned" // refused, answered invalidly, out of attempts, or never to be sent
)

// The end states each lifecycle may move to from pending.
var (
	challengeEnds    = map[ChallengeState]bool{ChallengeSucceeded: true, ChallengeFailed: true, ChallengeCancelled: true, ChallengeTimedOut: true}
	confirmationEnds = map[ConfirmationState]bool{ConfirmationApproved: true, ConfirmationDeclined: true, ConfirmationFailed: true, ConfirmationExpired: true}
	deliveryEnds     = map[DeliveryState]bool{DeliveryDelivered: true, DeliveryTimedOut: true, DeliveryAbandoned: true}
)

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// endChallengeSQL is the guarded statement that ends a pending challenge (challengeEndArgs); the mTAN's
// verifier goes with the challenge's end.
const endChallengeSQL = `UPDATE acs_challenges SET state = $2, completed_at = $3, otp_verifier = NULL
	WHERE acs_trans_id = $1 AND state = '` + string(ChallengePending) + `'`

// challengeEndArgs are endChallengeSQL's arguments, refused for a state that is not an end.
func challengeEndArgs(id uuid.UUID, to ChallengeState, now time.Time) ([]any, error) {
	if !challengeEnds[to] {
		return nil, fmt.Errorf("acs: no challenge transition from %s to %s", ChallengePending, to)
	}
	return []any{id, string(to), now}, nil
}

// endChallenge moves the transaction's challenge from pending to its end; false: it was not pending.
func endChallenge(ctx context.Context, q execer, id uuid.UUID, to ChallengeState, now time.Time) (bool, error) {
	args, err := challengeEndArgs(id, to, now)
	if err != nil {
		return false, err
	}
	tag, err := q.Exec(ctx, endChallengeSQL, args...)
	return err == nil && tag.RowsAffected() == 1, err
}

// endConfirmationSQL is the guarded statement that ends a pending app confirmation
// (confirmationEndArgs).
const endConfirmationSQL = `UPDATE app_confirmations SET state = $2, verification = nullif($3, ''), answered_at = $4,
		signed_data = $5, signature = $6, device_key_sha256 = $7
	WHERE acs_trans_id = $1 AND state = '` + string(ConfirmationPending) + `'`

// confirmationEndArgs are endConfirmationSQL's arguments: the end state, how the app verified the
// cardholder and the signed answer (nil: none); a state that is not an end is refused.
func confirmationEndArgs(id uuid.UUID, to ConfirmationState, how Verification, ev *signedAnswer, now time.Time) ([]any, error) {
	if !confirmationEnds[to] {
		return nil, fmt.Errorf("acs: no confirmation transition from %s to %s", ConfirmationPending, to)
	}
	if ev == nil {
		ev = &signedAnswer{}
	}
	return []any{id, string(to), string(how), now, ev.data, ev.signature, ev.keySHA256}, nil
}

// confirmationAnswer is how the app's answer ends its confirmation (endRow.answer): the end state, how
// the app verified the cardholder and the signed answer (nil: none).
type confirmationAnswer struct {
	to  ConfirmationState
	how Verification
	ev  *signedAnswer
}

// endDeliverySQL is the guarded statement that ends a pending delivery: $2 the end state, $3 the error
// (empty: none), $4 when it was delivered (NULL unless delivered).
const endDeliverySQL = `UPDATE acs_results SET state = $2, last_error = nullif($3, ''), delivered_at = $4
	WHERE acs_trans_id = $1 AND state = '` + string(DeliveryPending) + `'`

// deliveredSQL ends pending deliveries as delivered, many at once (Results.acks): $1 their
// transactions, $2 when each was acknowledged. PostgreSQL joins the list to the primary key where many
// deliveries are pending (a DS away), and to the index of pending ones where few are (EXPLAIN on 50,000
// rows, 5 % and 1 % pending); an = ANY list was looked up through the index of pending ones in both.
const deliveredSQL = `UPDATE acs_results r SET state = '` + string(DeliveryDelivered) + `', last_error = NULL, delivered_at = u.at
	FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at)
	WHERE r.acs_trans_id = u.id AND r.state = '` + string(DeliveryPending) + `'`

// deliveryEndArgs are endDeliverySQL's arguments, refused for a state that is not an end.
func deliveryEndArgs(id uuid.UUID, to DeliveryState, lastErr string, now time.Time) ([]any, error) {
	if !deliveryEnds[to] {
		return nil, fmt.Errorf("acs: no delivery transition from %s to %s", DeliveryPending, to)
	}
	var at *time.Time
	if to == DeliveryDelivered {
		at = &now
	}
	return []any{id, string(to), lastErr, at}, nil
}
