package acs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/emv"
	"example.com/acs/registration"
	"example.com/acs/store"
)

// CReq is a browser challenge request as the 3DS Requestor's page posts it (form field creq, base64url
// JSON), after package emv has checked it against its version's table.
type CReq struct {
	// Channel is the device channel the CReq came through: the browser's form (02, ParseCReq) or the
	// app's SDK (01, appcreq.go). A transaction answers CReqs of its own channel only: an app
	// transaction's challenge cannot be driven through the browser's unencrypted form.
	Channel              string
	ThreeDSServerTransID string
	ACSTransID           uuid.UUID
	MessageVersion       emv.Version
	WindowSize           string // challengeWindowSize 01..05
	// Claims are transaction elements that do not belong in a CReq but were sent anyway (amount,
	// currency, merchant). They must agree with the AReq's: a CReq cannot change what is confirmed.
	Claims map[string]string
}

// claimable lists the elements a CReq might carry to change the transaction, by their AReq names.
var claimable = []string{"purchaseAmount", "purchaseCurrency", "purchaseExponent", "merchantName", "acquirerMerchantID", "acquirerBIN"}

// maxCReqSize bounds the encoded form field; a browser CReq is a few hundred bytes.
const maxCReqSize = 8192

// ParseCReq decodes the creq form field: base64url with or without padding, whitespace ignored (Req 119,
// 193), then the browser CReq's element table. Problems are an *Erro naming the element, with the ids
// echoed as received so that the transaction can be found.
func ParseCReq(field string) (*CReq, *Erro) {
	if len(field) > maxCReqSize {
		return nil, newErro(emv.ErrMessageInvalid, "Invalid Formatted Message", "", emv.TypeCReq)
	}
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, field)
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(clean, "="))
	if err != nil {
		return nil, newErro(emv.ErrMessageInvalid, "Invalid Formatted Message", "", emv.TypeCReq)
	}
	m, erro := emv.Decode(body, emv.TypeCReq, emv.Context{Channel: emv.BRW})
	if erro != nil {
		return nil, erro
	}
	c := &CReq{Channel: ChannelBrowser, MessageVersion: m.Version, ThreeDSServerTransID: m.Str("threeDSServerTransID"),
		WindowSize: m.Str("challengeWindowSize"), Claims: map[string]string{}}
	c.ACSTransID, _ = uuid.Parse(m.Str("acsTransID")) // the table checked the form
	for _, name := range claimable {
		raw := m.Extra(name)
		if raw == nil {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return nil, newErro(emv.ErrFormat, name, m.Version, emv.TypeCReq).Echo(m)
		}
		c.Claims[name] = v
	}
	return c, nil
}

// View is what a challenge page shows and needs: the transaction as the AReq fixed it (R-AUTH-2), the
// method, and either the challenge's progress or its end.
type View struct {
	ACSTransID           uuid.UUID
	ThreeDSServerTransID string
	MessageVersion       string
	NotificationURL      string
	Method               registration.Method
	Merchant             string
	Amount               decimal.Decimal
	Currency             string // ISO 4217 numeric
	PurchaseDate         time.Time
	BrowserLanguage      string
	WindowSize           string
	MobileHint           string // the masked number the mTAN went to
	QuestionKey          string
	FailuresLeft         int
	// NonPayment: a non-payment authentication (messageCategory 02, e.g. a card stored at a merchant)
	// without an amount; the page says what is confirmed instead.
	NonPayment bool
	// Final is set once the transaction has ended; the page then posts the final CRes.
	Final *Final
	// MTANExpires is when the newest mTAN stops being valid (R-AUTH-5), Deadline when the challenge
	// ends (ChallengeTimeout after the first CReq): the page states both and announces them before
	// they run out (WCAG 2.2.1). Nil when not known.
	MTANExpires, Deadline *time.Time
}

// Refusal is a CReq the ACS refuses. Where the CReq named a transaction of this ACS, NotificationURL is
// the 3DS Requestor's, and the page posts the Erro there (2.3.1 5.9.6), so the requestor learns of it
// at once instead of waiting for its own timeout.
type Refusal struct {
	Erro            *Erro
	NotificationURL string
}

func (r *Refusal) Error() string { return r.Erro.Error() }

func refusal(e *Erro, notificationURL string) *Refusal {
	return &Refusal{Erro: e, NotificationURL: notificationURL}
}

// resultCReqRefused ends a transaction whose CReq was refused: U, with challengeCancel 10 (2.3.1: an Erro
// answered a CReq) or 06 (transaction error) in the versions without 10; the RReq carries the Erro.
func resultCReqRefused(v emv.Version, e *Erro) Result {
	cancel := cancelErroReceivedForCReq
	if v != emv.V231 {
		cancel = "06"
	}
	return Result{Status: "U", Reason: statusReasonInvalidTx, Cancel: cancel, ChallengeState: ChallengeFailed, Why: ReasonCReqRefused, Erro: e}
}

