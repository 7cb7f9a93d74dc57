// Package issuerapi owns /issuer/v1, the API for the issuer's own back-end systems (issue 15; the card
// management system's routes join it later): their credentials (issuer_clients: a bearer token per
// system, stored as its keyed hash) and the routes. The first route is the verification of an
// authentication value for the issuer's authorisation host.
//
// The API is machine to machine, inside the bank: no cookies, no browser. A wrong token is a 401 and
// counts against the client address, which is then answered 429 after FailedTokens wrong tokens; a
// valid token is never refused for its address. No response or log line holds a card number.
package issuerapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/labstack/echo/v4"

	"example.com/acs/acs"
	"example.com/acs/apperr"
	"example.com/acs/audit"
	"example.com/acs/cardmgmt"
	"example.com/acs/cards"
	"example.com/acs/limits"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// FailedTokens limits wrong tokens per client address.
var FailedTokens = limits.Rule{Name: "issuer_api_client", Max: 10, Window: 30 * time.Minute}

// Indexer computes the keyed hash of a token (hsm.HSM.Index).
type Indexer interface {
	Index(domain string, data []byte) ([]byte, error)
}

// Deps are what the API needs.
type Deps struct {
	Pool     *pgxpool.Pool
	Keys     Indexer
	Limits   *limits.Limiter
	Verifier *acs.AVVerifier
	// CardChanges applies the card management system's changes (POST /cards/changes); nil: no route.
	CardChanges *cardmgmt.Service
	// Cards is the card directory (POST /cards/lookup, GET /statements/sms); nil: no such routes.
	Cards *cards.Directory
	// Zone is the bank's time zone: billing months begin at its midnight.
	Zone  *time.Location
	Audit *audit.Log
	Clock clockwork.Clock
	Log   *slog.Logger
}

// Service is the issuer API.
type Service struct{ d Deps }

// New returns a Service.
func New(d Deps) *Service { return &Service{d} }

// Client is an issuer system with access.
type Client struct {
	ID   uuid.UUID
	Name string
}

var (
	errToken   = apperr.New(apperr.Unauthorized, "a valid issuer API token is needed (Authorization: Bearer acsi_...)")
	errLocked  = apperr.New(apperr.TooMany, "too many wrong tokens from this address; try again later")
	clientName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

const tokenPrefix = "acsi_"

// AddClient gives a new issuer system access and returns its token, which is shown this once.
func (s *Service) AddClient(ctx context.Context, name string) (string, error) {
	if !clientName.MatchString(name) {
		return "", apperr.Field("name", "must be lower-case letters, digits and '-', at most 63")
	}
	token, hash, err := s.newToken()
	if err != nil {
		return "", err
	}
	err = store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO issuer_clients (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)`,
			uuid.New(), name, hash, s.d.Clock.Now()); err != nil {
			return err
		}
		return s.d.Audit.Record(ctx, tx, audit.Entry{Actor: "system", Action: "issuer_client.add", Details: map[string]string{"name": name}})
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return "", apperr.Field("name", "is taken")
	}
	if err != nil {
		return "", err
	}
	return token, nil
}

// DisableClient ends a system's access at once.
func (s *Service) DisableClient(ctx context.Context, name string) error {
	return store.WithTx(ctx, s.d.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE issuer_clients SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL`,
			name, s.d.Clock.Now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return apperr.New(apperr.NotFound, "no active issuer client of this name")
		}
		return s.d.Audit.Record(ctx, tx, audit.Entry{Actor: "system", Action: "issuer_client.disable", Details: map[string]string{"name": name}})
	})
}

func (s *Service) newToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	h, err := s.tokenHash(token)
	return token, h, err
}

func (s *Service) tokenHash(token string) ([]byte, error) {
	if len(token) != len(tokenPrefix)+43 || !strings.HasPrefix(token, tokenPrefix) {
		return nil, errToken
	}
	h, err := s.d.Keys.Index("issuer_token", []byte(token))
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", err)
	}
	return h, nil
}

// Authenticate finds the active client of a token. A valid token always passes: 256 random bits
// gain nothing from a lock, and one misconfigured system behind the same address (a proxy, NAT) must
// not lock out the authorisation host. Wrong tokens count against the client address; once it has
// FailedTokens of them, it gets 429 instead of 401 until the window passes.
func (s *Service) Authenticate(ctx context.Context, token, addr string) (*Client, error) {
	c, err := s.client(ctx, token)
	if !errors.Is(err, errToken) {
		return c, err
	}
	s.d.Log.WarnContext(ctx, "issuer API: wrong token")
	if s.d.Limits == nil || addr == "" {
		return nil, err
	}
	key, kerr := limits.Client(s.d.Keys, FailedTokens, addr)
	if kerr != nil {
		return nil, apperr.Wrap(apperr.Unavailable, "the security module is unavailable", kerr)
	}
	n, cerr := s.d.Limits.Count(ctx, FailedTokens, key)
	if cerr != nil {
		return nil, cerr
	}
	if n > FailedTokens.Max {
		return nil, errLocked
	}
	return nil, err
}

