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
	"example.com/acs/registration"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// CReq is a browser challenge request as the 3DS Requestor's page posts it (form field creq, base64url
// JSON).
type CReq struct {
	ThreeDSServerTransID uuid.UUID
	ACSTransID           uuid.UUID
	MessageVersion       string
	WindowSize           string // challengeWindowSize 01..05
	// Claims are transaction elements that do not belong in a CReq but were sent anyway (amount,
	// currency, merchant). They must agree with the AReq's: a CReq cannot change what is confirmed.
	Claims map[string]string
}

// claimable maps the elements a CReq might carry to change the transaction to the AReq's names.
var claimable = []string{"purchaseAmount", "purchaseCurrency", "purchaseExponent", "merchantName", "acquirerMerchantID", "acquirerBIN"}

// maxCReqSize bounds the encoded form field; a browser CReq is a few hundred bytes.
const maxCReqSize = 4096

// ParseCReq decodes the creq form field. Problems are returned as an *Erro naming the element.
func ParseCReq(field string) (*CReq, *Erro) {
	if len(field) > maxCReqSize {
		return nil, newErro(ErrMessageInvalid, "Invalid Formatted Message", "", "CReq")
	}
	// base64url without padding is what the specification asks for; padding is tolerated.
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(field), "="))
	if err != nil {
		return nil, newErro(ErrMessageInvalid, "Invalid Formatted Message", "", "CReq")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, newErro(ErrMessageInvalid, "Invalid Formatted Message", "", "CReq")
	}
	if dup := duplicateKey(body); dup != "" {
		return nil, newErro(ErrDuplicate, dup, "", "CReq")
	}
	str := func(name string) (string, bool) {
		v, ok := raw[name]
		if !ok {
			return "", true
		}
		var s string
		err := json.Unmarshal(v, &s)
		return s, err == nil
	}
	if mt, ok := str("messageType"); !ok || mt != "CReq" {
		return nil, newErro(ErrMessageInvalid, "Invalid Message Type", "", "CReq")
	}
	version, ok := str("messageVersion")
	switch {
	case !ok:
		return nil, newErro(ErrFormat, "messageVersion", "", "CReq")
	case version == "":
		return nil, newErro(ErrRequiredMissing, "messageVersion", "", "CReq")
	case !supported(version):
		return nil, newErro(ErrVersion, strings.Join(SupportedVersions, ","), "", "CReq")
	}
	c := &CReq{MessageVersion: version, Claims: map[string]string{}}
	for _, name := range []string{"threeDSServerTransID", "acsTransID"} {
		s, ok := str(name)
		if !ok {
			return nil, newErro(ErrFormat, name, version, "CReq")
		}
		if s == "" {
			return nil, newErro(ErrRequiredMissing, name, version, "CReq")
		}
		id, err := uuid.Parse(s)
		if err != nil || len(s) != 36 {
			return nil, newErro(ErrFormat, name, version, "CReq")
		}
		if name == "acsTransID" {
			c.ACSTransID = id
		} else {
			c.ThreeDSServerTransID = id
		}
	}
	ws, ok := str("challengeWindowSize")
	switch {
	case !ok:
		return nil, newErro(ErrFormat, "challengeWindowSize", version, "CReq")
	case ws == "":
		return nil, newErro(ErrRequiredMissing, "challengeWindowSize", version, "CReq")
	case len(ws) != 2 || ws < "01" || ws > "05":
		return nil, newErro(ErrFormat, "challengeWindowSize", version, "CReq")
	}
	c.WindowSize = ws
	for _, name := range claimable {
		if _, present := raw[name]; !present {
			continue
		}
		s, ok := str(name)
		if !ok {
			return nil, newErro(ErrFormat, name, version, "CReq")
		}
		c.Claims[name] = s
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
	// Final is set once the transaction has ended; the page then posts the final CRes.
	Final *Final
}

// errCReqTransaction is the answer to a CReq that names no challenged transaction of this ACS.
func errCReqTransaction(c *CReq, detail string) *Erro {
	e := newErro(ErrTransactionIDGone, detail, c.MessageVersion, "CReq")
	e.ThreeDSServerTransID, e.ACSTransID = c.ThreeDSServerTransID.String(), c.ACSTransID.String()
	return e
}