// Open handles the browser's CReq (2.3.1 5.9.6, Req 220-222, 442):
//   - the first CReq within CReqTimeout of the ARes starts the challenge (for mTAN: the SMS goes out);
//   - a first CReq after it ends the transaction as timed out (RReq N/14/05) and is refused with 402;
//   - a CReq after the transaction ended (its RReq is out) is refused with 315, or 402 where it ended
//     because no CReq came; nothing is posted twice;
//   - a repeated identical CReq (the cardholder reloaded the frame) continues the challenge as it stands
//     without another SMS;
//   - a CReq whose version or claimed transaction data differ from the AReq's is refused (203
//     messageVersion, 305 naming the element) and ends the transaction with U;
//   - a CReq naming no transaction of this ACS, or a transaction with another threeDSServerTransID, is
//     refused with 301 and changes nothing.
//
// Refusals are returned as *Refusal.
func (c *Challenges) Open(ctx context.Context, creq *CReq) (*View, error) {
	var push bool
	var refused *Refusal
	var row *endRow
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		push, refused, row = false, nil, nil
		// A refusal is kept apart from err: where it ends the transaction, that end must commit.
		refuseOnly := func(e *Erro, notify string) error { refused = refusal(e, notify); return nil }
		// One statement reads and locks what the CReq needs and what starting or ending the challenge
		// needs (readEnd, issue 13).
		e, err := readEnd(ctx, tx, creq.ACSTransID)
		if err == nil && (e.transStatus != "C" || e.channel != creq.Channel) {
			e, err = nil, apperr.New(apperr.NotFound, "no challenge for this transaction")
		}
		var version string
		if e != nil {
			version = e.version
		}
		erro := func(code, detail string) *Erro {
			x := newErro(code, detail, emv.Version(version), emv.TypeCReq)
			x.ThreeDSServerTransID, x.ACSTransID = creq.ThreeDSServerTransID, creq.ACSTransID.String()
			return x
		}
		if apperr.KindOf(err) == apperr.NotFound {
			version = string(creq.MessageVersion)
			return refuseOnly(erro(emv.ErrTransactionUnknown, "acsTransID"), "")
		}
		if err != nil {
			return err
		}
		row = e
		if !strings.EqualFold(e.serverTransID, creq.ThreeDSServerTransID) {
			return refuseOnly(erro(emv.ErrTransactionUnknown, "threeDSServerTransID"), "")
		}
		notify := e.notificationURL
		if e.final != nil {
			if e.creqAt == nil && e.why == ReasonNoCReq {
				return refuseOnly(erro(emv.ErrTimedOut, "CReq not received within 30 seconds of the ARes"), notify)
			}
			return refuseOnly(erro(emv.ErrTransactionStatus, "the transaction has ended and its result was sent"), notify)
		}
		refuse := func(erro *Erro) error {
			if _, err := c.d.Results.end(ctx, tx, e, resultCReqRefused(emv.Version(version), erro)); err != nil {
				return err
			}
			return refuseOnly(erro, notify)
		}
		if string(creq.MessageVersion) != version {
			return refuse(erro(emv.ErrFormat, "messageVersion"))
		}
		stored := map[string]string{"purchaseCurrency": deref(e.currencyCode), "purchaseExponent": deref(e.exponent),
			"merchantName": deref(e.merchantName), "acquirerMerchantID": deref(e.merchID), "acquirerBIN": deref(e.bin)}
		if e.minor != nil {
			stored["purchaseAmount"] = decimal.NewFromInt(*e.minor).String()
		}
		for _, name := range claimable {
			if v, ok := creq.Claims[name]; ok && v != stored[name] {
				return refuse(erro(emv.ErrTransactionData, name))
			}
		}
		if e.creqAt != nil {
			return nil // a repeated CReq: the challenge continues as it stands (Req 442)
		}
		now := c.d.Clock.Now()
		if now.Sub(e.createdAt) >= CReqTimeout {
			if _, err := c.d.Results.end(ctx, tx, e, resultNoCReq); err != nil {
				return err
			}
			return refuseOnly(erro(emv.ErrTimedOut, "CReq not received within 30 seconds of the ARes"), notify)
		}
		due := now.Add(ChallengeTimeout)
		b := &pgx.Batch{}
		b.Queue(`UPDATE acs_transactions SET creq_at = $2, window_size = $3, due_at = $4 WHERE acs_trans_id = $1`,
			creq.ACSTransID, now, creq.WindowSize, due)
		e.creqAt, e.windowSize, e.dueAt = &now, &creq.WindowSize, &due
		push, err = c.startTx(ctx, tx, e, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if row != nil {
		c.d.Outbox.Send(ctx, row.sms) // the first mTAN, now that its transaction has committed
	}
	if refused != nil {
		return nil, refused
	}
	if push {
		c.push(ctx, row)
	}
	if v := c.viewOf(row, nil); v != nil {
		return v, nil // the page as the step left it, without reading it again (issue 13)
	}
	return c.View(ctx, creq.ACSTransID)
}

// RefuseUnreadable handles a CReq that package emv refused (e an *Erro with the ids it could read):
// where those ids name a challenge of this ACS that is still open, the challenge ends with U (RReq with
// challengeCancel 10, 2.3.1 5.9.6) and the Erro goes to the requestor's notificationURL; otherwise
// nothing changes and there is nowhere to post.
func (c *Challenges) RefuseUnreadable(ctx context.Context, e *Erro) (*Refusal, error) {
	id, err := uuid.Parse(e.ACSTransID)
	if err != nil || e.ThreeDSServerTransID == "" {
		return refusal(e, ""), nil
	}
	var serverID, version string
	var notifyURL *string
	var final *string
	err = c.d.Pool.QueryRow(ctx, `SELECT three_ds_server_trans_id, message_version, notification_url, final_status
		FROM acs_transactions WHERE acs_trans_id = $1 AND trans_status = 'C' AND device_channel = $2`, id, ChannelBrowser).
		Scan(&serverID, &version, &notifyURL, &final)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !strings.EqualFold(serverID, e.ThreeDSServerTransID)) {
		return refusal(e, ""), nil
	}
	if err != nil {
		return nil, err
	}
	if final != nil {
		return refusal(e, ""), nil
	}
	if e.ErrorCode != emv.ErrVersionUnsupported {
		e.MessageVersion = version
	}
	f, err := c.d.Results.Finish(ctx, id, resultCReqRefused(emv.Version(version), e))
	if err != nil {
		return nil, err
	}
	if f.Why != ReasonCReqRefused {
		return refusal(e, ""), nil // ended otherwise meanwhile: that end's CRes is the requestor's answer
	}
	return refusal(e, deref(notifyURL)), nil
}

