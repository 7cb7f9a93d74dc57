package acs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/apperr"
	"example.com/acs/cards"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

const (
	// CReqTimeout is how long after an ARes C the ACS waits for the browser's first CReq (EMV 3DS
	// 2.2.0, 5.5: 30 seconds); then the transaction ends with RReq N, reason 14, challengeCancel 05.
	CReqTimeout = 30 * time.Second
	// ChallengeTimeout ends a challenge nobody finished, counted from the first CReq (challengeCancel 04).
	ChallengeTimeout = 10 * time.Minute
)

// EMV values for the end of a challenge (EMV 3DS 2.2.0, Table A.1).
const (
	statusReasonAuthFailed = "01" // card authentication failed
	statusReasonTimedOut   = "14" // transaction timed out
	cancelByCardholder     = "01" // cardholder selected cancel
	cancelTimedOut         = "04" // timed out at the ACS, other timeouts
	cancelNoCReq           = "05" // timed out at the ACS, first CReq not received
)

// Reasons recorded with the end of a challenge.
const (
	ReasonChallengeSucceeded = "challenge_succeeded"
	ReasonChallengeFailed    = "challenge_failed"
	ReasonCancelled          = "cancelled_by_cardholder"
	ReasonNoCReq             = "timeout_no_creq"
	ReasonChallengeTimeout   = "timeout_challenge"
)

// Result is how a challenge ended.
type Result struct {
	Status         string // Y or N
	Reason         string // transStatusReason for N
	Cancel         string // challengeCancel, when the challenge did not run to a decision
	ChallengeState string // the acs_challenges state to set if the challenge is still pending
	Why            string // reason name stored with the transaction
}

var (
	resultSucceeded = Result{Status: "Y", ChallengeState: "succeeded", Why: ReasonChallengeSucceeded}
	resultFailed    = Result{Status: "N", Reason: statusReasonAuthFailed, ChallengeState: "failed", Why: ReasonChallengeFailed}
	resultCancelled = Result{Status: "N", Reason: statusReasonAuthFailed, Cancel: cancelByCardholder, ChallengeState: "cancelled", Why: ReasonCancelled}
	resultNoCReq    = Result{Status: "N", Reason: statusReasonTimedOut, Cancel: cancelNoCReq, ChallengeState: "timed_out", Why: ReasonNoCReq}
	resultTimedOut  = Result{Status: "N", Reason: statusReasonTimedOut, Cancel: cancelTimedOut, ChallengeState: "timed_out", Why: ReasonChallengeTimeout}
)

// Final is the stored end of a challenged transaction: what the final CRes says and where it goes.
type Final struct {
	ACSTransID           uuid.UUID
	ThreeDSServerTransID string
	MessageVersion       string
	NotificationURL      string
	TransStatus          string
	TransStatusReason    string
	ChallengeCancel      string
	// Why is the reason name the end was recorded with (challenge_succeeded, identification_failed, ...).
	Why string
}

// CRes is the final challenge response the browser carries to the 3DS Server's notificationURL.
type CRes struct {
	ThreeDSServerTransID   string `json:"threeDSServerTransID"`
	ACSTransID             string `json:"acsTransID"`
	MessageType            string `json:"messageType"`
	MessageVersion         string `json:"messageVersion"`
	ChallengeCompletionInd string `json:"challengeCompletionInd"`
	TransStatus            string `json:"transStatus"`
}

// CRes returns the final CRes of f.
func (f *Final) CRes() CRes {
	return CRes{ThreeDSServerTransID: f.ThreeDSServerTransID, ACSTransID: f.ACSTransID.String(), MessageType: "CRes",
		MessageVersion: f.MessageVersion, ChallengeCompletionInd: "Y", TransStatus: f.TransStatus}
}

