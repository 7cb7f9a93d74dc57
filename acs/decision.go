package acs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/shopspring/decimal"

	"example.com/acs/apperr"
	"example.com/acs/authval"
	"example.com/acs/cards"
	"example.com/acs/emv"
	"example.com/acs/registration"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

// Reasons name why a transaction was decided as it was; stored with it and shown to support.
const (
	ReasonCardUnknown       = "card_unknown"
	ReasonCardBlocked       = "card_blocked"
	ReasonCardExpired       = "card_expired"
	ReasonNotRegistered     = "not_registered"
	ReasonAttempts          = "attempts"       // answered A by the issuer's attempts policy
	ReasonAlwaysConfirm     = "always_confirm" // the cardholder's security level: every purchase challenged
	ReasonRegisteredMTAN    = "registered_mtan"
	ReasonRegisteredApp     = "registered_app"
	ReasonChallengeMandated = "challenge_mandated"
	ReasonAppChannel        = "app_channel_not_supported"
	ReasonDataShareOnly     = "data_share_only"
	Reason3RIAuthenticated  = "3ri_prior_authentication"
	Reason3RINotSupported   = "3ri_not_supported"
	Reason3RINoPrior        = "3ri_no_prior_authentication"
	ReasonNonPayment        = "non_payment"
)

// browserDigests are the keyed digests of the browser (user agent, language, screen) and of the IP
// address (nil when the AReq gave none): the rules compare browsers without storing what identifies one.
func (dc *Decider) browserDigests(a *AReq) ([]byte, []byte, error) {
	b, err := dc.d.Digests.Digest("browser", []byte(a.BrowserUserAgent+"\x00"+a.BrowserLanguage+"\x00"+a.BrowserScreenWidth+"x"+a.BrowserScreenHeight))
	if err != nil || a.BrowserIP == "" {
		return b, nil, err
	}
	ip, err := dc.d.Digests.Digest("browser_ip", []byte(a.BrowserIP))
	return b, ip, err
}

// EMV transStatusReason values used (2.3.1 Annex A, transStatusReason).
const (
	statusReasonUnsupportedDevice = "03"
	statusReasonExpiredCard       = "05"
	statusReasonInvalidTx         = "07"
	statusReasonNoCardRecord      = "08"
	statusReasonNotPermitted      = "12"
	statusReasonNotEnrolled       = "13"
	statusReason3RINotSupported   = "21"
	challengeIndMandated          = "04"
	challengeIndDataShareOnly     = "06"
)

// threeRIInd values the ACS authenticates without a cardholder (2.3.1 Annex A, threeRIInd): a
// recurring or instalment payment that follows one the cardholder authenticated.
const (
	threeRIRecurring  = "01"
	threeRIInstalment = "02"
)

// DecisionDeps are what the decision needs.
type DecisionDeps struct {
	Pool *pgxpool.Pool
	// Pipe, when not nil, sends the AReq's write (and the read that stores a refusal) with other AReqs'
	// (store.Pipeline): one round trip and one commit for the statements that wait together.
	Pipe  *store.Pipeline
	Cards *cards.Directory
	Clock clockwork.Clock
	Log   *slog.Logger
	// ChallengeURL is the acsURL a challenged browser posts its CReq to.
	ChallengeURL string
	// ReferenceNumber is the ACS reference number the EMVCo approval assigns.
	ReferenceNumber string
	// AV computes the authentication value of a frictionless Y and of an attempt (A).
	AV *authval.Service
	// Digests computes the keyed digests of the browser and IP address (envelope.Digester: in process,
	// no HSM call).
	Digests Digester
	// Risk configures the rules; its zero value challenges every registered card's purchase.
	Risk Risk
	// Whitelist is asked for the merchant; nil: no whitelist.
	Whitelist *whitelist.List
	// Metrics counts decisions; nil: not counted.
	Metrics *Metrics
	// OperatorID is acsOperatorID (2.2.0, 2.3.1): the identifier the DS assigned to the ACS operator.
	OperatorID string
	// App answers app-channel AReqs (appchannel.go); nil: they are answered U (03).
	App *AppChannel
	// Decoupled starts decoupled authentications (D, decoupled.go) for app cards when the requestor
	// asks for it; nil: never D.
	Decoupled *Challenges
}

// Digester computes keyed digests (envelope.Digester).
type Digester interface {
	Digest(domain string, data []byte) ([]byte, error)
}

