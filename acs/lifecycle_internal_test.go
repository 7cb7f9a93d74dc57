package acs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// fakeExec records the statements a transition runs and answers with a row count.
type fakeExec struct {
	rows  int
	stmts []string
	args  [][]any
}

func (f *fakeExec) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	f.stmts, f.args = append(f.stmts, sql), append(f.args, args)
	if f.rows == 1 {
		return pgconn.NewCommandTag("UPDATE 1"), nil
	}
	return pgconn.NewCommandTag("UPDATE 0"), nil
}

// Issue 14: every move of a challenge, an app confirmation or an RReq delivery is a transition from
// pending to an end state: one UPDATE guarded by the pending state, whose row count decides (the race
// itself is TestConcurrentCompletionOneOutcome on PostgreSQL); a move to a state that is not an end is
// refused before any SQL runs.
func TestTransitionsAreGuarded(t *testing.T) {
	ctx, id, now := context.Background(), uuid.New(), time.Now()
	for to := range challengeEnds {
		for _, rows := range []int{0, 1} {
			f := &fakeExec{rows: rows}
			ended, err := endChallenge(ctx, f, id, to, now)
			if err != nil || ended != (rows == 1) || len(f.stmts) != 1 || !strings.Contains(f.stmts[0], "AND state = 'pending'") ||
				f.args[0][1] != string(to) {
				t.Fatalf("challenge to %s, %d rows: %v %v %v", to, rows, ended, err, f.stmts)
			}
		}
	}
	for to := range confirmationEnds {
		args, err := confirmationEndArgs(id, to, VerifiedPIN, nil, now)
		if err != nil || args[1] != string(to) || args[2] != string(VerifiedPIN) {
			t.Fatalf("confirmation to %s: %v %v", to, args, err)
		}
	}
	for to := range deliveryEnds {
		args, err := deliveryEndArgs(id, to, "", now)
		if err != nil || args[1] != string(to) || (args[3] != (*time.Time)(nil)) != (to == DeliveryDelivered) {
			t.Fatalf("delivery to %s: %v %v", to, args, err)
		}
	}
	for _, sql := range []string{endDeliverySQL, deliveredSQL, endChallengeSQL, endConfirmationSQL} {
		// The batched end of a challenge (end, ending.go) queues these same statements.
		if !strings.Contains(sql, "state = 'pending'") {
			t.Fatalf("end unguarded: %s", sql)
		}
	}
	f := &fakeExec{rows: 1}
	if _, err := endChallenge(ctx, f, id, ChallengePending, now); err == nil || len(f.stmts) != 0 {
		t.Fatal("challenge pending to pending was run")
	}
	if _, err := confirmationEndArgs(id, ConfirmationPending, "", nil, now); err == nil {
		t.Fatal("confirmation pending to pending accepted")
	}
	if _, err := deliveryEndArgs(id, DeliveryPending, "", now); err == nil {
		t.Fatal("delivery pending to pending accepted")
	}
}
