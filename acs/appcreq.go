package acs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/apperr"
	"example.com/acs/emv"
	"example.com/acs/emv/sdkcrypto"
	"example.com/acs/envelope"
	"example.com/acs/registration"
)

// The app channel's CReq/CRes (EMV 3DS 2.3.1 5.9.5, 6.2.4): each CReq is a JWE under the transaction's
// key, each CRes one back. AppStep answers one:
//   - a body that is no compact JWE of the app channel, or names no transaction with a secure channel:
//     Erro 101 or 301 to the SDK, nothing changes (no transaction to end);
//   - a CReq that does not decrypt, repeats or skips a counter (replay, out of sequence), or whose
//     content breaks its table: Erro 302 (or 201/203 naming the element) to the SDK, and the
//     transaction ends with U, challengeCancel 10 and the Erro in the RReq (5.9.5.1);
//   - otherwise the step the CReq asks for, with its CRes: the first opens the challenge (the app's
//     confirmation or the mTAN's SMS go out), later ones carry the mTAN and answer, oobContinue,
//     resendChallenge or challengeCancel; once the transaction has ended, the final CRes, after the
//     RReq was delivered (Step 18-23).
// The counters move in one guarded UPDATE per CReq (both, since every CReq gets one CRes): a second
// CReq with the same counter finds the row moved on and is refused as a replay.

// AppReply is AppStep's answer: a CRes as a compact JWE, or an Erro in plain JSON (Req 190), or
// nothing (an Erro the SDK sent). SDKTransID is the X-Request-ID of the answer (Req 469), where known.
type AppReply struct {
	JWE        string
	Erro       *Erro
	SDKTransID string
}

// sdkSession is a transaction's stored secure channel.
type sdkSession struct {
	cek                  []byte // nil: the final CRes was sent
	enc                  *string
	stoa, textStep       int
	sdkType, template    string
	sdkTransID, serverID string
	version              string
	mtanEnc              []byte
}

// maxAppCReq bounds a CReq body: a native UI's CReq is well under a kilobyte, but a 2.3.1 CReq may
// carry message extensions of up to 81,920 characters, and the JWE adds a third.
const maxAppCReq = 128 << 10

