package acs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/apperr"
	"example.com/acs/authval"
	"example.com/acs/cards"
	"example.com/acs/emv"
	"example.com/acs/registration"
	"example.com/acs/sms"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

// endRow is a challenged transaction as its steps and its end need it: the transaction, its card, its
// registration, its challenge and its app channel session, read and locked by one statement (issue 13:
// a step read the transaction, then its challenge, then everything again to end it, three statements
// where one does). A step that writes something end reads too (the challenge's failures, the trust
// tick) sets it here as well, so that end, which reads nothing, writes what the database holds.
type endRow struct {
	txn
	id                                   uuid.UUID
	transStatus                          string
	creqAt                               *time.Time
	createdAt                            time.Time
	serverTransID, dsTransID, version    string
	notificationURL                      string
	dsURL                                *string
	minor                                *int64
	currencyCode, exponent, bin, merchID *string
	merchantName                         *string
	final, finalReason, cancel           *string
	why                                  string
	scheme, channel, category            string
	panEnc                               []byte
	trust, listed                        bool
	sdkTransID, uiInterface, uiTemplate  string
	challengeState                       *string
	challengeFailures, otpSent           int
	otpExpires                           *time.Time
	otpVerifier                          []byte
	// confirmationState is the app confirmation's state (nil: none).
	confirmationState *string
	// answer is the app's answer that ends the confirmation with the transaction (nil: an end that is
	// not the app's answer voids a pending confirmation).
	answer *confirmationAnswer
	// confirmation is the app confirmation the step opened (startTx): the caller pushes it after the
	// commit.
	confirmation *Confirmation
	// first is a statement of the caller's that end sends ahead of its writes (nil: none).
	first *store.Queued
	// What a challenge page shows besides (viewOf).
	question, windowSize          *string
	browserLanguage, mobileMasked string
	purchaseDate                  time.Time
	dueAt                         *time.Time
	// deliverHere: the caller delivers the RReq right after the commit (Final.claimed), so end queues
	// it claimed by this process, and no delivery pass claims it again (issue 13: one statement less).
	deliverHere bool
	// sms is an mTAN the step queued claimed (sendMTANTx): the caller sends it after the commit.
	sms *sms.Claimed
}

// endColumns are readEnd's columns of the transaction t, its card k, its registration r (LEFT JOIN: the
// columns are neutral without one), its challenge c and its app channel session s.
const endColumns = `t.card_id, coalesce(t.registration_id, '00000000-0000-0000-0000-000000000000'::uuid),
	coalesce(t.amount, 0), coalesce(t.currency, ''), coalesce(t.merchant_name, t.requestor_name, ''), coalesce(r.method, ''),
	t.amount IS NULL, coalesce(r.auth_failures, 0), coalesce(r.locked_at IS NOT NULL, false), r.answer_verifier, r.mobile_enc,
	t.trans_status, t.creq_at, t.created_at, t.three_ds_server_trans_id, t.ds_trans_id, t.message_version,
	coalesce(t.notification_url, ''), t.ds_url, t.minor_units, t.currency, t.exponent::text, t.acquirer_bin, t.acquirer_merchant_id,
	t.merchant_name, t.final_status, t.final_reason, t.challenge_cancel, coalesce(t.reasons->>-1, ''), k.scheme, t.device_channel,
	t.message_category, k.pan_enc, t.trust_merchant,
	EXISTS (SELECT 1 FROM whitelist_entries w WHERE w.card_id = t.card_id AND w.acquirer_bin = t.acquirer_bin
		AND w.acquirer_merchant_id = t.acquirer_merchant_id AND w.removed_at IS NULL),
	coalesce(s.sdk_trans_id::text, ''), coalesce(s.ui_interface, ''), coalesce(s.ui_template, ''),
	c.state, coalesce(c.failures, 0), coalesce(c.otp_sent, 0), c.otp_expires_at, c.otp_verifier, a.state,
	r.question, t.window_size, coalesce(t.browser_language, ''), coalesce(r.mobile_masked, ''),
	coalesce(t.purchase_date, t.created_at), t.due_at`

func (e *endRow) dest() []any {
	return append(e.txn.dest(), &e.transStatus, &e.creqAt, &e.createdAt, &e.serverTransID, &e.dsTransID, &e.version,
		&e.notificationURL, &e.dsURL, &e.minor, &e.currencyCode, &e.exponent, &e.bin, &e.merchID, &e.merchantName, &e.final,
		&e.finalReason, &e.cancel, &e.why, &e.scheme, &e.channel, &e.category, &e.panEnc, &e.trust, &e.listed,
		&e.sdkTransID, &e.uiInterface, &e.uiTemplate, &e.challengeState, &e.challengeFailures, &e.otpSent, &e.otpExpires,
		&e.otpVerifier, &e.confirmationState, &e.question, &e.windowSize, &e.browserLanguage, &e.mobileMasked,
		&e.purchaseDate, &e.dueAt)
}