func (s *Service) client(ctx context.Context, token string) (*Client, error) {
	h, err := s.tokenHash(token)
	if err != nil {
		return nil, err
	}
	var c Client
	err = s.d.Pool.QueryRow(ctx, `SELECT id, name FROM issuer_clients WHERE token_hash = $1 AND disabled_at IS NULL`, h).
		Scan(&c.ID, &c.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errToken
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

const clientKey = "issuer_client"

// Routes mounts the API on g (/issuer/v1).
func (s *Service) Routes(g *echo.Group) {
	g.Use(s.authenticate)
	g.POST("/authentication-values/verify", s.verify)
	if s.d.CardChanges != nil {
		g.POST("/cards/changes", s.cardChanges)
	}
	if s.d.Cards != nil {
		g.POST("/cards/lookup", s.cardLookup)
		g.GET("/statements/sms/:month", s.smsStatement)
	}
}

// cardLookupRequest is POST /cards/lookup: the card number whose card_ref the billing system wants.
type cardLookupRequest struct {
	AcctNumber string `json:"acctNumber" validate:"required,number,min=13,max=19"`
}

// cardLookup answers the card's card_ref (the id statements name cards by), its masked number and
// status; 404 for a number that is not in the directory.
func (s *Service) cardLookup(c echo.Context) error {
	var req cardLookupRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	card, err := s.d.Cards.FindByPAN(c.Request().Context(), req.AcctNumber)
	if errors.Is(err, cards.ErrNotFound) {
		return apperr.New(apperr.NotFound, "no such card in the directory")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"cardRef": card.ID, "card": card.Masked(), "status": card.Status})
}

// smsStatement answers the month's SMS statement (text/csv, sms.StatementColumns), as `acs statements
// sms MONTH FILE` writes it.
func (s *Service) smsStatement(c echo.Context) error {
	m, err := sms.ParseMonth(c.Param("month"), s.d.Zone)
	if err != nil {
		return apperr.Field("month", "must be YYYY-MM")
	}
	lines, err := sms.Statement(c.Request().Context(), s.d.Pool, m)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	return sms.WriteStatement(c.Response(), lines, s.d.Zone)
}

// cardChangesRequest is POST /cards/changes: the changes, applied all or none; at most 500 (the body
// limit is 64 KiB; a larger delta goes as a file, acs cards apply).
type cardChangesRequest struct {
	Changes []cardmgmt.Change `json:"changes" validate:"required,min=1,max=500,dive"`
}

// cardChanges answers 200 with one result per change (cards masked), or the error of the first change
// that cannot be applied (none is then).
func (s *Service) cardChanges(c echo.Context) error {
	var req cardChangesRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	cl := c.Get(clientKey).(Client)
	res, err := s.d.CardChanges.Apply(c.Request().Context(), "issuer-api:"+cl.Name, req.Changes)
	if err != nil {
		return err
	}
	s.d.Log.InfoContext(c.Request().Context(), "card changes applied", "client", cl.Name, "changes", len(res))
	return c.JSON(http.StatusOK, map[string]any{"results": res})
}

func (s *Service) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok {
			return errToken
		}
		cl, err := s.Authenticate(c.Request().Context(), token, c.RealIP())
		if err != nil {
			return err
		}
		c.Set(clientKey, *cl)
		return next(c)
	}
}

// verify answers POST /authentication-values/verify: 200 with the result (valid, invalid with the
// elements that did not match, unknown_transaction), 400 naming malformed fields.
func (s *Service) verify(c echo.Context) error {
	var req acs.VerifyRequest
	if err := server.BindJSON(c, &req); err != nil {
		return err
	}
	res, err := s.d.Verifier.Verify(c.Request().Context(), req)
	if err != nil {
		return err
	}
	cl := c.Get(clientKey).(Client)
	s.d.Log.InfoContext(c.Request().Context(), "authentication value verified", "client", cl.Name,
		"result", string(res.Result), "mismatch", strings.Join(res.Mismatch, ","))
	return c.JSON(http.StatusOK, res)
}
