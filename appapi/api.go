package appapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"

	"example.com/acs/acs"
	"example.com/acs/apperr"
	"example.com/acs/push"
	"example.com/acs/registration"
	"example.com/acs/server"
	"example.com/acs/store"
	"example.com/acs/whitelist"
)

// Deps are what the app API needs.
type Deps struct {
	Pool      *pgxpool.Pool
	Registrar *registration.Registrar
	Clock     clockwork.Clock
	Log       *slog.Logger
	Whitelist *whitelist.List
	// Challenges holds the app confirmations; Wake wakes long polls when one is created (any process).
	Challenges *acs.Challenges
	Wake       *store.Broadcast
	// Stopping is closed when the server begins to shut down: long polls answer at once (an empty list;
	// the app asks again, of another process), so SIGTERM drains within shutdown_timeout. Nil: never.
	Stopping <-chan struct{}
	// Push keeps the app's push token (package push); nil: POST /push-token answers 404.
	Push *push.Service
}

// API serves /app/v1.
type API struct {
	d Deps
	// noncesPurged is when this process last removed the nonces too old to matter (Unix seconds).
	noncesPurged atomic.Int64
}

// New returns the API.
func New(d Deps) *API { return &API{d: d} }

// noncePurgeEvery is how often a process removes old nonces: once a minute, not at every signed request
// (that was a DELETE per request, two per app purchase; issue 13). A nonce is refused as long as it
// is stored, and it is kept at least twice the timestamp window, after which its timestamp is refused.
const noncePurgeEvery = time.Minute

// Routes mounts the API on g.
func (a *API) Routes(g *echo.Group) {
	g.POST("/registrations", a.register)
	g.POST("/registrations/activate", a.activate)
	g.POST("/whitelist", a.whitelistList)
	g.POST("/whitelist/remove", a.whitelistRemove)
	g.POST("/confirmations", a.confirmations)
	g.POST("/confirmations/wait", a.waitConfirmations)
	g.POST("/confirmations/answer", a.answer)
	g.POST("/push-token", a.pushToken)
	g.POST("/security-level", a.securityLevel)
	g.POST("/issuer-data-reads", a.issuerDataReads)
}

var errSignature = apperr.New(apperr.Unauthorized, "the request is not signed by the device key")

// readBody returns the raw body (needed for the signature) and leaves it in place for binding.
func readBody(c echo.Context) ([]byte, error) {
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		// The body limit middleware ends oversized bodies here.
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(raw))
	return raw, nil
}

// verify checks that the request was signed by pub, within the clock window, with a fresh nonce, and
// records the nonce.
func (a *API) verify(ctx context.Context, c echo.Context, body []byte, pub *ecdsa.PublicKey) error {
	nonce, err := a.check(ctx, c, body, pub)
	if err != nil {
		return err
	}
	return replayed(nonce.Exec(ctx, a.d.Pool))
}

// nonceSQL records a signed request's nonce: the primary key refuses its second use.
const nonceSQL = `INSERT INTO app_nonces (nonce, seen_at) VALUES ($1, $2)`

// check checks that the request was signed by pub within the clock window, and returns the statement
// that records its nonce: the caller runs it with the request's own statements (store.Queued) or on its
// own, before the request takes effect, and refuses a replay with replayed.
func (a *API) check(ctx context.Context, c echo.Context, body []byte, pub *ecdsa.PublicKey) (*store.Queued, error) {
	h := c.Request().Header
	ts, nonce, sig := h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature)
	if len(nonce) < 16 || len(nonce) > 64 || !verifySignature(pub, c.Request().Method, c.Request().URL.Path, ts, nonce, body, sig) {
		return nil, errSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	now := a.d.Clock.Now()
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > Window {
		return nil, apperr.New(apperr.Unauthorized, "the request's timestamp is outside the accepted window; check the phone's clock")
	}
	if last := a.noncesPurged.Load(); now.Unix()-last >= int64(noncePurgeEvery/time.Second) && a.noncesPurged.CompareAndSwap(last, now.Unix()) {
		if _, err := a.d.Pool.Exec(ctx, `DELETE FROM app_nonces WHERE seen_at < $1`, now.Add(-2*Window)); err != nil {
			a.noncesPurged.Store(last) // the next request tries again
			return nil, err
		}
	}
	return &store.Queued{SQL: nonceSQL, Args: []any{nonce, now}}, nil
}