// RReq carries a challenge's result to the 3DS Server (through the Directory Server in production).
type RReq struct {
	ThreeDSServerTransID string `json:"threeDSServerTransID"`
	ACSTransID           string `json:"acsTransID"`
	DSTransID            string `json:"dsTransID"`
	MessageType          string `json:"messageType"`
	MessageVersion       string `json:"messageVersion"`
	MessageCategory      string `json:"messageCategory"`
	TransStatus          string `json:"transStatus"`
	TransStatusReason    string `json:"transStatusReason,omitempty"`
	ChallengeCancel      string `json:"challengeCancel,omitempty"`
	ECI                  string `json:"eci,omitempty"`
	AuthenticationValue  string `json:"authenticationValue,omitempty"`
	AuthenticationType   string `json:"authenticationType,omitempty"`
	InteractionCounter   string `json:"interactionCounter"`
	// The merchant's place on the card's whitelist after the challenge (2.2 and 2.3 names).
	WhiteListStatus       string `json:"whiteListStatus,omitempty"`
	WhiteListStatusSource string `json:"whiteListStatusSource,omitempty"`
	TrustListStatus       string `json:"trustListStatus,omitempty"`
	TrustListStatusSource string `json:"trustListStatusSource,omitempty"`
}

// RRes is the 3DS Server's acknowledgement of an RReq.
type RRes struct {
	ThreeDSServerTransID string `json:"threeDSServerTransID"`
	ACSTransID           string `json:"acsTransID"`
	MessageType          string `json:"messageType"`
	MessageVersion       string `json:"messageVersion"`
	ResultsStatus        string `json:"resultsStatus"`
}

// ResultDeps are what ending transactions and delivering their results need.
type ResultDeps struct {
	Pool  *pgxpool.Pool
	Cards *cards.Directory
	MAC   MACer
	Clock clockwork.Clock
	Log   *slog.Logger
	// DSURL receives RReqs of transactions whose AReq named no threeDSServerURL.
	DSURL string
	// Client sends RReqs; it must not follow redirects.
	Client *http.Client
	// MaxAttempts before an RReq is given up; Backoff is the first wait, doubling after each failure.
	MaxAttempts int
	Backoff     time.Duration
	// Whitelist receives merchants the cardholder trusted in a successful challenge; nil: none.
	Whitelist *whitelist.List
	// Metrics counts challenge results; nil: not counted.
	Metrics *Metrics
}

// Results ends challenged transactions exactly once, queues their RReq in the same database
// transaction, delivers queued RReqs until the 3DS Server acknowledges them, and times out challenges
// that were never started or never finished.
type Results struct{ d ResultDeps }

// NewResults returns Results; a nil Client gets one with a 10-second timeout that follows no redirect.
func NewResults(d ResultDeps) *Results {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 10
	}
	if d.Backoff <= 0 {
		d.Backoff = 2 * time.Second
	}
	return &Results{d: d}
}