// AppStep answers one app CReq (the body as posted), or an Erro the SDK posted.
func (c *Challenges) AppStep(ctx context.Context, body []byte) (*AppReply, error) {
	if len(body) > maxAppCReq {
		return &AppReply{Erro: newErro(emv.ErrMessageInvalid, "Invalid Formatted Message", "", emv.TypeCReq)}, nil
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		return c.sdkErro(ctx, t)
	}
	compact := string(body)
	kid, err := sdkcrypto.KeyID(compact)
	if err != nil {
		return &AppReply{Erro: newErro(emv.ErrMessageInvalid, "not a JWE-protected CReq", "", emv.TypeCReq)}, nil
	}
	// The canonical form only: another spelling of the id would not match the key's binding.
	id, err := uuid.Parse(kid)
	if err != nil || id.String() != kid {
		return &AppReply{Erro: newErro(emv.ErrTransactionUnknown, "kid", "", emv.TypeCReq)}, nil
	}
	s, err := c.session(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return &AppReply{Erro: newErro(emv.ErrTransactionUnknown, "kid", "", emv.TypeCReq)}, nil
	}
	if err != nil {
		return nil, err
	}
	// Until the CReq decrypted, the sender proved nothing: its Erro names the transaction it gave only.
	bare := func(code, detail string) *Erro {
		e := newErro(code, detail, emv.Version(s.version), emv.TypeCReq)
		e.ACSTransID = id.String()
		return e
	}
	full := func(code, detail string) *Erro {
		e := bare(code, detail)
		e.ThreeDSServerTransID, e.SDKTransID = s.serverID, s.sdkTransID
		return e
	}
	if s.cek == nil {
		return &AppReply{Erro: bare(emv.ErrTransactionStatus, "the transaction has ended and its final CRes was sent")}, nil
	}
	// A refusal that ends the transaction: U, challengeCancel 10, the Erro in the RReq (5.9.5.1).
	refuse := func(e *Erro) (*AppReply, error) {
		if _, err := c.d.Results.Finish(ctx, id, resultCReqRefused(emv.Version(s.version), e)); err != nil &&
			apperr.KindOf(err) != apperr.NotFound {
			return nil, err
		}
		c.deliver(ctx, &Final{ACSTransID: id})
		return &AppReply{Erro: e, SDKTransID: e.SDKTransID}, nil
	}
	allowed := []sdkcrypto.Enc{sdkcrypto.A128CBCHS256, sdkcrypto.A128GCM}
	if s.sdkType == "02" {
		allowed = allowed[1:] // a Split-SDK protects with A128GCM only (5.9.5: otherwise 310)
	}
	if s.enc != nil {
		allowed = []sdkcrypto.Enc{sdkcrypto.Enc(*s.enc)} // the first CReq chose it for the transaction
	}
	// The key is held for this CReq's step only: it also seals the CRes, and is wiped when AppStep returns.
	defer clear(s.cek)
	pt, enc, err := sdkcrypto.OpenCReq(s.cek, id.String(), compact, allowed...)
	if err != nil {
		if s.sdkType == "02" && s.enc == nil && errors.Is(err, sdkcrypto.ErrNotJWE) {
			return refuse(bare("310", "enc"))
		}
		return refuse(bare(emv.ErrDecryption, "the CReq does not decrypt under the transaction's key"))
	}
	m, e := emv.Decode(pt, emv.TypeCReq, emv.Context{Channel: emv.APP})
	if e != nil {
		e.ThreeDSServerTransID, e.ACSTransID, e.SDKTransID = s.serverID, id.String(), s.sdkTransID
		return refuse(e)
	}
	switch {
	case m.Str("acsTransID") != id.String():
		return refuse(full(emv.ErrTransactionUnknown, "acsTransID"))
	case !strings.EqualFold(m.Str("threeDSServerTransID"), s.serverID):
		return refuse(full(emv.ErrTransactionUnknown, "threeDSServerTransID"))
	case m.Str("sdkTransID") != s.sdkTransID:
		return refuse(full(emv.ErrTransactionUnknown, "sdkTransID"))
	case string(m.Version) != s.version:
		return refuse(full(emv.ErrFormat, "messageVersion"))
	}
	if counter, err := strconv.Atoi(m.Str("sdkCounterStoA")); err != nil || counter != s.stoa {
		return refuse(full(emv.ErrDecryption, "sdkCounterStoA"))
	}
	v, err := c.View(ctx, id)
	if err != nil {
		return nil, err
	}
	if f := v.Final; f != nil {
		// Ended before this CReq: by a timeout (Req 222, 225: 402), or otherwise without a final CRes to
		// give (a refusal's U); a Y or N the app's answer or a cancel decided gets its final CRes.
		switch {
		case f.Why == ReasonNoCReq || f.Why == ReasonChallengeTimeout:
			return &AppReply{Erro: full(emv.ErrTimedOut, "the challenge timed out"), SDKTransID: s.sdkTransID}, nil
		case f.TransStatus != "Y" && f.TransStatus != "N":
			return &AppReply{Erro: full(emv.ErrTransactionStatus, "the transaction has ended"), SDKTransID: s.sdkTransID}, nil
		}
	} else if s.stoa > 0 {
		if name := entryProblem(s.template, m); name != "" {
			return refuse(full(emv.ErrFormat, name)) // Table A.16: no such combination of entries
		}
	}
	atos, ok, err := c.advance(ctx, id, s.stoa, enc)
	if err != nil {
		return nil, err
	}
	if !ok {
		return refuse(full(emv.ErrDecryption, "sdkCounterStoA")) // another CReq with this counter came first
	}
	reply, err := c.answerStep(ctx, id, s, m, v, enc, atos)
	if err != nil {
		// Nothing was sent under this counter: give it back, so that the SDK's retry of the same CReq
		// is served (the step itself is idempotent by the transaction's state).
		c.retreat(ctx, id, s.stoa)
		return nil, err
	}
	return reply, nil
}

