// Package push owns waking the bank's app when a confirmation waits: the push tokens the app
// registers per card registration (stored Tink-encrypted), and the clients of the two push services,
// Firebase Cloud Messaging HTTP v1 (Android) and APNs over HTTP/2 with token authentication (iOS).
//
// A push passes through Google's or Apple's servers, so it carries no card data, no amount and no
// merchant: only that a confirmation waits and its id. The app fetches the details through its signed
// API (appapi), as it does when it polls. A failed push is not an error of the challenge: the app also
// long-polls and lists when opened. A token the service reports as no longer valid is dropped.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"example.com/acs/apperr"
	"example.com/acs/envelope"
)

// Platform is the app's platform, which decides the push service.
type Platform string

const (
	Android Platform = "android" // FCM
	IOS     Platform = "ios"     // APNs
)

// Message is what a push says: a confirmation waits, and its id (the ACS transaction id).
type Message struct {
	ConfirmationID uuid.UUID
}

// Sender delivers one message to one device token.
type Sender interface {
	Send(ctx context.Context, token string, m Message) error
}

// ErrTokenInvalid says the service no longer knows the token (uninstalled app, new token): it is dropped.
var ErrTokenInvalid = errors.New("push: the service reports the device token as invalid")

// Columns are the encrypted columns, for key rotation.
var Columns = []envelope.Column{{Table: "app_push_tokens", Column: "token_enc", IDColumn: "registration_id"}}

func tokenAD(regID uuid.UUID) envelope.AD {
	return envelope.AD{Table: "app_push_tokens", Column: "token_enc", Row: regID.String()}
}

// Deps are what the service needs. A platform without a sender is not pushed to.
type Deps struct {
	Pool    *pgxpool.Pool
	Keys    *envelope.Keyring
	Senders map[Platform]Sender
	Log     *slog.Logger
	// Timeout bounds one push (the caller does not wait for it); 0: 10 seconds.
	Timeout time.Duration
}

// Service stores push tokens and pushes.
type Service struct {
	d        Deps
	outcomes *prometheus.CounterVec
}

// New returns the service; its metrics are registered on reg when reg is not nil.
func New(d Deps, reg prometheus.Registerer) *Service {
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
	s := &Service{d: d, outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "acs_push_total",
		Help: "Pushes to the bank's app by platform and outcome (sent, invalid_token, failed, no_token)."}, []string{"platform", "outcome"})}
	if reg != nil {
		reg.MustRegister(s.outcomes)
	}
	return s
}

// maxToken bounds a device token: FCM's are about 160 characters, APNs' 64 hex digits.
const maxToken = 4096

// SetToken stores the app's push token for a registration (replacing an earlier one).
func (s *Service) SetToken(ctx context.Context, regID uuid.UUID, p Platform, token string, now time.Time) error {
	if p != Android && p != IOS {
		return apperr.Field("platform", "must be android or ios")
	}
	if token == "" || len(token) > maxToken {
		return apperr.Field("token", "must be the push service's device token")
	}
	enc, err := s.d.Keys.Encrypt(tokenAD(regID), []byte(token))
	if err != nil {
		return err
	}
	_, err = s.d.Pool.Exec(ctx, `INSERT INTO app_push_tokens (registration_id, platform, token_enc, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (registration_id) DO UPDATE SET platform = $2, token_enc = $3, updated_at = $4`, regID, string(p), enc, now)
	return err
}

// Notify pushes to the registration's device that a confirmation waits, in the background (bounded by
// the timeout): the caller's request does not wait for Google or Apple.
func (s *Service) Notify(ctx context.Context, regID uuid.UUID, m Message) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.d.Timeout)
	go func() {
		defer cancel()
		if err := s.Push(ctx, regID, m); err != nil {
			s.d.Log.WarnContext(ctx, "push failed; the app finds the confirmation when it polls", "registration_id", regID, "err", err)
		}
	}()
}

// Push sends the message to the registration's device now.
func (s *Service) Push(ctx context.Context, regID uuid.UUID, m Message) error {
	var platform string
	var enc []byte
	err := s.d.Pool.QueryRow(ctx, `SELECT platform, token_enc FROM app_push_tokens WHERE registration_id = $1`, regID).Scan(&platform, &enc)
	if errors.Is(err, pgx.ErrNoRows) {
		s.outcomes.WithLabelValues("none", "no_token").Inc()
		return nil
	}
	if err != nil {
		return err
	}
	sender := s.d.Senders[Platform(platform)]
	if sender == nil {
		s.outcomes.WithLabelValues(platform, "no_sender").Inc()
		return nil
	}
	token, err := s.d.Keys.Decrypt(ctx, tokenAD(regID), enc)
	if err != nil {
		return err
	}
	switch err := sender.Send(ctx, string(token), m); {
	case err == nil:
		s.outcomes.WithLabelValues(platform, "sent").Inc()
		return nil
	case errors.Is(err, ErrTokenInvalid):
		s.outcomes.WithLabelValues(platform, "invalid_token").Inc()
		// Only the token that failed: the app may have registered a new one meanwhile.
		if _, derr := s.d.Pool.Exec(ctx, `DELETE FROM app_push_tokens WHERE registration_id = $1 AND token_enc = $2`, regID, enc); derr != nil {
			return derr
		}
		return err
	default:
		s.outcomes.WithLabelValues(platform, "failed").Inc()
		return fmt.Errorf("push %s: %w", platform, err)
	}
}