// finishTx ends the challenged transaction id with r unless it has ended already; either way it returns
// the transaction's final state. It is the one place a challenge's result is decided: the guarded row
// lock makes concurrent completions agree on the first.
func (rs *Results) finishTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, r Result) (*Final, error) {
	f := &Final{ACSTransID: id}
	var (
		final, finalReason, cancel           *string
		cardID                               uuid.UUID
		dsTransID, currency, bin, merchantID string
		merchantName                         string
		serverURL                            *string
		minor                                int64
		failures                             int
		trust                                bool
	)
	err := tx.QueryRow(ctx, `SELECT t.three_ds_server_trans_id::text, t.ds_trans_id::text, t.message_version, t.notification_url,
			t.three_ds_server_url, t.card_id, t.minor_units, t.currency, t.acquirer_bin, t.acquirer_merchant_id,
			t.final_status, t.final_reason, t.challenge_cancel, coalesce(c.failures, 0), t.merchant_name, t.trust_merchant,
			coalesce(t.reasons->>-1, '')
		FROM acs_transactions t LEFT JOIN acs_challenges c ON c.acs_trans_id = t.acs_trans_id
		WHERE t.acs_trans_id = $1 AND t.trans_status = 'C' FOR UPDATE OF t`, id).
		Scan(&f.ThreeDSServerTransID, &dsTransID, &f.MessageVersion, &f.NotificationURL, &serverURL, &cardID, &minor, &currency,
			&bin, &merchantID, &final, &finalReason, &cancel, &failures, &merchantName, &trust, &f.Why)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no challenge for this transaction")
	}
	if err != nil {
		return nil, err
	}
	if final != nil {
		f.TransStatus, f.TransStatusReason, f.ChallengeCancel = *final, deref(finalReason), deref(cancel)
		return f, nil
	}
	now := rs.d.Clock.Now()
	rreq := RReq{ThreeDSServerTransID: f.ThreeDSServerTransID, ACSTransID: id.String(), DSTransID: dsTransID, MessageType: "RReq",
		MessageVersion: f.MessageVersion, MessageCategory: "01", TransStatus: r.Status, TransStatusReason: r.Reason,
		ChallengeCancel: r.Cancel, AuthenticationType: authenticationTypeDynamic,
		InteractionCounter: fmt.Sprintf("%02d", min(failures+1, 99))}
	if r.Status == "Y" {
		pan, err := rs.d.Cards.PANVia(ctx, tx, cardID)
		if err != nil {
			return nil, err
		}
		rreq.ECI = ECI(pan, "Y")
		// A strong authentication: the low-value exemption counts afresh from here (PSD2 RTS Art. 16), the
		// browser becomes known, and a merchant the cardholder ticked becomes trusted (R-WL-1).
		if err := resetSCACounters(ctx, tx, cardID); err != nil {
			return nil, err
		}
		if err := learnBrowserTx(ctx, tx, id, cardID, now); err != nil {
			return nil, err
		}
		if trust && rs.d.Whitelist != nil {
			if err := rs.d.Whitelist.AddTx(ctx, tx, cardID, whitelist.Merchant{AcquirerBIN: bin, AcquirerMerchantID: merchantID,
				Name: merchantName}, id); err != nil {
				return nil, err
			}
		}
		if rreq.AuthenticationValue, err = AuthValue(rs.d.MAC, AVInput{ACSTransID: id.String(), AcctNumber: pan, MinorUnits: minor,
			Currency: currency, AcquirerBIN: bin, AcquirerMerchantID: merchantID, TransStatus: "Y", ECI: rreq.ECI}); err != nil {
			return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
		}
	}
	if rs.d.Whitelist != nil {
		on, err := rs.d.Whitelist.Contains(ctx, tx, cardID, bin, merchantID)
		if err != nil {
			return nil, err
		}
		setListStatus(f.MessageVersion, on, &rreq.WhiteListStatus, &rreq.WhiteListStatusSource, &rreq.TrustListStatus,
			&rreq.TrustListStatusSource)
	}
	// Counted when decided; in the rare case that the commit then fails, the retry counts again.
	rs.d.Metrics.challengeEnded(r.Why)
	why, _ := json.Marshal([]string{r.Why})
	if _, err := tx.Exec(ctx, `UPDATE acs_transactions SET final_status = $2, final_reason = nullif($3, ''), challenge_cancel = nullif($4, ''),
		eci = nullif($5, ''), completed_at = $6, reasons = reasons || $7::jsonb WHERE acs_trans_id = $1`,
		id, r.Status, r.Reason, r.Cancel, rreq.ECI, now, why); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE acs_challenges SET state = $2, completed_at = $3, otp_verifier = NULL
		WHERE acs_trans_id = $1 AND state = 'pending'`, id, r.ChallengeState, now); err != nil {
		return nil, err
	}
	// An app confirmation still waiting is void once its challenge has ended.
	if _, err := tx.Exec(ctx, `UPDATE app_confirmations SET state = 'expired', answered_at = $2
		WHERE acs_trans_id = $1 AND state = 'pending'`, id, now); err != nil {
		return nil, err
	}
	target := rs.d.DSURL
	if serverURL != nil {
		target = *serverURL
	}
	state, lastErr := "pending", ""
	if target == "" {
		state, lastErr = "abandoned", "no threeDSServerURL in the AReq and no DS URL configured"
	}
	body, _ := json.Marshal(rreq)
	if _, err := tx.Exec(ctx, `INSERT INTO acs_results (acs_trans_id, target_url, rreq, state, next_attempt_at, last_error, created_at)
		VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $5)`, id, target, body, state, now, lastErr); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify('acs_results', '')`); err != nil {
		return nil, err
	}
	rs.d.Log.InfoContext(ctx, "challenge ended", "acs_trans_id", id, "trans_status", r.Status, "reason", r.Why)
	f.TransStatus, f.TransStatusReason, f.ChallengeCancel, f.Why = r.Status, r.Reason, r.Cancel, r.Why
	return f, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Finish ends transaction id with r in a transaction of its own (see finishTx).
