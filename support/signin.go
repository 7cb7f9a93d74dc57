package support

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/envelope"
	"example.com/acs/limits"
	"example.com/acs/store"
)

// Staff sign in with two factors (PCI DSS 8.4.2): the bearer token of `acs staff add` (something they
// were handed) and a TOTP code from an authenticator app (RFC 6238, something they hold). The two open
// a session whose own bearer token is what every other staff request carries; the long-lived token is
// then needed only to sign in again. A code is accepted once (its time step must be newer than the last
// one used, RFC 6238 section 5.2) and within one step of the clock either way (phones drift).

// Session lifetimes: PCI DSS 8.2.8 asks for re-authentication after at most 15 idle minutes.
const (
	SessionTTL  = 8 * time.Hour
	SessionIdle = 15 * time.Minute
)

// MaxOTPFailures wrong codes in a row (with a valid token) lock the member for OTPLock (PCI DSS 8.3.4:
// at most 10 attempts, locked for at least 30 minutes or until an administrator re-enrols them).
const (
	MaxOTPFailures = 10
	OTPLock        = 30 * time.Minute
)

// totpOpts are the parameters every authenticator app understands (Google Authenticator ignores
// anything else): 6 digits, 30-second steps, HMAC-SHA1.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrolment is what a staff member is handed once, in person: the bearer token (empty when only the
// second factor is renewed) and the TOTP secret for the authenticator app, as an otpauth:// URI (what a
// QR code would carry) and as base32 text for typing in. Neither is stored in clear.
type Enrolment struct {
	Token     string
	OTPURI    string
	OTPSecret string
}

// Session is an open staff session; Token is returned once, at sign-in.
type Session struct {
	Token     string    `json:"session"`
	ExpiresAt time.Time `json:"expires_at"`
	Staff     Staff     `json:"-"`
}

// Columns are the encrypted columns this package owns, for key rotation (acs keys reencrypt).
var Columns = []envelope.Column{{Table: "staff", Column: "totp_enc", IDColumn: "id"}}

func totpAD(id uuid.UUID) envelope.AD {
	return envelope.AD{Table: "staff", Column: "totp_enc", Row: id.String()}
}

// newTOTP makes a fresh secret (160 bits, RFC 4226's recommended length) and its ciphertext for row id.
func (s *Service) newTOTP(id uuid.UUID, name string) (*otp.Key, []byte, error) {
	issuer := s.d.Issuer
	if issuer == "" {
		issuer = "ACS"
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer + " Support", AccountName: name, Period: 30,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, nil, err
	}
	enc, err := s.d.Data.Encrypt(totpAD(id), []byte(key.Secret()))
	if err != nil {
		return nil, nil, err
	}
	return key, enc, nil
}

// EnrolOTP gives a staff member a new TOTP secret (a lost or replaced phone, or a member made before
// second factors existed): their sessions end and a lock from wrong codes is lifted. Audited.
func (s *Service) EnrolOTP(ctx context.Context, name string) (Enrolment, error) {
	var id uuid.UUID
	if err := s.d.Pool.QueryRow(ctx, `SELECT id FROM staff WHERE name = $1 AND disabled_at IS NULL`, name).Scan(&id); errors.Is(err, pgx.ErrNoRows) {
		return Enrolment{}, apperr.New(apperr.NotFound, "no active staff member of that name")
	} else if err != nil {
		return Enrolment{}, err
	}
	key, enc, err := s.newTOTP(id, name)
	if err != nil {
		return Enrolment{}, err
	}
	err = s.staffChange(ctx, name, "staff.otp", `UPDATE staff SET totp_enc = $2, totp_last_step = 0, otp_failures = 0,
		locked_until = NULL WHERE name = $1 AND disabled_at IS NULL`, enc)
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{OTPURI: key.URL(), OTPSecret: key.Secret()}, nil
}

