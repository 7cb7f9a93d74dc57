package registration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/acs/apperr"
	"example.com/acs/cards"
	"example.com/acs/envelope"
)

// Minimum OS versions the app is supported on (R-REG-8).
var minOS = map[string]int{"android": 9, "ios": 15}

// AppRequest is what the app sends to bind a card to its installation (R-REG-7).
type AppRequest struct {
	// DeviceKey is the device's P-256 public key, PKIX DER; its private half never leaves the phone.
	DeviceKey []byte
	Platform  string // android | ios
	OSVersion string // as the OS reports it, "14" or "17.4.1"
	// Rooted is the app's own integrity verdict (root or jailbreak detected).
	Rooted bool
	// PIN is the 4-digit app PIN, mandatory even with biometrics: it is the fallback (R-REG-7).
	PIN string
	// OfflineSecret is the installation's secret for offline passwords (R-AUTH-4), 32 random bytes made
	// by the app; the server keeps it encrypted.
	OfflineSecret []byte
}

// AppBinding is what the app keeps after RequestApp.
type AppBinding struct {
	RegistrationID uuid.UUID
	// EmCertID identifies the card-device binding, known to app and server (R-REG-7).
	EmCertID uuid.UUID
}

func checkDevice(in AppRequest) (*ecdsa.PublicKey, error) {
	min, ok := minOS[in.Platform]
	if !ok {
		return nil, apperr.Field("platform", "must be android or ios")
	}
	major, err := strconv.Atoi(strings.SplitN(strings.TrimSpace(in.OSVersion), ".", 2)[0])
	if err != nil {
		return nil, apperr.Field("os_version", "must be a version number such as 14 or 17.4")
	}
	if major < min {
		return nil, apperr.Field("os_version", "this OS version is no longer supported; update the phone's system")
	}
	if in.Rooted {
		return nil, apperr.Field("device", "rooted or jailbroken devices cannot be registered")
	}
	pub, err := x509.ParsePKIXPublicKey(in.DeviceKey)
	key, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok || key.Curve != elliptic.P256() {
		return nil, apperr.Field("device_key", "must be a P-256 public key (PKIX, DER)")
	}
	if len(in.OfflineSecret) != 32 {
		return nil, apperr.Field("offline_secret", "must be 32 random bytes")
	}
	if !validPIN(in.PIN) {
		return nil, apperr.Field("pin", "must be 4 digits, not all the same and not a run like 1234")
	}
	return key, nil
}

// validPIN refuses what a thief tries first.
func validPIN(p string) bool {
	if len(p) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	if strings.Count(p, p[:1]) == 4 {
		return false
	}
	up, down := true, true
	for i := 1; i < 4; i++ {
		up = up && p[i] == p[i-1]+1
		down = down && p[i] == p[i-1]-1
	}
	return !up && !down
}