func (rs *Results) Finish(ctx context.Context, id uuid.UUID, r Result) (*Final, error) {
	var f *Final
	err := store.WithTx(ctx, rs.d.Pool, func(tx pgx.Tx) error {
		var err error
		f, err = rs.finishTx(ctx, tx, id, r)
		return err
	})
	return f, err
}

// ECI is the electronic commerce indicator for a result on this card: the schemes number them apart.
func ECI(pan, status string) string {
	mastercard := strings.HasPrefix(pan, "5") || strings.HasPrefix(pan, "2")
	switch {
	case status == "Y" && mastercard:
		return "02"
	case status == "A" && mastercard:
		return "01"
	case status == "Y":
		return "05"
	case status == "A":
		return "06"
	}
	return ""
}

// Sweep ends transactions whose challenge timed out: no CReq within CReqTimeout after the ARes, or not
// finished within ChallengeTimeout after the CReq. It returns how many it ended. Several processes may
// sweep at once; SKIP LOCKED keeps them apart.
func (rs *Results) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := store.WithTx(ctx, rs.d.Pool, func(tx pgx.Tx) error {
		n = 0
		now := rs.d.Clock.Now()
		rows, err := tx.Query(ctx, `SELECT acs_trans_id, creq_at IS NULL FROM acs_transactions
			WHERE trans_status = 'C' AND final_status IS NULL
			  AND ((creq_at IS NULL AND created_at <= $1) OR creq_at <= $2)
			ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED`, now.Add(-CReqTimeout), now.Add(-ChallengeTimeout))
		if err != nil {
			return err
		}
		type due struct {
			id     uuid.UUID
			noCReq bool
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
			var d due
			return d, r.Scan(&d.id, &d.noCReq)
		})
		if err != nil {
			return err
		}
		for _, d := range list {
			r := resultTimedOut
			if d.noCReq {
				r = resultNoCReq
			}
			if _, err := rs.finishTx(ctx, tx, d.id, r); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// DeliverDue sends the RReqs that are due, up to 20, and returns how many the 3DS Server acknowledged.
func (rs *Results) DeliverDue(ctx context.Context) (int, error) {
	return rs.deliver(ctx, uuid.Nil)
}

// DeliverNow tries to deliver the RReq of one transaction at once, so that in the usual case the 3DS
// Server has the result before the browser brings the final CRes (EMV 3DS 2.2.0, 5.9.9). A failure
// leaves the RReq queued for DeliverDue.
func (rs *Results) DeliverNow(ctx context.Context, id uuid.UUID) error {
	_, err := rs.deliver(ctx, id)
	return err
}

func (rs *Results) deliver(ctx context.Context, only uuid.UUID) (int, error) {
	n := 0
	err := store.WithTx(ctx, rs.d.Pool, func(tx pgx.Tx) error {
		n = 0
		now := rs.d.Clock.Now()
		rows, err := tx.Query(ctx, `SELECT acs_trans_id, target_url, rreq, attempts FROM acs_results
			WHERE state = 'pending' AND next_attempt_at <= $1 AND ($2 = '00000000-0000-0000-0000-000000000000'::uuid OR acs_trans_id = $2)
			ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED`, now, only)
		if err != nil {
			return err
		}
		type due struct {
			id       uuid.UUID
			target   string
			rreq     []byte
			attempts int
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
			var d due
			return d, r.Scan(&d.id, &d.target, &d.rreq, &d.attempts)
		})
		if err != nil {
			return err
		}
		for _, d := range list {
			sendErr := rs.send(ctx, d.id, d.target, d.rreq)
			if sendErr == nil {
				n++
				if _, err := tx.Exec(ctx, `UPDATE acs_results SET state = 'delivered', attempts = attempts + 1, delivered_at = $2,
					last_error = NULL WHERE acs_trans_id = $1`, d.id, rs.d.Clock.Now()); err != nil {
					return err
				}
				rs.d.Log.InfoContext(ctx, "rreq delivered", "acs_trans_id", d.id, "attempts", d.attempts+1)
				continue
			}
			attempts := d.attempts + 1
			var perm *permanentError
			if errors.As(sendErr, &perm) || attempts >= rs.d.MaxAttempts {
				_, err = tx.Exec(ctx, `UPDATE acs_results SET state = 'abandoned', attempts = $2, last_error = $3 WHERE acs_trans_id = $1`,
					d.id, attempts, clip(sendErr.Error()))
				rs.d.Log.ErrorContext(ctx, "rreq given up", "acs_trans_id", d.id, "attempts", attempts, "err", sendErr)
			} else {
				wait := rs.d.Backoff << (attempts - 1)
				_, err = tx.Exec(ctx, `UPDATE acs_results SET attempts = $2, last_error = $3, next_attempt_at = $4 WHERE acs_trans_id = $1`,
					d.id, attempts, clip(sendErr.Error()), now.Add(wait))
				rs.d.Log.WarnContext(ctx, "rreq not acknowledged, will retry", "acs_trans_id", d.id, "attempts", attempts,
					"retry_in", wait, "err", sendErr)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// permanentError is an answer that retrying cannot change: the 3DS Server refused the RReq with Erro.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func clip(s string) string {
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// send posts one RReq and checks the RRes that acknowledges it.
func (rs *Results) send(ctx context.Context, id uuid.UUID, target string, rreq []byte) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, target, bytes.NewReader(rreq))
	if err != nil {
		return &permanentError{"bad target URL"}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := rs.d.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("3DS Server answered HTTP %d", resp.StatusCode)
	}
	var rres RRes
	if err := json.Unmarshal(body, &rres); err != nil {
		return errors.New("3DS Server answered something other than JSON")
	}
	switch {
	case rres.MessageType == "Erro":
		var e Erro
		_ = json.Unmarshal(body, &e)
		return &permanentError{fmt.Sprintf("3DS Server refused the RReq: Erro %s %s", e.ErrorCode, clip(e.ErrorDetail))}
	case rres.MessageType != "RRes":
		return fmt.Errorf("3DS Server answered messageType %q", clip(rres.MessageType))
	case rres.ACSTransID != id.String():
		return errors.New("RRes for another transaction")
	}
	return nil
}

// Run sweeps timeouts and delivers RReqs until ctx ends: every interval, and at once when a result is
// queued by any process (LISTEN acs_results).
func (rs *Results) Run(ctx context.Context, interval time.Duration) {
	wake := make(chan struct{}, 1)
	go store.Listen(ctx, rs.d.Pool, "acs_results", wake)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := rs.Sweep(ctx); err != nil && ctx.Err() == nil {
			rs.d.Log.ErrorContext(ctx, "challenge timeout sweep", "err", err)
		}
		if _, err := rs.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			rs.d.Log.ErrorContext(ctx, "rreq delivery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}