// View reads the challenge of a transaction as a page shows it.
func (c *Challenges) View(ctx context.Context, id uuid.UUID) (*View, error) {
	v := &View{ACSTransID: id}
	var windowSize, question, final, finalReason, cancel, why *string
	var failures *int
	var methodFailures int
	var locked bool
	var mobileMasked string
	var delivered bool // the RReq: the final page need not deliver it (Results.Deliver)
	// One statement reads the page's all: the registration's count and lock and masked number come with
	// the transaction (issue 13: the view was three statements and a decryption).
	err := c.d.Pool.QueryRow(ctx, `SELECT t.three_ds_server_trans_id::text, t.message_version, coalesce(t.notification_url, ''), r.method,
			coalesce(t.merchant_name, t.requestor_name, ''), coalesce(t.amount, 0), coalesce(t.currency, ''),
			coalesce(t.purchase_date, t.created_at), coalesce(t.browser_language, ''), t.window_size,
			r.question, ch.failures, t.final_status, t.final_reason, t.challenge_cancel, t.reasons->>-1, t.amount IS NULL,
			r.auth_failures, r.locked_at IS NOT NULL, coalesce(r.mobile_masked, ''), ch.otp_expires_at, t.due_at,
			CASE WHEN t.final_status IS NULL THEN false ELSE coalesce((SELECT res.state = '`+string(DeliveryDelivered)+`'
				FROM acs_results res WHERE res.acs_trans_id = t.acs_trans_id), false) END
		FROM acs_transactions t JOIN registrations r ON r.id = t.registration_id
		LEFT JOIN acs_challenges ch ON ch.acs_trans_id = t.acs_trans_id
		WHERE t.acs_trans_id = $1 AND t.trans_status = 'C'`, id).
		Scan(&v.ThreeDSServerTransID, &v.MessageVersion, &v.NotificationURL, &v.Method, &v.Merchant, &v.Amount, &v.Currency,
			&v.PurchaseDate, &v.BrowserLanguage, &windowSize, &question, &failures, &final, &finalReason, &cancel, &why, &v.NonPayment,
			&methodFailures, &locked, &mobileMasked, &v.MTANExpires, &v.Deadline, &delivered)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no challenge for this transaction")
	}
	if err != nil {
		return nil, err
	}
	v.WindowSize, v.QuestionKey = deref(windowSize), deref(question)
	v.FailuresLeft = MaxChallengeFailures
	if failures != nil {
		v.FailuresLeft -= *failures
	}
	// The card's method may have fewer tries left than the challenge (wrong entries in earlier ones): the
	// page warns with the smaller number, so the cardholder learns before the try that locks it.
	v.FailuresLeft = min(v.FailuresLeft, registration.TriesLeftOf(methodFailures, locked))
	if final != nil {
		v.Final = &Final{ACSTransID: id, ThreeDSServerTransID: v.ThreeDSServerTransID, MessageVersion: v.MessageVersion,
			NotificationURL: v.NotificationURL, TransStatus: *final, TransStatusReason: deref(finalReason), ChallengeCancel: deref(cancel),
			Why: deref(why), delivered: delivered}
		return v, nil
	}
	if v.Method == registration.MethodMTAN {
		v.MobileHint = mobileMasked
	}
	return v, nil
}