// Decider answers AReqs: unknown, blocked, expired and unregistered cards are refused; a registered
// card's purchase is challenged unless the risk rules (risk.go) let it through.
type Decider struct {
	d  DecisionDeps
	db single // d.Pipe, else d.Pool
	// unregistered are the cards (lookup hashes) whose last read found them usable and not registered.
	unregistered unregisteredCards
}

// NewDecider returns a Decider.
func NewDecider(d DecisionDeps) *Decider {
	dc := &Decider{d: d, db: d.Pool}
	if d.Pipe != nil {
		dc.db = d.Pipe
	}
	return dc
}

// single is what the AReq's statements go through: each stands alone (its own transaction), so the
// pool and the pipeline give the same results.
type single interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// unregisteredCards remembers which cards were found without registration, so that only their next
// AReq is read with the refusal attached (refusingSQL). Attached to every AReq, the refusal's values
// cost a registered card's AReq 7 to 12 % more CPU in make bench (the statement's 30 more parameters and
// its insert that stores nothing), while it saves an unregistered card's AReq its second statement;
// most of a bank's AReqs are for registered cards. A hint only: the statement decides, and a card found
// otherwise is forgotten. Bounded: when full it starts afresh (the first AReq of each card then takes two
// statements again).
type unregisteredCards struct {
	mu    sync.Mutex
	cards map[[32]byte]struct{}
}

// maxUnregisteredHints bounds the hints: about 80 bytes each.
const maxUnregisteredHints = 100_000

func (u *unregisteredCards) has(panHash []byte) bool {
	if len(panHash) != 32 {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.cards[[32]byte(panHash)]
	return ok
}

// note records what the read found of the card: usable and not registered, or otherwise.
func (u *unregisteredCards) note(panHash []byte, unregistered bool) {
	if len(panHash) != 32 {
		return
	}
	k := [32]byte(panHash)
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case !unregistered:
		delete(u.cards, k)
	case u.cards == nil || len(u.cards) >= maxUnregisteredHints:
		u.cards = map[[32]byte]struct{}{k: {}}
	default:
		u.cards[k] = struct{}{}
	}
}