var (
	errOTP = &apperr.Error{Kind: apperr.Unauthorized, Msg: "wrong code",
		Fields: map[string]string{"otp": "is not the current code of your authenticator app"}}
	errOTPReused = &apperr.Error{Kind: apperr.Unauthorized, Msg: "code already used",
		Fields: map[string]string{"otp": "was used already; wait for the next code"}}
	errLocked  = apperr.New(apperr.TooMany, "sign-in locked after too many wrong codes; try again later or ask to be re-enrolled")
	errNoOTP   = apperr.New(apperr.Unauthorized, "no second factor enrolled; ask for `acs staff otp`")
	errSession = apperr.New(apperr.Unauthorized, "a valid staff session is needed; sign in again")
)

// clientLimit returns the client address's key for FailedLogins, refusing at once when the address is
// locked. Empty when there is no limiter or no address.
func (s *Service) clientLimit(ctx context.Context, client string) (string, error) {
	if s.d.Limits == nil || client == "" {
		return "", nil
	}
	key, err := limits.Client(s.d.Keys, FailedLogins, client)
	if err != nil {
		return "", apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	if reached, err := s.d.Limits.Reached(ctx, FailedLogins, key); err != nil {
		return "", err
	} else if reached {
		return "", apperr.New(apperr.TooMany, "too many failed logins from this address; try again later")
	}
	return key, nil
}

// failed counts a failed sign-in or session against the client address.
func (s *Service) failed(ctx context.Context, clientKey, what string) error {
	s.d.Log.WarnContext(ctx, "failed staff login", "what", what)
	if clientKey == "" {
		return nil
	}
	_, err := s.d.Limits.Count(ctx, FailedLogins, clientKey)
	return err
}

// counted runs check for a request from client, refused at once while the address is locked; a check
// that fails with wrong (a credential that names no one) counts against the address. It returns the
// address's limit key for further failures of the same request.
func (s *Service) counted(ctx context.Context, client, what string, wrong error, check func() (*Staff, error)) (*Staff, string, error) {
	clientKey, err := s.clientLimit(ctx, client)
	if err != nil {
		return nil, "", err
	}
	st, err := check()
	if errors.Is(err, wrong) {
		if ferr := s.failed(ctx, clientKey, what); ferr != nil {
			return nil, "", ferr
		}
	}
	return st, clientKey, err
}

// SignIn checks the token and the TOTP code and opens a session. Wrong tokens count against the client
// address (a token that names no one can lock only the address); wrong codes with a valid token count
// against the member as well, and MaxOTPFailures in a row lock the member for OTPLock, audited.
func (s *Service) SignIn(ctx context.Context, token, code, client string) (*Session, error) {
	st, clientKey, err := s.counted(ctx, client, "token", errStaffToken, func() (*Staff, error) { return s.checkToken(ctx, token) })
	if err != nil {
		return nil, err
	}
	var (
		enc      []byte
		lastStep int64
		locked   *time.Time
	)
	if err := s.d.Pool.QueryRow(ctx, `SELECT totp_enc, totp_last_step, locked_until FROM staff WHERE id = $1`, st.ID).
		Scan(&enc, &lastStep, &locked); err != nil {
		return nil, err
	}
	now := s.d.Clock.Now()
	if locked != nil && locked.After(now) {
		// The code is not even looked at: a locked account must not confirm guesses.
		return nil, errLocked
	}
	if enc == nil {
		return nil, errNoOTP
	}
	secret, err := s.d.Data.Decrypt(ctx, totpAD(st.ID), enc)
	if err != nil {
		return nil, err
	}
	step, ok := matchStep(string(secret), code, now)
	if !ok || step <= lastStep {
		if ferr := s.failed(ctx, clientKey, "otp"); ferr != nil {
			return nil, ferr
		}
		if ferr := s.otpFailed(ctx, *st, now); ferr != nil {
			return nil, ferr
		}
		if ok {
			return nil, errOTPReused
		}
		return nil, errOTP
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	sess := &Session{Token: "acsx_" + base64.RawURLEncoding.EncodeToString(raw), ExpiresAt: now.Add(SessionTTL), Staff: *st}
	h, err := s.d.Keys.Index("staff_session", []byte(sess.Token))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	err = store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		// The step is taken under the row's lock, so two requests with the same code cannot both win.
		tag, err := tx.Exec(ctx, `UPDATE staff SET totp_last_step = $2, otp_failures = 0, locked_until = NULL
			WHERE id = $1 AND totp_last_step < $2 AND disabled_at IS NULL`, st.ID, step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errOTPReused
		}
		if _, err := tx.Exec(ctx, `INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $3)`, h, st.ID, now, sess.ExpiresAt); err != nil {
			return err
		}
		return s.d.Audit.Record(ctx, tx, audit.Entry{Actor: st.Actor(), Action: "staff.signin"})
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// matchStep finds the time step (now's, or one either side) whose code is code, comparing in constant
// time. Code generation cannot fail for a secret this package made; a secret that does not decode
// matches nothing.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / int64(totpOpts.Period)
	for _, k := range []int64{step - 1, step, step + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(k*int64(totpOpts.Period), 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return k, true
		}
	}
	return 0, false
}

// otpFailed counts a wrong code against the member and locks them at MaxOTPFailures; both audited
// (PCI DSS 10.2.1.4: invalid access attempts are logged, and this one is attributable).
func (s *Service) otpFailed(ctx context.Context, st Staff, now time.Time) error {
	return store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		var failures int
		if err := tx.QueryRow(ctx, `UPDATE staff SET otp_failures = otp_failures + 1,
			locked_until = CASE WHEN otp_failures + 1 >= $2 THEN $3::timestamptz ELSE locked_until END
			WHERE id = $1 RETURNING otp_failures`, st.ID, MaxOTPFailures, now.Add(OTPLock)).Scan(&failures); err != nil {
			return err
		}
		action := "staff.signin_failed"
		if failures >= MaxOTPFailures {
			action = "staff.locked"
			if _, err := tx.Exec(ctx, `UPDATE staff SET otp_failures = 0 WHERE id = $1`, st.ID); err != nil {
				return err
			}
		}
		return s.d.Audit.Record(ctx, tx, audit.Entry{Actor: st.Actor(), Action: action})
	})
}