// answerStep does the step and seals its CRes under counter atos; a final CRes retires the key.
func (c *Challenges) answerStep(ctx context.Context, id uuid.UUID, s *sdkSession, m *emv.Message, v *View, enc sdkcrypto.Enc,
	atos int) (*AppReply, error) {
	cres, final, err := c.appStep(ctx, id, s, m, v)
	if err != nil {
		var r *Refusal
		if errors.As(err, &r) {
			r.Erro.SDKTransID = s.sdkTransID
			return &AppReply{Erro: r.Erro, SDKTransID: s.sdkTransID}, nil
		}
		return nil, err
	}
	cres.Set("acsCounterAtoS", fmt.Sprintf("%03d", atos))
	plain, err := emv.Encode(cres)
	if err != nil {
		return nil, err
	}
	out, err := sdkcrypto.SealCRes(s.cek, enc, id.String(), uint8(atos), plain)
	if err != nil {
		return nil, err
	}
	if final {
		if _, err := c.d.Pool.Exec(ctx, `UPDATE acs_sdk_sessions SET final_cres_at = $2, cek_enc = NULL, mtan_entered_enc = NULL
			WHERE acs_trans_id = $1`, id, c.d.Clock.Now()); err != nil {
			return nil, err
		}
	}
	return &AppReply{JWE: out, SDKTransID: s.sdkTransID}, nil
}

// retreat gives back the counters advance took for a CReq that got no CRes; best effort.
func (c *Challenges) retreat(ctx context.Context, id uuid.UUID, stoa int) {
	if _, err := c.d.Pool.Exec(ctx, `UPDATE acs_sdk_sessions SET counter_stoa = counter_stoa - 1, counter_atos = counter_atos - 1
		WHERE acs_trans_id = $1 AND counter_stoa = $2`, id, stoa+1); err != nil {
		c.d.Log.WarnContext(ctx, "app CReq counter not given back", "acs_trans_id", id, "err", err)
	}
}

// entryProblem checks a later CReq's entries against Table A.16 for the UI: text (01) takes exactly one
// of the entries, challengeNoEntry, challengeCancel or resendChallenge; OOB (04) oobContinue or
// challengeCancel. It names the element that does not belong, or "".
func entryProblem(template string, m *emv.Message) string {
	entry := m.Has("challengeDataEntry") || m.Has("challengeDataEntryTwo")
	n := 0
	for _, on := range []bool{entry, m.Has("challengeNoEntry"), m.Has("challengeCancel"), m.Has("resendChallenge")} {
		if on {
			n++
		}
	}
	switch template {
	case uiTypeHTML:
		switch {
		case entry || m.Has("resendChallenge") || m.Has("challengeNoEntry"):
			return "challengeDataEntry" // the HTML UI answers through challengeHTMLDataEntry only
		case !m.Has("challengeHTMLDataEntry") && !m.Has("challengeCancel"):
			return "challengeHTMLDataEntry"
		}
	case uiTypeOOB:
		switch {
		case entry:
			return "challengeDataEntry"
		case m.Has("resendChallenge"):
			return "resendChallenge"
		case m.Has("challengeCancel") && m.Has("oobContinue"):
			return "oobContinue"
		}
	default:
		if n > 1 {
			for _, name := range []string{"challengeCancel", "resendChallenge", "challengeNoEntry"} {
				if m.Has(name) {
					return name
				}
			}
		}
		if n == 0 {
			return "challengeDataEntry"
		}
	}
	return ""
}