// Decide looks the card up, decides, stores the transaction with its reasons, and returns the ARes,
// encoded through its version's element table. A second AReq with a threeDSServerTransID already
// answered is refused with Erro 305.
//
// Every valid request gets an answer of the specification's kind: the app channel, until it is built,
// gets U with reason 03 (unsupported device); 3RI requests are decided without a cardholder (decide3RI);
// a non-payment request in the browser is challenged like a payment; threeDSRequestorChallengeInd 06
// (data share only) is never answered C (2.3.1 Table A.17) but I.
//
// The database sees one read and one write (inputs.go). When a parallel AReq of the same card used up
// the low-value exemption between the two, the write stores nothing and the decision is made again.
func (dc *Decider) Decide(ctx context.Context, a *AReq) ([]byte, *Decision, error) {
	panHash, err := dc.d.Cards.LookupHash(a.AcctNumber)
	if err != nil && !errors.Is(err, cards.ErrNotFound) {
		return nil, nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	for attempt := 1; ; attempt++ {
		body, dec, raced, err := dc.decide(ctx, a, panHash, attempt < 3)
		if raced {
			continue
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return nil, nil, newErro(emv.ErrTransactionData, "threeDSServerTransID", a.MessageVersion, emv.TypeAReq).Echo(a.Message)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("acs: decide: %w", err)
		}
		if dec.TransStatus == "D" {
			// The confirmation goes to the app now, after the transaction is stored. Should that fail,
			// the ARes still stands (the DS has no way to ask again): the sweep ends the transaction with
			// U when its time is up, and its RReq says so.
			if err := dc.d.Decoupled.Start(ctx, uuid.MustParse(dec.ACSTransID)); err != nil {
				dc.d.Log.ErrorContext(ctx, "decoupled authentication not started", "acs_trans_id", dec.ACSTransID, "err", err)
			}
		}
		dc.d.Metrics.decided(dec.TransStatus, dec.Reasons)
		dc.d.Log.InfoContext(ctx, "areq decided", "acs_trans_id", dec.ACSTransID, "trans_status", dec.TransStatus,
			"reasons", strings.Join(dec.Reasons, ","))
		return body, dec, nil
	}
}

// decide makes one decision on what the read finds and writes it. raced reports that the low-value
// exemption it granted was used up by a parallel AReq before the write (nothing was stored); after two
// such races lowValue is false and the exemption is not tried again for this AReq.
func (dc *Decider) decide(ctx context.Context, a *AReq, panHash []byte, lowValue bool) (body []byte, dec *Decision, raced bool, err error) {
	now := dc.d.Clock.Now()
	d := &aresData{a: a, acsTransID: uuid.NewString(), referenceNo: dc.d.ReferenceNumber, operatorID: dc.d.OperatorID}
	var cardID, regID *uuid.UUID
	var reasons []string
	decide := func(status, reason string, why ...string) {
		d.status, d.reason = status, reason
		reasons = append(reasons, why...)
	}
	in := &decisionInputs{}
	if panHash != nil {
		knownWanted := dc.d.Risk.KnownBrowsers && a.DeviceChannel == ChannelBrowser
		var refusal []any
		if dc.refusesHere(a) && dc.unregistered.has(panHash) {
			refusal = dc.refusalArgs(a, d)
		}
		// A read that writes nothing goes by itself: in a batch it would wait for the others' commit and
		// its WAL flush (challenged AReq in make bench: ratio 0.205 with the read in the pipeline, 0.23
		// without).
		var db single = dc.d.Pool
		if refusal != nil {
			db = dc.db
		}
		if in, err = readInputs(ctx, db, panHash, a, dc.d.Risk.Velocity, now, knownWanted, refusal); err != nil {
			return nil, nil, false, err
		}
		dc.unregistered.note(panHash, in.card != nil && in.regID == nil && in.card.Status.Usable() && !in.card.Expired(now))
	}
	card := in.card
	switch {
	case card == nil:
		decide("N", statusReasonNoCardRecord, ReasonCardUnknown)
	case !card.Status.Usable(): // blocked, or closed (replaced)
		cardID = &card.ID
		decide("N", statusReasonNotPermitted, ReasonCardBlocked)
	case card.Expired(now):
		cardID = &card.ID
		decide("N", statusReasonExpiredCard, ReasonCardExpired)
	case a.DeviceChannel == ChannelApp && (dc.d.App == nil || len(dc.d.App.Chains[string(card.Scheme)]) == 0):
		cardID = &card.ID
		decide("U", statusReasonUnsupportedDevice, ReasonAppChannel)
	case in.regID == nil && dc.d.AV.Attempts() && a.DeviceChannel != Channel3RI:
		// The issuer's attempts policy: the cardholder has not registered, so the ACS proves that
		// authentication was attempted (A with the attempts value) instead of refusing (issue 15).
		cardID = &card.ID
		decide("A", "", ReasonNotRegistered, ReasonAttempts)
	case in.regID == nil:
		cardID = &card.ID
		decide("N", statusReasonNotEnrolled, ReasonNotRegistered)
	case in.locked:
		// Five wrong entries in a row locked the method (PSD2 RTS Art. 4): no purchase until support
		// lifts it, frictionless ones included.
		cardID, regID = &card.ID, in.regID
		decide("N", statusReasonNotPermitted, ReasonMethodLocked)
	default:
		cardID, regID = &card.ID, in.regID
		why, via := ReasonRegisteredMTAN, ViaMTAN
		if in.method == registration.MethodApp {
			why, via = ReasonRegisteredApp, ViaApp
		}
		if a.DeviceChannel == Channel3RI {
			regID = nil // no cardholder takes part
			decide("", "", why)
			break
		}
		if a.DeviceChannel == ChannelApp {
			iface, template, ok := chooseUI(a, in.method)
			if !ok {
				regID = nil
				decide("U", statusReasonUnsupportedDevice, why, ReasonAppUI)
				break
			}
			d.app = &appARes{iface: iface, template: template}
		}
		decide("C", "", why)
		d.via, d.mandated = via, a.ChallengeInd == challengeIndMandated
		if d.app == nil {
			d.acsURL = dc.d.ChallengeURL // the app's acsURL travels inside acsSignedContent
		}
	}

	var browserDigest, ipDigest []byte
	if d.status == "C" && dc.d.Risk.KnownBrowsers {
		if browserDigest, ipDigest, err = dc.browserDigests(a); err != nil {
			return nil, nil, false, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
		}
	}
	frictionless, countLowValue := false, false
	switch {
	case a.DeviceChannel == Channel3RI && d.status == "":
		ok, why, reason, err := dc.decide3RI(ctx, a, *cardID)
		if err != nil {
			return nil, nil, false, err
		}
		reasons = append(reasons, why)
		if !ok {
			d.status, d.reason = "N", reason
			break
		}
		frictionless = true
	case d.status == "C" && a.ChallengeInd == challengeIndDataShareOnly:
		// Data share only: the requestor will not challenge; the ACS acknowledges (2.3.1 Table A.17).
		d.status, d.acsURL, d.via, d.mandated = "I", "", "", false
		reasons = append(reasons, ReasonDataShareOnly)
	case d.status == "C" && in.alwaysConfirm:
		// The cardholder chose to confirm every purchase (R-X-1): no exemption, no trusted merchant.
		reasons = append(reasons, ReasonAlwaysConfirm)
		if dc.d.Whitelist != nil {
			listed := in.whitelisted
			d.listed = &listed
		}
	case d.status == "C" && !a.HasAmount:
		// A non-payment authentication without purchase data: nothing for the amount-based rules to
		// weigh, so the cardholder confirms.
		reasons = append(reasons, ReasonNonPayment)
	case d.status == "C":
		ri := riskInput{ipGiven: ipDigest != nil, recent: in.recent, whitelisted: in.whitelisted && dc.d.Whitelist != nil,
			scaCount: in.scaCount, scaSum: in.scaSum}
		if dc.d.Risk.KnownBrowsers {
			ri.browserKnown, ri.ipKnow = known(in.browsers, browserDigest), ipDigest != nil && known(in.ips, ipDigest)
		}
		risk := dc.d.Risk
		if !lowValue {
			risk.LowValue.Enabled = false
		}
		var as assessment
		as, countLowValue = risk.assess(a, ri)
		reasons = append(reasons, as.reasons...)
		if dc.d.Whitelist != nil {
			d.listed = &as.whitelisted
		}
		frictionless = as.frictionless
		d.exemption = exemptionOf(as.reasons)
	}
	if frictionless {
		d.status, d.acsURL, d.via, d.mandated = "Y", "", "", false
	}
	if d.status == "Y" || d.status == "A" {
		v, err := generateAV(dc.d.AV, avTransaction(a, card.Scheme, d.acsTransID, d.status, decidedMethod(d.status, a.DeviceChannel)))
		if err != nil {
			return nil, nil, false, err
		}
		d.eci, d.authValue = v.ECI, v.AV
	}
	if d.status == "C" && dc.decoupled(a, in.method) {
		// The cardholder confirms in the bank's app, without browser or SDK (2.3.1 Req 321).
		d.status, d.acsURL, d.app = "D", "", nil
		d.decWait = min(a.DecoupledMaxTime, DecoupledMaxWait)
		reasons = append(reasons, ReasonDecoupled)
	}
	if d.status != "C" {
		d.app = nil
	}
	if d.app != nil {
		if err := dc.d.App.open(a, string(card.Scheme), d.acsTransID, d.app); err != nil {
			return nil, nil, false, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
		}
	}
	if body, err = emv.Encode(d.message()); err != nil {
		return nil, nil, false, err
	}
	if in.refused {
		// The read stored the refusal (refusingSQL): the decision must be that refusal, or the two
		// disagree about a card's state, which TestTheReadStoresOnlyItsRefusal rules out.
		if d.status != "N" || d.reason != statusReasonNotEnrolled || regID != nil || len(reasons) != 1 || reasons[0] != ReasonNotRegistered {
			return nil, nil, false, fmt.Errorf("acs: the read stored N/13 for transaction %s, the decision is %s/%s %v", d.acsTransID,
				d.status, d.reason, reasons)
		}
		return body, &Decision{ACSTransID: d.acsTransID, TransStatus: d.status, TransStatusReason: d.reason, Reasons: reasons,
			storedByRead: true}, false, nil
	}
	var lv *lowValueCount
	if countLowValue {
		lv = &lowValueCount{max: dc.d.Risk.LowValue.MaxCount, maxSum: dc.d.Risk.LowValue.MaxCumulative}
	}
	stored, err := dc.insert(ctx, a, d, cardID, regID, reasons, browserDigest, ipDigest, lv)
	if err != nil || !stored {
		return nil, nil, !stored && err == nil, err
	}
	return body, &Decision{ACSTransID: d.acsTransID, TransStatus: d.status, TransStatusReason: d.reason, ECI: d.eci,
		AuthenticationValue: d.authValue, Reasons: reasons}, false, nil
}

// Decision is what Decide decided, for callers in this program (the demo seed, tests); the 3DS Server
// gets the ARes.
type Decision struct {
	ACSTransID          string
	TransStatus         string
	TransStatusReason   string
	ECI                 string
	AuthenticationValue string
	Reasons             []string
	// storedByRead: the read stored the transaction (refusingSQL), the AReq took one statement.
	storedByRead bool
}

// exemptionOf names the exemption that made a purchase frictionless (transChallengeExemption).
func exemptionOf(reasons []string) string {
	for _, r := range reasons {
		switch r {
		case ReasonWhitelisted:
			return exemptionTrustList
		case ReasonLowValue:
			return exemptionLowValue
		case ReasonTRA100, ReasonTRA250, ReasonTRA500:
			return exemptionTRA
		}
	}
	return ""
}

// decide3RI decides a 3DS Requestor Initiated request (deviceChannel 03): the cardholder is not there, so
// the ACS authenticates only a recurring or instalment payment that follows a purchase of the same card
// at the same merchant that the cardholder authenticated (threeDSRequestorPriorAuthenticationInfo names
// its acsTransID), within the amount rules. Anything else is N: 21 for a kind of 3RI this ACS does not
// authenticate, 07 where the prior authentication is missing or does not match.
func (dc *Decider) decide3RI(ctx context.Context, a *AReq, cardID uuid.UUID) (bool, string, string, error) {
	// 2.1.0 knows 3RI for non-payment only: its 3RI AReqs carry no purchase data.
	if a.MessageCategory != CategoryPayment || !a.HasAmount || (a.ThreeRIInd != threeRIRecurring && a.ThreeRIInd != threeRIInstalment) {
		return false, Reason3RINotSupported, statusReason3RINotSupported, nil
	}
	prior, err := uuid.Parse(a.PriorACSTransID)
	if err != nil {
		return false, Reason3RINoPrior, statusReasonInvalidTx, nil
	}
	var ok bool
	err = dc.d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM acs_transactions WHERE acs_trans_id = $1 AND card_id = $2
			AND acquirer_bin = $3 AND acquirer_merchant_id = $4 AND (trans_status = 'Y' OR final_status = 'Y'))`,
		prior, cardID, a.AcquirerBIN, a.AcquirerMerchantID).Scan(&ok)
	if err != nil {
		return false, "", "", err
	}
	if !ok {
		return false, Reason3RINoPrior, statusReasonInvalidTx, nil
	}
	if lim := dc.d.Risk.ChallengeAbove; lim.IsPositive() && (a.Currency != currencyEUR || a.Amount.GreaterThan(lim)) {
		return false, ReasonAmountAboveLimit, statusReasonInvalidTx, nil
	}
	return true, Reason3RIAuthenticated, "", nil
}

// lowValueCount is a low-value exemption to be counted with the transaction, within these limits.
type lowValueCount struct {
	max    int
	maxSum decimal.Decimal
}

// The transaction's columns and values, shared by both forms of insertTx.
const (
	txColumns = `acs_trans_id, three_ds_server_trans_id, ds_trans_id, message_version,
		card_id, registration_id, amount, minor_units, currency, exponent, merchant_name, acquirer_bin, acquirer_merchant_id, mcc,
		merchant_country, purchase_date, challenge_ind, notification_url, three_ds_server_url, browser_language, trans_status,
		trans_status_reason, reasons, created_at, eci, browser_digest, ip_digest, ds_url, device_channel, message_category,
		requestor_name, due_at`
	txValues = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''), nullif($12, ''), nullif($13, ''), nullif($14, ''),
		nullif($15, ''), $16, $17, nullif($18, ''), nullif($19, ''), nullif($20, ''), $21, nullif($22, ''), $23, $24, nullif($25, ''),
		$26, $27, nullif($28, ''), $29, $30, nullif($31, ''), $32`
	insertTxSQL = `INSERT INTO acs_transactions (` + txColumns + `) VALUES (` + txValues + `)`
	// insertTxLowValueSQL counts the purchase in the card's low-value counters with a guarded upsert,
	// whose row lock serialises parallel AReqs for the card and whose WHERE refuses the purchase that
	// would pass a limit; the transaction is stored only when the count was taken ($33 max count, $34
	// max sum, $7 the amount).
	insertTxLowValueSQL = `WITH lv AS (
		INSERT INTO acs_sca_counters AS c (card_id, count, cumulative, since) VALUES ($5, 1, $7, $24)
		ON CONFLICT (card_id) DO UPDATE SET count = c.count + 1, cumulative = c.cumulative + $7
		WHERE c.count + 1 <= $33 AND c.cumulative + $7 <= $34
		RETURNING 1)
	INSERT INTO acs_transactions (` + txColumns + `) SELECT ` + txValues + ` WHERE EXISTS (SELECT 1 FROM lv)`
	// insertTxAppSQL stores an app-channel challenge with its secure channel in one statement: the SDK's
	// transaction id and type, the UI chosen, and the encrypted key ($33-$37). Both rows or neither.
	insertTxAppSQL = `WITH t AS (INSERT INTO acs_transactions (` + txColumns + `) VALUES (` + txValues + `) RETURNING acs_trans_id)
	INSERT INTO acs_sdk_sessions (acs_trans_id, sdk_trans_id, sdk_type, ui_interface, ui_template, cek_enc, created_at)
	SELECT acs_trans_id, $33, nullif($34, ''), $35, $36, $37, $24 FROM t`
)