// Authenticate finds the staff member whose open session token is: not expired, not idle past
// SessionIdle, the member not disabled; the session's idle clock restarts. Wrong session tokens count
// against the client address like wrong staff tokens.
func (s *Service) Authenticate(ctx context.Context, token, client string) (*Staff, error) {
	st, _, err := s.counted(ctx, client, "session", errSession, func() (*Staff, error) { return s.checkSession(ctx, token) })
	return st, err
}

func (s *Service) sessionHash(token string) ([]byte, error) {
	if len(token) != len("acsx_")+43 || token[:5] != "acsx_" {
		return nil, errSession
	}
	h, err := s.d.Keys.Index("staff_session", []byte(token))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	return h, nil
}

func (s *Service) checkSession(ctx context.Context, token string) (*Staff, error) {
	h, err := s.sessionHash(token)
	if err != nil {
		return nil, err
	}
	now := s.d.Clock.Now()
	var st Staff
	err = s.d.Pool.QueryRow(ctx, `UPDATE staff_sessions ss SET last_seen_at = $2 FROM staff st
		WHERE ss.token_hash = $1 AND st.id = ss.staff_id AND st.disabled_at IS NULL
		AND ss.expires_at > $2 AND ss.last_seen_at > $3
		RETURNING st.id, st.name, st.role`, h, now, now.Add(-SessionIdle)).Scan(&st.ID, &st.Name, &st.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errSession
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// SignOut ends the session (the console's "sign out"); audited.
func (s *Service) SignOut(ctx context.Context, who Staff, token string) error {
	h, err := s.sessionHash(token)
	if err != nil {
		return err
	}
	return store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM staff_sessions WHERE token_hash = $1`, h); err != nil {
			return err
		}
		return s.d.Audit.Record(ctx, tx, audit.Entry{Actor: who.Actor(), Action: "staff.signout"})
	})
}