// replayed is err, or the replay refusal where err is the nonce's primary key refusing a second use.
func replayed(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "app_nonces_pkey" {
		return apperr.New(apperr.Unauthorized, "the request was already received (replay)")
	}
	return err
}

func parseKey(der []byte) (*ecdsa.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	k, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok || k.Curve != elliptic.P256() {
		return nil, apperr.Field("device_key", "must be a P-256 public key (PKIX, DER, base64)")
	}
	return k, nil
}

// RegisterRequest binds a card to the app installation (R-REG-7, R-REG-8).
type RegisterRequest struct {
	PAN         string `json:"pan" validate:"required,max=30"`
	ExpiryMonth int    `json:"expiry_month" validate:"required,min=1,max=12"`
	ExpiryYear  int    `json:"expiry_year" validate:"required,min=2000,max=2100"`
	Name        string `json:"name" validate:"required_without=DateOfBirth,max=70"`
	DateOfBirth string `json:"date_of_birth" validate:"omitempty,datetime=2006-01-02"`
	DeviceKey   []byte `json:"device_key" validate:"required,max=200"`
	Platform    string `json:"platform" validate:"required,oneof=android ios"`
	OSVersion   string `json:"os_version" validate:"required,max=20"`
	Rooted      bool   `json:"rooted"`
	PIN         string `json:"pin" validate:"required,len=4,numeric"`
	// OfflineSecret (base64, 32 bytes) is made by the app; it derives offline passwords from it.
	OfflineSecret []byte `json:"offline_secret" validate:"required,len=32"`
}

// RegisterResponse is what the app keeps.
type RegisterResponse struct {
	CardID         uuid.UUID `json:"card_id"`
	Card           string    `json:"card"`
	RegistrationID uuid.UUID `json:"registration_id"`
	EmCertID       uuid.UUID `json:"em_cert_id"`
	State          string    `json:"state"`
}

func (a *API) register(c echo.Context) error {
	ctx := c.Request().Context()
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var req RegisterRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	// The first request of an installation is signed by the key it registers: proof of possession.
	pub, err := parseKey(req.DeviceKey)
	if err != nil {
		return err
	}
	if err := a.verify(ctx, c, raw, pub); err != nil {
		return err
	}
	card, err := a.d.Registrar.VerifyCardFrom(ctx, registration.HolderData{PAN: req.PAN, ExpiryMonth: req.ExpiryMonth,
		ExpiryYear: req.ExpiryYear, Name: req.Name, DateOfBirth: req.DateOfBirth}, c.RealIP())
	if err != nil {
		return err
	}
	b, err := a.d.Registrar.RequestApp(ctx, card, registration.AppRequest{DeviceKey: req.DeviceKey, Platform: req.Platform,
		OSVersion: req.OSVersion, Rooted: req.Rooted, PIN: req.PIN, OfflineSecret: req.OfflineSecret})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, RegisterResponse{CardID: card.ID, Card: card.Masked(), RegistrationID: b.RegistrationID,
		EmCertID: b.EmCertID, State: string(registration.Pending)})
}

// ActivateRequest carries the ID code from the letter (R-REG-3).
type ActivateRequest struct {
	CardID uuid.UUID `json:"card_id" validate:"required"`
	IDCode string    `json:"id_code" validate:"required,max=20"`
}

func (a *API) activate(c echo.Context) error {
	ctx := c.Request().Context()
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var req ActivateRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	der, err := a.d.Registrar.DeviceKey(ctx, req.CardID, registration.Pending)
	if err != nil {
		return err
	}
	pub, err := parseKey(der)
	if err != nil {
		return err
	}
	// Only the installation that asked for the letter may redeem it.
	if err := a.verify(ctx, c, raw, pub); err != nil {
		return err
	}
	r, err := a.d.Registrar.Activate(ctx, req.CardID, registration.MethodApp, req.IDCode)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}