// readEnd reads and locks the challenged transaction id (trans_status C or D) with all endRow holds. The
// transaction's row is the lock every step and end takes first, so no two of them deadlock and a
// challenge's own row needs no lock of its own.
func readEnd(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*endRow, error) {
	return readEndWith(ctx, tx, id, "")
}

// readEndWith is readEnd with more columns of the same tables (", col, ..."), scanned into extra: what
// one kind of step needs besides (an app's answer: the device key and the PIN's verifier).
func readEndWith(ctx context.Context, tx pgx.Tx, id uuid.UUID, columns string, extra ...any) (*endRow, error) {
	e := &endRow{id: id}
	err := tx.QueryRow(ctx, `SELECT `+endColumns+columns+`
		FROM acs_transactions t JOIN issuer_cards k ON k.id = t.card_id
		LEFT JOIN registrations r ON r.id = t.registration_id
		LEFT JOIN acs_challenges c ON c.acs_trans_id = t.acs_trans_id
		LEFT JOIN acs_sdk_sessions s ON s.acs_trans_id = t.acs_trans_id
		LEFT JOIN app_confirmations a ON a.acs_trans_id = t.acs_trans_id
		WHERE t.acs_trans_id = $1 AND t.trans_status IN ('C', 'D') FOR UPDATE OF t`, id).Scan(append(e.dest(), extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no challenge for this transaction")
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// finalOf is the stored end of e (nil while it is open).
func (e *endRow) finalOf() *Final {
	if e.final == nil {
		return nil
	}
	return &Final{ACSTransID: e.id, ThreeDSServerTransID: e.serverTransID, MessageVersion: e.version,
		NotificationURL: e.notificationURL, TransStatus: *e.final, TransStatusReason: deref(e.finalReason),
		ChallengeCancel: deref(e.cancel), Why: e.why}
}

// end ends the transaction of e, read and locked by readEnd in tx, with r unless it has ended already;
// either way it returns the transaction's final state. Its writes go to PostgreSQL as one batch: one
// round trip for the transaction's end, the challenge's, the confirmation's, what a success teaches
// (counters, browser, trusted merchant) and the queued RReq.
func (rs *Results) end(ctx context.Context, tx pgx.Tx, e *endRow, r Result) (*Final, error) {
	if f := e.finalOf(); f != nil {
		return f, nil
	}
	now := rs.d.Clock.Now()
	via := r.Via
	if via == "" {
		via = Via(e.method)
	}
	// interactionCounter: the authentication cycles the cardholder went through (2.3.1 Annex A): each
	// wrong entry, and the answer that ended the challenge. A cancel or a timeout is no cycle.
	cycles := e.challengeFailures
	if r.Assessed {
		cycles++
	}
	out := rreqData{version: emv.Version(e.version), channel: e.channel, category: e.category,
		serverTransID: e.serverTransID, acsTransID: e.id.String(), dsTransID: e.dsTransID, status: r.Status,
		reason: r.Reason, cancel: r.Cancel, via: via, cycles: cycles, erro: r.Erro}
	if e.sdkTransID != "" {
		out.sdkTransID, out.uiInterface, out.uiTemplate = e.sdkTransID, e.uiInterface, e.uiTemplate
	}
	b := &pgx.Batch{}
	e.first.QueueTo(b)
	listed := e.listed
	if r.Status == "Y" {
		pan, err := rs.d.Cards.PANFrom(ctx, e.cardID, e.panEnc)
		if err != nil {
			return nil, err
		}
		// A strong authentication: the low-value exemption counts afresh from here (PSD2 RTS Art. 16), the
		// browser becomes known, and a merchant the cardholder ticked becomes trusted (R-WL-1).
		b.Queue(resetSCASQL, e.cardID)
		b.Queue(learnBrowserSQL, e.id, e.cardID, now, now.Add(-time.Hour))
		// A success ends the run of wrong entries of the card's method (PSD2 RTS Art. 4: consecutive).
		if e.methodFailures > 0 {
			b.Queue(registration.SucceedSQL, e.regID)
		}
		if e.trust && rs.d.Whitelist != nil && e.bin != nil && e.merchID != nil {
			sql, args := rs.d.Whitelist.AddSQL(e.cardID, whitelist.Merchant{AcquirerBIN: *e.bin, AcquirerMerchantID: *e.merchID,
				Name: deref(e.merchantName)}, e.id)
			b.Queue(sql, args...)
			listed = true
		}
		ds, _ := uuid.Parse(e.dsTransID)
		in := authval.Transaction{Scheme: cards.Scheme(e.scheme), PAN: pan, ACSTransID: e.id, DSTransID: ds, Status: "Y",
			Method: avMethod(via, r.Verification), Category: e.category, Channel: e.channel, MerchantName: deref(e.merchantName)}
		if e.minor != nil && e.currencyCode != nil {
			in.HasAmount, in.MinorUnits, in.Currency = true, *e.minor, *e.currencyCode
		}
		v, err := generateAV(rs.d.AV, in)
		if err != nil {
			return nil, err
		}
		out.eci, out.authValue = v.ECI, v.AV
	}
	if rs.d.Whitelist != nil && e.bin != nil && e.merchID != nil {
		out.listed = &listed
	}
	body, err := out.encode()
	if err != nil {
		return nil, err
	}
	why, _ := json.Marshal([]string{r.Why})
	b.Queue(`UPDATE acs_transactions SET final_status = $2, final_reason = nullif($3, ''), challenge_cancel = nullif($4, ''),
		eci = nullif($5, ''), completed_at = $6, reasons = reasons || $7::jsonb, auth_method = nullif($8, ''), trust_merchant = $9
		WHERE acs_trans_id = $1`, e.id, r.Status, r.Reason, r.Cancel, out.eci, now, why, string(via), e.trust)
	if e.challengeState != nil && ChallengeState(*e.challengeState) == ChallengePending {
		args, err := challengeEndArgs(e.id, r.ChallengeState, now)
		if err != nil {
			return nil, err
		}
		b.Queue(endChallengeSQL, args...)
	}
	// The app channel: the mTAN typed at a 2.2.0 text step is void now; the key stays for the final CRes
	// only where there will be one (a decided Y or N; not after a refusal or a timeout).
	if e.sdkTransID != "" {
		keep := (r.Status == "Y" || r.Status == "N") && r.Why != ReasonNoCReq && r.Why != ReasonChallengeTimeout
		b.Queue(`UPDATE acs_sdk_sessions SET mtan_entered_enc = NULL, cek_enc = CASE WHEN $2 THEN cek_enc END
			WHERE acs_trans_id = $1`, e.id, keep)
	}
	// An app confirmation still waiting ends with the app's answer that ends the challenge, and is void
	// once the challenge has ended otherwise.
	if e.confirmationState != nil && ConfirmationState(*e.confirmationState) == ConfirmationPending {
		a := e.answer
		if a == nil {
			a = &confirmationAnswer{to: ConfirmationExpired}
		}
		args, err := confirmationEndArgs(e.id, a.to, a.how, a.ev, now)
		if err != nil {
			return nil, err
		}
		b.Queue(endConfirmationSQL, args...)
	}
	state, lastErr, target := DeliveryPending, "", ""
	if r.NoRReq {
		state, lastErr = DeliveryAbandoned, "not sent: the DS reported an Erro for this transaction"
	} else if rs.d.Link == nil {
		state, lastErr = DeliveryAbandoned, "no Directory Server link configured"
	} else if target, err = rs.d.Link.Target(e.scheme, deref(e.dsURL)); err != nil {
		state, lastErr = DeliveryAbandoned, "the AReq named no configured Directory Server and none is configured for scheme "+e.scheme
	}
	// No NOTIFY: the request that ended the challenge delivers its RReq itself (DeliverNow), a sweep's
	// process delivers right after the sweep, and every process's delivery pass finds what is left. An
	// RReq this process delivers at once is queued claimed, as a delivery pass would claim it: its next
	// attempt after the lease, its first attempt counted.
	next, attempts, claimed := now, 0, e.deliverHere && state == DeliveryPending
	if claimed {
		next, attempts = now.Add(rs.lease()), 1
	}
	b.Queue(`INSERT INTO acs_results (acs_trans_id, target_url, rreq, state, next_attempt_at, attempts, last_error, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), $8)`, e.id, target, body, string(state), next, attempts, lastErr, now)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	// Counted when decided; in the rare case that the commit then fails, the retry counts again.
	rs.d.Metrics.challengeEnded(r.Why)
	rs.d.Log.InfoContext(ctx, "challenge ended", "acs_trans_id", e.id, "trans_status", r.Status, "reason", r.Why)
	status := r.Status
	e.final = &status
	e.finalReason, e.cancel, e.why = &r.Reason, &r.Cancel, r.Why
	f := e.finalOf()
	if claimed {
		f.claimed = &dueResult{id: e.id, target: target, rreq: body, attempts: 1}
	}
	return f, nil
}

// viewOf is the challenge page's view of e as it stands after the step's writes (what View would read
// after the commit; issue 13: without reading it again). It is nil for a transaction that is not a
// browser or app challenge (a decoupled one): the caller reads View, which refuses it.
func (c *Challenges) viewOf(e *endRow, f *Final) *View {
	if e == nil || e.transStatus != "C" {
		return nil
	}
	v := &View{ACSTransID: e.id, ThreeDSServerTransID: e.serverTransID, MessageVersion: e.version,
		NotificationURL: e.notificationURL, Method: e.method, Merchant: e.merchant, Amount: e.amount, Currency: e.currency,
		PurchaseDate: e.purchaseDate, BrowserLanguage: e.browserLanguage, WindowSize: deref(e.windowSize),
		QuestionKey: deref(e.question), NonPayment: e.nonPayment, MTANExpires: e.otpExpires, Deadline: e.dueAt}
	v.FailuresLeft = min(MaxChallengeFailures-e.challengeFailures, registration.TriesLeftOf(e.methodFailures, e.locked))
	if v.Final = f; f == nil {
		v.Final = e.finalOf()
	}
	if v.Final == nil && v.Method == registration.MethodMTAN {
		v.MobileHint = e.mobileMasked
	}
	return v
}
