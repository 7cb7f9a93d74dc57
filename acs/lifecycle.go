package acs

// The lifecycle of a challenged transaction (README "Lifecycle"): the transaction (acs_transactions,
// trans_status C or D) is open until final_status is set, by finishTx only, in the same database
// transaction that queues its RReq; its challenge (acs_challenges) and the app's confirmation
// (app_confirmations) move from pending to one end state, each by one UPDATE guarded by
// "state = 'pending'" whose row count decides, so that of two racing ends exactly one takes effect.

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