// txParams is how many parameters txValues has.
const txParams = 32

// insert stores the answered AReq in one statement (its own transaction). With lv it also counts the
// low-value exemption, and stored is false when the limits no longer allowed it.
func (dc *Decider) insert(ctx context.Context, a *AReq, d *aresData, cardID, regID *uuid.UUID, reasons []string,
	browserDigest, ipDigest []byte, lv *lowValueCount) (stored bool, err error) {
	args := dc.txArgs(a, d, d.status, d.reason, cardID, regID, reasons, browserDigest, ipDigest)
	sql := insertTxSQL
	switch {
	case lv != nil:
		sql, args = insertTxLowValueSQL, append(args, lv.max, lv.maxSum)
	case d.app != nil:
		sql, args = insertTxAppSQL, append(args, a.SDKTransID, a.SDKType, d.app.iface, d.app.template, d.app.cekEnc)
	}
	tag, err := dc.db.Exec(ctx, sql, args...)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// txArgs are txValues' arguments for the AReq a answered with d's status and reason.
func (dc *Decider) txArgs(a *AReq, d *aresData, status, reason string, cardID, regID *uuid.UUID, reasons []string,
	browserDigest, ipDigest []byte) []any {
	why, _ := json.Marshal(reasons)
	var amount, minor, currency, exponent any
	if a.HasAmount {
		amount, minor, currency, exponent = a.Amount, a.MinorUnits, a.Currency, a.Exponent
	}
	var purchaseDate any
	if !a.PurchaseDate.IsZero() {
		purchaseDate = a.PurchaseDate
	}
	now := dc.d.Clock.Now()
	var due any
	switch status {
	case "C":
		due = now.Add(CReqTimeout) // the sweep ends it unless the CReq comes (creq.go moves it on)
	case "D":
		due = now.Add(d.decWait) // the sweep ends it unless the app answers first
	}
	return []any{d.acsTransID, a.ThreeDSServerTransID, a.DSTransID, string(a.MessageVersion), cardID, regID, amount, minor, currency,
		exponent, a.MerchantName, a.AcquirerBIN, a.AcquirerMerchantID, a.MCC, a.MerchantCountryCode, purchaseDate,
		strings.Join(append([]string{a.ChallengeInd}, tail(a.ChallengeInds)...), ","), a.NotificationURL, a.ThreeDSServerURL,
		a.BrowserLanguage, status, reason, why, now, d.eci, browserDigest, ipDigest, a.DSURL,
		a.DeviceChannel, a.MessageCategory, a.ThreeDSRequestorName, due}
}

// refusalArgs are the arguments refusingSQL stores with the read: the transaction of the AReq a
// answered N/13 by d, without the card and the registration ($5, $6: the read supplies them).
func (dc *Decider) refusalArgs(a *AReq, d *aresData) []any {
	args := dc.txArgs(a, d, "N", statusReasonNotEnrolled, nil, nil, []string{ReasonNotRegistered}, nil, nil)
	return append(args[:4:4], args[6:]...)
}

// refusesHere reports whether the decision answers every usable, unregistered card's AReq a with N/13,
// so that the read may store that answer itself (refusingSQL; Decide attaches it for cards last found
// unregistered, unregisteredCards): not with the attempts policy, which answers A (except for 3RI), and
// not in the app channel, which may answer U first.
func (dc *Decider) refusesHere(a *AReq) bool {
	return a.DeviceChannel != ChannelApp && (!dc.d.AV.Attempts() || a.DeviceChannel == Channel3RI)
}

// tail is the list after its first item.
func tail(s []string) []string {
	if len(s) < 2 {
		return nil
	}
	return s[1:]
}