// Open handles the browser's CReq. The first CReq within CReqTimeout of the ARes starts the challenge
// (for mTAN: the SMS goes out); a later one ends the transaction as timed out; a repeated one (the
// cardholder reloaded the frame) shows the challenge as it stands without sending another SMS. A CReq
// whose identifiers or claimed transaction data disagree with the AReq's is refused with *Erro, and the
// transaction is left as it was.
func (c *Challenges) Open(ctx context.Context, creq *CReq) (*View, error) {
	var push bool
	err := store.WithTx(ctx, c.d.Pool, func(tx pgx.Tx) error {
		push = false
		var serverID, version string
		var creqAt *time.Time
		var created time.Time
		var final *string
		var minor int64
		var currency, exponent, merchant, merchantID, bin string
		err := tx.QueryRow(ctx, `SELECT three_ds_server_trans_id::text, message_version, creq_at, created_at, final_status,
				minor_units, currency, exponent::text, merchant_name, acquirer_merchant_id, acquirer_bin
			FROM acs_transactions WHERE acs_trans_id = $1 AND trans_status = 'C' FOR UPDATE`, creq.ACSTransID).
			Scan(&serverID, &version, &creqAt, &created, &final, &minor, &currency, &exponent, &merchant, &merchantID, &bin)
		if errors.Is(err, pgx.ErrNoRows) {
			return errCReqTransaction(creq, "acsTransID")
		}
		if err != nil {
			return err
		}
		if serverID != creq.ThreeDSServerTransID.String() {
			return errCReqTransaction(creq, "threeDSServerTransID")
		}
		if version != creq.MessageVersion {
			e := newErro(ErrTransactionData, "messageVersion", creq.MessageVersion, "CReq")
			e.ThreeDSServerTransID, e.ACSTransID = serverID, creq.ACSTransID.String()
			return e
		}
		stored := map[string]string{"purchaseAmount": decimal.NewFromInt(minor).String(), "purchaseCurrency": currency,
			"purchaseExponent": exponent, "merchantName": merchant, "acquirerMerchantID": merchantID, "acquirerBIN": bin}
		for _, name := range claimable {
			if v, ok := creq.Claims[name]; ok && v != stored[name] {
				e := newErro(ErrTransactionData, name, creq.MessageVersion, "CReq")
				e.ThreeDSServerTransID, e.ACSTransID = serverID, creq.ACSTransID.String()
				return e
			}
		}
		if final != nil || creqAt != nil {
			return nil // ended, or a repeated CReq: shown as it stands
		}
		now := c.d.Clock.Now()
		if now.Sub(created) >= CReqTimeout {
			_, err := c.d.Results.finishTx(ctx, tx, creq.ACSTransID, resultNoCReq)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE acs_transactions SET creq_at = $2, window_size = $3 WHERE acs_trans_id = $1`,
			creq.ACSTransID, now, creq.WindowSize); err != nil {
			return err
		}
		push, err = c.startTx(ctx, tx, creq.ACSTransID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if push {
		c.push(ctx, creq.ACSTransID)
	}
	return c.View(ctx, creq.ACSTransID)
}

// View reads the challenge of a transaction as a page shows it.
func (c *Challenges) View(ctx context.Context, id uuid.UUID) (*View, error) {
	v := &View{ACSTransID: id}
	var regID uuid.UUID
	var windowSize, question, final, finalReason, cancel, why *string
	var failures *int
	err := c.d.Pool.QueryRow(ctx, `SELECT t.three_ds_server_trans_id::text, t.message_version, t.notification_url, r.method,
			t.merchant_name, t.amount, t.currency, t.purchase_date, t.browser_language, t.window_size, t.registration_id,
			r.question, ch.failures, t.final_status, t.final_reason, t.challenge_cancel, t.reasons->>-1
		FROM acs_transactions t JOIN registrations r ON r.id = t.registration_id
		LEFT JOIN acs_challenges ch ON ch.acs_trans_id = t.acs_trans_id
		WHERE t.acs_trans_id = $1 AND t.trans_status = 'C'`, id).
		Scan(&v.ThreeDSServerTransID, &v.MessageVersion, &v.NotificationURL, &v.Method, &v.Merchant, &v.Amount, &v.Currency,
			&v.PurchaseDate, &v.BrowserLanguage, &windowSize, &regID, &question, &failures, &final, &finalReason, &cancel, &why)
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
	if final != nil {
		v.Final = &Final{ACSTransID: id, ThreeDSServerTransID: v.ThreeDSServerTransID, MessageVersion: v.MessageVersion,
			NotificationURL: v.NotificationURL, TransStatus: *final, TransStatusReason: deref(finalReason), ChallengeCancel: deref(cancel),
			Why: deref(why)}
		return v, nil
	}
	if v.Method == registration.MethodMTAN {
		mobile, err := c.d.Registration.Mobile(ctx, c.d.Pool, regID)
		if err != nil {
			return nil, err
		}
		v.MobileHint = sms.MaskNumber(mobile)
	}
	return v, nil
}