// sdkErro handles an Erro the SDK posted (for example 302 on a CRes it could not decrypt): the open app
// transaction it names ends with U, challengeCancel 09 and the Erro in the RReq (5.9.5); nothing is
// answered. An Erro naming nothing of this ACS changes nothing.
func (c *Challenges) sdkErro(ctx context.Context, body []byte) (*AppReply, error) {
	e, erro := emv.Decode(body, emv.TypeErro, emv.Context{Channel: emv.APP})
	if erro != nil {
		return &AppReply{Erro: erro}, nil
	}
	id, err := uuid.Parse(e.Str("acsTransID"))
	if err != nil || id.String() != e.Str("acsTransID") {
		return &AppReply{}, nil
	}
	s, err := c.session(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (s.sdkTransID != e.Str("sdkTransID") || s.cek == nil)) {
		return &AppReply{}, nil
	}
	if err != nil {
		return nil, err
	}
	clear(s.cek)
	copied := &Erro{ThreeDSServerTransID: e.Str("threeDSServerTransID"), ACSTransID: id.String(), SDKTransID: s.sdkTransID,
		MessageType: "Erro", MessageVersion: e.Str("messageVersion"), ErrorCode: e.Str("errorCode"),
		ErrorComponent: e.Str("errorComponent"), ErrorDescription: e.Str("errorDescription"), ErrorDetail: e.Str("errorDetail"),
		ErrorMessageType: e.Str("errorMessageType")}
	r := resultCReqRefused(emv.Version(s.version), copied)
	if emv.Version(s.version) == emv.V231 {
		r.Cancel = cancelErroFromSDK
	}
	if _, err := c.d.Results.Finish(ctx, id, r); err != nil && apperr.KindOf(err) != apperr.NotFound {
		return nil, err
	}
	c.deliver(ctx, &Final{ACSTransID: id})
	return &AppReply{SDKTransID: s.sdkTransID}, nil
}

// session reads a transaction's secure channel and decrypts its key.
func (c *Challenges) session(ctx context.Context, id uuid.UUID) (*sdkSession, error) {
	s := &sdkSession{}
	var cekEnc []byte
	var sdkType *string
	err := c.d.Pool.QueryRow(ctx, `SELECT s.cek_enc, s.enc, s.counter_stoa, s.text_step, s.sdk_type, s.ui_template,
			s.sdk_trans_id, t.three_ds_server_trans_id::text, t.message_version, s.mtan_entered_enc
		FROM acs_sdk_sessions s JOIN acs_transactions t ON t.acs_trans_id = s.acs_trans_id WHERE s.acs_trans_id = $1`, id).
		Scan(&cekEnc, &s.enc, &s.stoa, &s.textStep, &sdkType, &s.template, &s.sdkTransID, &s.serverID, &s.version, &s.mtanEnc)
	if err != nil {
		return nil, err
	}
	s.sdkType = deref(sdkType)
	if cekEnc == nil {
		return s, nil // the final CRes was sent
	}
	if s.cek, err = c.d.Sessions.Decrypt(ctx, sessionKeyAD(id.String()), cekEnc); err != nil {
		return nil, err
	}
	return s, nil
}

