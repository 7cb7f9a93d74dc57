package acs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"example.com/acs/apperr"
	"example.com/acs/cards"
	"example.com/acs/registration"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

// ARes is the authentication response (the elements this ACS sets).
type ARes struct {
	MessageType          string `json:"messageType"`
	MessageVersion       string `json:"messageVersion"`
	ThreeDSServerTransID string `json:"threeDSServerTransID"`
	DSTransID            string `json:"dsTransID"`
	ACSTransID           string `json:"acsTransID"`
	ACSReferenceNumber   string `json:"acsReferenceNumber"`
	TransStatus          string `json:"transStatus"`
	TransStatusReason    string `json:"transStatusReason,omitempty"`
	ACSURL               string `json:"acsURL,omitempty"`
	ACSChallengeMandated string `json:"acsChallengeMandated,omitempty"`
	AuthenticationType   string `json:"authenticationType,omitempty"`
	ECI                  string `json:"eci,omitempty"`
	AuthenticationValue  string `json:"authenticationValue,omitempty"`
	// The merchant's place on the card's whitelist, as 2.2 names it and as 2.3 renamed it.
	WhiteListStatus       string `json:"whiteListStatus,omitempty"`
	WhiteListStatusSource string `json:"whiteListStatusSource,omitempty"`
	TrustListStatus       string `json:"trustListStatus,omitempty"`
	TrustListStatusSource string `json:"trustListStatusSource,omitempty"`
}

// whiteListSourceACS is whiteListStatusSource 03: the status was set by the ACS.
const whiteListSourceACS = "03"

// setListStatus reports the whitelist status in the element the message version has (none in 2.1).
func setListStatus(version string, on bool, status, source *string, trustStatus, trustSource *string) {
	v := "N"
	if on {
		v = "Y"
	}
	switch version {
	case "2.2.0":
		*status, *source = v, whiteListSourceACS
	case "2.3.1":
		*trustStatus, *trustSource = v, whiteListSourceACS
	}
}

// Reasons name why a transaction was decided as it was; stored with it and shown to support.
const (
	ReasonCardUnknown       = "card_unknown"
	ReasonCardBlocked       = "card_blocked"
	ReasonCardExpired       = "card_expired"
	ReasonNotRegistered     = "not_registered"
	ReasonRegisteredMTAN    = "registered_mtan"
	ReasonRegisteredApp     = "registered_app"
	ReasonChallengeMandated = "challenge_mandated"
)

// browserDigests are the keyed digests of the browser (user agent, language, screen) and of the IP
// address (nil when the AReq gave none): the rules compare browsers without storing what identifies one.
func (dc *Decider) browserDigests(a *AReq) ([]byte, []byte, error) {
	b, err := dc.d.Hasher.Index("browser", []byte(a.BrowserUserAgent+"\x00"+a.BrowserLanguage+"\x00"+a.BrowserScreenWidth+"x"+a.BrowserScreenHeight))
	if err != nil || a.BrowserIP == "" {
		return b, nil, err
	}
	ip, err := dc.d.Hasher.Index("browser_ip", []byte(a.BrowserIP))
	return b, ip, err
}

// EMV transStatusReason values used (EMV 3DS 2.2.0, Table A.1).
const (
	statusReasonExpiredCard   = "05"
	statusReasonNoCardRecord  = "08"
	statusReasonNotPermitted  = "12"
	statusReasonNotEnrolled   = "13"
	challengeIndMandated      = "04"
	authenticationTypeDynamic = "02"
)

// DecisionDeps are what the decision needs.
type DecisionDeps struct {
	Pool         *pgxpool.Pool
	Cards        *cards.Directory
	Registration *registration.Registrar
	Clock        clockwork.Clock
	Log          *slog.Logger
	// ChallengeURL is the acsURL a challenged browser posts its CReq to.
	ChallengeURL string
	// ReferenceNumber is the ACS reference number the EMVCo approval assigns.
	ReferenceNumber string
	// MAC computes the authentication value of a frictionless Y.
	MAC MACer
	// Hasher computes the keyed digests of the browser and IP address (hsm.HSM.Index).
	Hasher Hasher
	// Risk configures the rules; its zero value challenges every registered card's purchase.
	Risk Risk
	// Whitelist is asked for the merchant; nil: no whitelist.
	Whitelist *whitelist.List
	// Metrics counts decisions; nil: not counted.
	Metrics *Metrics
}

// Hasher computes HSM-keyed digests.
type Hasher interface {
	Index(domain string, data []byte) ([]byte, error)
}

// Decider answers AReqs: unknown, blocked, expired and unregistered cards are refused; a registered
// card's purchase is challenged unless the risk rules (risk.go) let it through.
type Decider struct{ d DecisionDeps }

// NewDecider returns a Decider.
func NewDecider(d DecisionDeps) *Decider { return &Decider{d: d} }