// RequestApp starts an app registration for a verified card: the device key (encrypted, found by its
// keyed hash), the PIN's keyed verifier, and the ID-code letter. The emCertID is returned now so that
// the app can show it; the binding works only after Activate.
func (r *Registrar) RequestApp(ctx context.Context, card *cards.Card, in AppRequest) (*AppBinding, error) {
	if _, err := checkDevice(in); err != nil {
		return nil, err
	}
	keyHash, err := r.d.Keys.Index("device_key", in.DeviceKey)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	em := uuid.New()
	id, err := r.requestTx(ctx, card, MethodApp, func(tx pgx.Tx, id uuid.UUID, now time.Time) error {
		enc, err := r.d.Data.Encrypt(envelope.AD{Table: "registrations", Column: "device_key_enc", Row: id.String()}, in.DeviceKey)
		if err != nil {
			return err
		}
		secret, err := r.d.Data.Encrypt(envelope.AD{Table: "registrations", Column: "offline_secret_enc", Row: id.String()}, in.OfflineSecret)
		if err != nil {
			return err
		}
		// Salted with the emCertID: equal PINs of two bindings have unrelated verifiers.
		pv, err := r.verifier("pin", em.String(), in.PIN)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO registrations (id, card_id, method, state, created_at, device_key_enc, device_key_hash,
			device_platform, device_os_version, pin_verifier, em_cert_id, offline_secret_enc)
			VALUES ($1, $2, 'app', 'pending', $3, $4, $5, $6, $7, $8, $9, $10)`,
			id, card.ID, now, enc, keyHash, in.Platform, in.OSVersion, pv, em, secret)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &AppBinding{RegistrationID: id, EmCertID: em}, nil
}

const deviceKeySQL = `SELECT id, device_key_enc FROM registrations WHERE card_id = $1 AND state = '%s' AND method = 'app'
	ORDER BY created_at DESC LIMIT 1`

var (
	deviceKeyActiveSQL  = fmt.Sprintf(deviceKeySQL, Active)
	deviceKeyPendingSQL = fmt.Sprintf(deviceKeySQL, Pending)
)

// DeviceKey returns the device public key (PKIX DER) of the card's app registration in state st, so
// that the app API can check the signature of a request made in that registration's name.
func (r *Registrar) DeviceKey(ctx context.Context, cardID uuid.UUID, st State) ([]byte, error) {
	var id uuid.UUID
	var enc []byte
	// The state is written into the text, not sent as a parameter: the card's registrations are found
	// through the partial indexes on one state (registrations_one_active, _one_open), which a plan made
	// for any state cannot use, so PostgreSQL planned this statement afresh at every signed app request
	// (0.2 ms each; issue 13).
	var q string
	switch st {
	case Active:
		q = deviceKeyActiveSQL
	case Pending:
		q = deviceKeyPendingSQL
	default:
		return nil, fmt.Errorf("registration: device key: no app request is made in state %q", st)
	}
	err := r.d.Pool.QueryRow(ctx, q, cardID).Scan(&id, &enc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no app registration of this card in that state")
	}
	if err != nil {
		return nil, fmt.Errorf("registration: device key: %w", err)
	}
	return r.d.Data.Decrypt(ctx, envelope.AD{Table: "registrations", Column: "device_key_enc", Row: id.String()}, enc)
}

// OpenDeviceKey decrypts the device key enc that the caller read from registration regID's
// device_key_enc (an app's answer reads it with the challenge, issue 13).
func (r *Registrar) OpenDeviceKey(ctx context.Context, regID uuid.UUID, enc []byte) ([]byte, error) {
	if enc == nil {
		return nil, apperr.New(apperr.NotFound, "no device key for this registration")
	}
	return r.d.Data.Decrypt(ctx, envelope.AD{Table: "registrations", Column: "device_key_enc", Row: regID.String()}, enc)
}

// DeviceKeyOf returns the device public key (PKIX DER) of an app registration in whatever state it is
// now: evidence of an approval is verified with the key that made it, also after the card was
// registered anew (acs.Evidence).
func (r *Registrar) DeviceKeyOf(ctx context.Context, regID uuid.UUID) ([]byte, error) {
	var enc []byte
	err := r.d.Pool.QueryRow(ctx, `SELECT device_key_enc FROM registrations WHERE id = $1 AND method = 'app'`, regID).Scan(&enc)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && enc == nil) {
		return nil, apperr.New(apperr.NotFound, "no app registration with this id")
	}
	if err != nil {
		return nil, fmt.Errorf("registration: device key: %w", err)
	}
	return r.d.Data.Decrypt(ctx, envelope.AD{Table: "registrations", Column: "device_key_enc", Row: regID.String()}, enc)
}

// OfflineSecret returns the offline-password secret of an app registration (R-AUTH-4), to check an
// offline password the app derived from it.
func (r *Registrar) OfflineSecret(ctx context.Context, q Querier, regID uuid.UUID) ([]byte, error) {
	var enc []byte
	err := q.QueryRow(ctx, `SELECT offline_secret_enc FROM registrations WHERE id = $1 AND method = 'app'`, regID).Scan(&enc)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && enc == nil) {
		return nil, apperr.New(apperr.NotFound, "no offline-password secret for this registration")
	}
	if err != nil {
		return nil, fmt.Errorf("registration: offline secret: %w", err)
	}
	return r.d.Data.Decrypt(ctx, envelope.AD{Table: "registrations", Column: "offline_secret_enc", Row: regID.String()}, enc)
}