// advance moves both counters on from the CReq's (6.2.4.3/6.2.4.4) and fixes the enc at the first
// CReq; ok is false when another CReq with this counter came first (a replay) or the counter would
// wrap. It returns the acsCounterAtoS of this CReq's CRes.
func (c *Challenges) advance(ctx context.Context, id uuid.UUID, stoa int, enc sdkcrypto.Enc) (atos int, ok bool, err error) {
	err = c.d.Pool.QueryRow(ctx, `UPDATE acs_sdk_sessions SET counter_stoa = counter_stoa + 1, counter_atos = counter_atos + 1,
			enc = $3 WHERE acs_trans_id = $1 AND counter_stoa = $2 AND counter_stoa < 255 AND counter_atos < 255
			AND (enc IS NULL OR enc = $3)
		RETURNING counter_atos - 1`, id, stoa, string(enc)).Scan(&atos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return atos, err == nil, err
}

// appStep does what the CReq asks and returns the CRes to send (without its counter); final says it
// is the final CRes.
func (c *Challenges) appStep(ctx context.Context, id uuid.UUID, s *sdkSession, m *emv.Message, v *View) (*emv.Message, bool, error) {
	if v.Final == nil && s.stoa == 0 {
		// The first CReq opens the challenge: the checks and the start the browser's CReq has. Its view
		// is the challenge as the opening left it (issue 13: not read again).
		opened, err := c.Open(ctx, &CReq{Channel: ChannelApp, ThreeDSServerTransID: s.serverID, ACSTransID: id,
			MessageVersion: emv.Version(s.version), Claims: map[string]string{}})
		if err != nil {
			if apperr.KindOf(err) != apperr.TooMany {
				return nil, false, err
			}
			// The card's SMS budget is used up: the challenge stands, the CRes says so.
			if v, err = c.View(ctx, id); err != nil {
				return nil, false, err
			}
			return c.appCRes(s, v, "too_many_sms"), false, nil
		}
		if v = opened; v.Final == nil {
			return c.appCRes(s, v, ""), false, nil
		}
	} else if v.Final == nil {
		notice, err := c.appAnswer(ctx, id, s, v, m)
		if err != nil {
			return nil, false, err
		}
		if v, err = c.View(ctx, id); err != nil {
			return nil, false, err
		}
		if v.Final == nil {
			return c.appCRes(s, v, notice), false, nil
		}
	}
	// The RReq before the final CRes (Step 18-23): nothing to do where the view says the DS has it (the
	// app's answer delivered it).
	c.deliver(ctx, v.Final)
	return appFinalCRes(s, v.Final), true, nil
}

// appAnswer applies a later CReq: cancel, resend, the entries of the text UI, or oobContinue. It
// returns a notice for the next CRes (a wrong entry, a new mTAN).
func (c *Challenges) appAnswer(ctx context.Context, id uuid.UUID, s *sdkSession, v *View, m *emv.Message) (string, error) {
	if m.Has("challengeCancel") {
		_, err := c.d.Results.Finish(ctx, id, resultSDKCancel(m.Str("challengeCancel")))
		return "", err
	}
	if s.template == uiTypeHTML {
		q := htmlEntry(m)
		switch q.Get("action") {
		case "cancel":
			_, err := c.Cancel(ctx, id)
			return "", err
		case "verify":
			if v.Method == registration.MethodMTAN {
				return c.verifyEntry(ctx, id, q.Get("mtan"), q.Get("answer"))
			}
		case "resend":
			if v.Method == registration.MethodMTAN {
				return c.resend(ctx, id, s)
			}
		}
		if v.Method == registration.MethodApp {
			return "app_not_yet", nil
		}
		return "action", nil // no known action: the page again, asking for one
	}
	if v.Method != registration.MethodMTAN {
		return "app_not_yet", nil // oobContinue: the app has not answered yet, or the view would be final
	}
	if m.Str("resendChallenge") == "Y" {
		return c.resend(ctx, id, s)
	}
	if m.Str("challengeNoEntry") == "Y" {
		return "action", nil // nothing typed: no try counted, the same screen again
	}
	code, answer := m.Str("challengeDataEntry"), m.Str("challengeDataEntryTwo")
	if s.version != string(emv.V231) {
		// One entry box before 2.3.1: the mTAN first, then the answer (text_step 0 and 1).
		if s.textStep == 0 {
			return noticeAskAnswer, c.keepMTAN(ctx, id, code)
		}
		stored, err := c.d.Sessions.Decrypt(ctx, mtanAD(id.String()), s.mtanEnc)
		if err != nil {
			return "", err
		}
		code, answer = string(stored), code
		if _, err := c.d.Pool.Exec(ctx, `UPDATE acs_sdk_sessions SET text_step = 0, mtan_entered_enc = NULL WHERE acs_trans_id = $1`, id); err != nil {
			return "", err
		}
	}
	return c.verifyEntry(ctx, id, code, answer)
}

// verifyEntry checks the mTAN and the security answer, and returns the notice for the next CRes.
func (c *Challenges) verifyEntry(ctx context.Context, id uuid.UUID, code, answer string) (string, error) {
	// trustListDataEntry is not read: the CRes never offers the trust box (trustListInfoText), and an
	// SDK inside the merchant's app must not make the merchant trusted on its own (R-WL-1).
	out, err := c.VerifyMTAN(ctx, id, code, answer, false)
	switch {
	case out == OutcomePending:
		return "wrong", nil // one message for a wrong mTAN or answer, as on the page (R-AUTH-5)
	case out != "" || errors.Is(err, errEnded):
		return "", nil // decided (or ended meanwhile): the view shows the end
	case apperr.KindOf(err) == apperr.Expired:
		return "expired_mtan", nil
	default:
		return "", err
	}
}

// resend sends a new mTAN and returns the notice for the next CRes.
func (c *Challenges) resend(ctx context.Context, id uuid.UUID, s *sdkSession) (string, error) {
	if s.textStep == 1 { // 2.2.0: a new mTAN makes the one typed before void; ask for the mTAN again
		if _, err := c.d.Pool.Exec(ctx, `UPDATE acs_sdk_sessions SET text_step = 0, mtan_entered_enc = NULL
			WHERE acs_trans_id = $1`, id); err != nil {
			return "", err
		}
	}
	switch err := c.ResendMTAN(ctx, id); {
	case err == nil:
		return "resent", nil
	case apperr.KindOf(err) == apperr.TooMany:
		return "no_more_mtan", nil
	case errors.Is(err, errEnded):
		return "", nil // ended meanwhile (timed out): the view shows it
	default:
		return "", err
	}
}

// keepMTAN holds the mTAN typed at the first of the two steps of the text UI before 2.3.1, encrypted,
// until the answer comes.
func (c *Challenges) keepMTAN(ctx context.Context, id uuid.UUID, code string) error {
	enc, err := c.d.Sessions.Encrypt(mtanAD(id.String()), []byte(code))
	if err != nil {
		return err
	}
	_, err = c.d.Pool.Exec(ctx, `UPDATE acs_sdk_sessions SET text_step = 1, mtan_entered_enc = $2 WHERE acs_trans_id = $1`, id, enc)
	return err
}

func mtanAD(acsTransID string) envelope.AD {
	return envelope.AD{Table: "acs_sdk_sessions", Column: "mtan_entered_enc", Row: acsTransID}
}

// appCRes is the CRes of a challenge under way, in the UI the ARes announced (2.3.1 Table A.20).
func (c *Challenges) appCRes(s *sdkSession, v *View, notice string) *emv.Message {
	lang := screenLang(v.BrowserLanguage) // the phone's locale (deviceInfo), else German
	m := emv.NewMessage(emv.TypeCRes, emv.Version(s.version))
	m.Channel = emv.APP
	m.Set("threeDSServerTransID", s.serverID)
	m.Set("acsTransID", v.ACSTransID.String())
	m.Set("sdkTransID", s.sdkTransID)
	m.Set("acsUiType", s.template)
	m.Set("challengeCompletionInd", "N")
	if s.template == uiTypeHTML {
		htmlCRes(m, v, notice)
		return m
	}
	m.Set("challengeInfoHeader", tr(lang, "title"))
	what := v.Merchant + ", " + FormatAmount(v.Amount, v.Currency)
	if v.NonPayment {
		what = v.Merchant + ": " + tr(lang, "what_npa")
	}
	var info []string
	if notice != "" && notice != noticeAskAnswer {
		info = append(info, "**"+tr(lang, notice)+"**")
	}
	info = append(info, what, tr(lang, "check"))
	m.Set("whyInfoLabel", "Warum?")
	m.Set("whyInfoText", "Ihre Bank bestätigt Online-Zahlungen mit Ihrer Karte (Mastercard Identity Check, Visa Secure), damit niemand sonst mit ihr bezahlt.")
	switch s.template {
	case uiTypeOOB:
		info = append(info, tr(lang, "app_confirm"))
		m.Set("challengeInfoText", clipRunes(strings.Join(info, "\n"), 350))
		m.Set("oobContinueLabel", clip45(tr(lang, "app_done")))
	default: // text: the mTAN and the security answer
		info = append(info, tr(lang, "sent_to")+" "+v.MobileHint+".")
		if notice == "wrong" {
			info = append(info, fmt.Sprintf("%s: %d", tr(lang, "tries_left"), v.FailuresLeft))
		}
		if s.version == string(emv.V231) {
			m.Set("challengeEntryBox", entryBox(tr(lang, "mtan"), true))
			m.Set("challengeEntryBoxTwo", entryBox(tr(lang, "answer")+": "+question(v.QuestionKey, lang), false))
		} else if notice == noticeAskAnswer {
			m.Set("challengeInfoLabel", clip45(question(v.QuestionKey, lang)))
		} else {
			m.Set("challengeInfoLabel", tr(lang, "mtan"))
		}
		m.Set("challengeInfoText", clipRunes(strings.Join(info, "\n"), 350))
		m.Set("submitAuthenticationLabel", tr(lang, "confirm"))
		m.Set("resendInformationLabel", tr(lang, "resend"))
	}
	return m
}

// resultSDKCancel ends a challenge the SDK cancelled with its challengeCancel value (2.3.1 Table A.1):
// the cardholder's cancel (01) as on the page; a timeout at the SDK (08) as a timeout (14); any other
// value as the cardholder's refusal to go on, with the value the SDK gave.
func resultSDKCancel(value string) Result {
	r := resultCancelled
	switch value {
	case cancelByCardholder:
	case cancelSDKTimedOut:
		r.Reason, r.Cancel, r.ChallengeState, r.Why = statusReasonTimedOut, value, ChallengeTimedOut, ReasonChallengeTimeout
	default:
		r.Cancel = value
	}
	return r
}

// noticeAskAnswer: before 2.3.1, the mTAN was typed; the next CRes asks for the security answer.
const noticeAskAnswer = "ask_answer"

// entryBox is a challengeEntryBox (2.3.1 Table A.26): a numeric, one-time-code box for the mTAN, a
// masked text box for the answer.
func entryBox(label string, mtan bool) map[string]string {
	b := map[string]string{"challengeDataEntryLabel": clip45(label)}
	if mtan {
		b["challengeDataEntryKeyboardType"], b["challengeDataEntryAutofill"], b["challengeDataEntryAutofillType"] = "01", "Y", "01"
		b["challengeDataEntryLengthMax"] = "08"
	} else {
		b["challengeDataEntryKeyboardType"], b["challengeDataEntryMasking"], b["challengeDataEntryToggle"] = "02", "Y", "Y"
	}
	return b
}

// clip45 cuts a label to the 45 characters the CRes allows.
func clip45(s string) string { return clipRunes(s, 45) }

// clipRunes cuts s to n characters (a merchant's long name must not make the CRes invalid).
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// appFinalCRes is the final CRes (2.3.1 Table B.5): the transaction's status and challengeCompletionInd Y.
func appFinalCRes(s *sdkSession, f *Final) *emv.Message {
	m := emv.NewMessage(emv.TypeCRes, emv.Version(s.version))
	m.Channel = emv.APP
	m.Set("threeDSServerTransID", s.serverID)
	m.Set("acsTransID", f.ACSTransID.String())
	m.Set("sdkTransID", s.sdkTransID)
	m.Set("challengeCompletionInd", "Y")
	m.Set("transStatus", f.TransStatus)
	return m
}