// Decide looks the card up, decides, stores the transaction with its reasons, and returns the ARes. A
// second AReq with a threeDSServerTransID already answered is refused with Erro 305.
func (dc *Decider) Decide(ctx context.Context, a *AReq) (*ARes, error) {
	res := &ARes{MessageType: "ARes", MessageVersion: a.MessageVersion, ThreeDSServerTransID: a.ThreeDSServerTransID.String(),
		DSTransID: a.DSTransID.String(), ACSTransID: uuid.NewString(), ACSReferenceNumber: dc.d.ReferenceNumber}
	var cardID, regID *uuid.UUID
	var reasons []string
	decide := func(status, reason string, why ...string) {
		res.TransStatus, res.TransStatusReason = status, reason
		reasons = append(reasons, why...)
	}

	card, err := dc.d.Cards.FindByPAN(ctx, a.AcctNumber)
	switch {
	case errors.Is(err, cards.ErrNotFound):
		decide("N", statusReasonNoCardRecord, ReasonCardUnknown)
	case err != nil:
		return nil, err
	case card.Status == cards.Blocked:
		cardID = &card.ID
		decide("N", statusReasonNotPermitted, ReasonCardBlocked)
	case card.Expired(dc.d.Clock.Now()):
		cardID = &card.ID
		decide("N", statusReasonExpiredCard, ReasonCardExpired)
	default:
		cardID = &card.ID
		reg, err := dc.d.Registration.Active(ctx, card.ID)
		if apperr.KindOf(err) == apperr.NotFound {
			decide("N", statusReasonNotEnrolled, ReasonNotRegistered)
			break
		}
		if err != nil {
			return nil, err
		}
		regID = &reg.ID
		why := ReasonRegisteredMTAN
		if reg.Method == registration.MethodApp {
			why = ReasonRegisteredApp
		}
		decide("C", "", why)
		res.ACSURL, res.AuthenticationType, res.ACSChallengeMandated = dc.d.ChallengeURL, authenticationTypeDynamic, "N"
		if a.ChallengeInd == challengeIndMandated {
			res.ACSChallengeMandated = "Y"
		}
	}

	var browserDigest, ipDigest []byte
	if res.TransStatus == "C" && dc.d.Risk.KnownBrowsers {
		if browserDigest, ipDigest, err = dc.browserDigests(a); err != nil {
			return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
		}
	}
	var statusReason *string
	err = store.WithTx(ctx, dc.d.Pool, func(tx pgx.Tx) error {
		if res.TransStatus == "C" {
			in := riskInput{cardID: *cardID, ipGiven: ipDigest != nil}
			if dc.d.Risk.KnownBrowsers {
				var err error
				if in.browserKnown, in.ipKnow, err = knownBrowser(ctx, tx, *cardID, browserDigest, ipDigest); err != nil {
					return err
				}
			}
			as, err := dc.d.Risk.assess(ctx, tx, dc.d.Whitelist, a, in, dc.d.Clock.Now())
			if err != nil {
				return err
			}
			reasons = append(reasons[:1], as.reasons...)
			if dc.d.Whitelist != nil {
				setListStatus(a.MessageVersion, as.whitelisted, &res.WhiteListStatus, &res.WhiteListStatusSource,
					&res.TrustListStatus, &res.TrustListStatusSource)
			}
			if as.frictionless {
				res.TransStatus, res.ACSURL, res.AuthenticationType, res.ACSChallengeMandated = "Y", "", "", ""
				res.ECI = ECI(a.AcctNumber, "Y")
				if res.AuthenticationValue, err = AuthValue(dc.d.MAC, AVInput{ACSTransID: res.ACSTransID, AcctNumber: a.AcctNumber,
					MinorUnits: a.MinorUnits, Currency: a.Currency, AcquirerBIN: a.AcquirerBIN, AcquirerMerchantID: a.AcquirerMerchantID,
					TransStatus: "Y", ECI: res.ECI}); err != nil {
					return apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
				}
			}
		}
		why, _ := json.Marshal(reasons)
		var serverURL *string
		if a.ThreeDSServerURL != "" {
			serverURL = &a.ThreeDSServerURL
		}
		if res.TransStatusReason != "" {
			statusReason = &res.TransStatusReason
		}
		var eci *string
		if res.ECI != "" {
			eci = &res.ECI
		}
		_, err := tx.Exec(ctx, `INSERT INTO acs_transactions (acs_trans_id, three_ds_server_trans_id, ds_trans_id, message_version,
			card_id, registration_id, amount, minor_units, currency, exponent, merchant_name, acquirer_bin, acquirer_merchant_id, mcc,
			merchant_country, purchase_date, challenge_ind, notification_url, three_ds_server_url, browser_language, trans_status,
			trans_status_reason, reasons, created_at, eci, browser_digest, ip_digest)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25,
				$26, $27)`,
			res.ACSTransID, a.ThreeDSServerTransID, a.DSTransID, a.MessageVersion, cardID, regID, a.Amount, a.MinorUnits, a.Currency,
			a.Exponent, a.MerchantName, a.AcquirerBIN, a.AcquirerMerchantID, a.MCC, a.MerchantCountryCode, a.PurchaseDate, a.ChallengeInd,
			a.NotificationURL, serverURL, a.BrowserLanguage, res.TransStatus, statusReason, why, dc.d.Clock.Now(), eci,
			browserDigest, ipDigest)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		e := newErro(ErrTransactionData, "threeDSServerTransID", a.MessageVersion, "AReq")
		e.ThreeDSServerTransID = a.ThreeDSServerTransID.String()
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("acs: store transaction: %w", err)
	}
	dc.d.Metrics.decided(res.TransStatus, reasons)
	dc.d.Log.InfoContext(ctx, "areq decided", "acs_trans_id", res.ACSTransID, "trans_status", res.TransStatus,
		"reasons", strings.Join(reasons, ","))
	return res, nil
}
