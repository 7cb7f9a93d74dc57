// Package server is the HTTP edge of the ACS: the Echo instance with its middleware (request ids,
// structured access log, metrics, security headers, body limit), the health endpoints, the one error
// handler that turns domain errors into status codes without leaking internals, and the listener with
// TLS and graceful shutdown. Domain packages register their routes on it; they never import Echo in
// their domain code.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"example.com/acs/apperr"
	"example.com/acs/hsm"
)

// Checker is a dependency /readyz asks (the database pool, the HSM).
type Checker interface {
	Ping(ctx context.Context) error
}

// Deps are what the edge needs.
type Deps struct {
	Log *slog.Logger
	// Checks are asked by /readyz, by name.
	Checks map[string]Checker
	// Registry receives the HTTP metrics and is served at /metrics; nil makes a new one.
	Registry *prometheus.Registry
	// TLS says whether the listener terminates TLS (adds HSTS).
	TLS bool
}

// New builds the Echo instance with the middleware and the operational endpoints.
func New(d Deps) *echo.Echo {
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	reg := d.Registry
	// Registering twice (a second server in one test process) is harmless: the collectors are the same.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// Without a proxy in front the peer address is the client; a deployment behind a load balancer sets
	// trusted ranges here rather than believing any X-Forwarded-For.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = errorHandler(d.Log)

	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// A caller's request id is kept only when it is an id: short, and of id characters. Anything
			// else (100 kB, control characters) would land in every log line and header (issue 12).
			if id := c.Request().Header.Get(echo.HeaderXRequestID); id != "" && !wellFormedID(id) {
				c.Request().Header.Del(echo.HeaderXRequestID)
			}
			return next(c)
		}
	})
	e.Use(middleware.RequestID())
	e.Use(accessLog(d.Log))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			d.Log.ErrorContext(c.Request().Context(), "panic in handler", "err", err, "request_id", requestID(c), "stack", string(stack))
			return err
		},
	}))
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Namespace:  "acs",
		Registerer: reg,
		Skipper:    func(c echo.Context) bool { return c.Path() == "/metrics" },
		// Labels come from the route template only: a request path or Host header is the client's to
		// choose, could hold a card number, and would grow the series without bound.
		DoNotUseRequestPathFor404: true,
		LabelFuncs: map[string]echoprometheus.LabelValueFunc{
			"host": func(echo.Context, error) string { return "" },
			"url": func(c echo.Context, _ error) string {
				if c.Path() == "" {
					return "unmatched"
				}
				return c.Path()
			},
		},
	}))
	hsts := 0
	if d.TLS {
		hsts = 31536000
	}
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		HSTSMaxAge:            hsts,
		ContentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
		ReferrerPolicy:        "no-referrer",
	}))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// Nothing this server answers may be kept by a browser or proxy cache.
			c.Response().Header().Set("Cache-Control", "no-store")
			return next(c)
		}
	})
	// 64 KiB for every body but the DS's messages: an AReq may carry up to 64000 characters of device
	// information and 81920 of message extensions (Annex A); its handler reads at most
	// emv.MaxMessageSize and answers anything larger with an Erro rather than an HTTP error.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "64K",
		Skipper: func(c echo.Context) bool { return c.Request().URL.Path == "/3ds/areq" }}))
	// The innermost middleware writes a handler's error response at once, so that the access log and the
	// metrics outside it record the status the client got (a 401 was logged as 200 and counted as 500).
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := next(c); err != nil {
				c.Error(err)
			}
			return nil
		}
	})

	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", readyz(d.Log, d.Checks))
	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: reg}))
	return e
}

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// accessLog writes one line per request. It logs the route template and path but never the query string
// or body, where card numbers or codes could be.
// wellFormedID accepts request ids of at most 64 letters, digits and - _ . :
func wellFormedID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return false
		}
	}
	return true
}

func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogRoutePath: true, LogRemoteIP: true, LogRequestID: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", v.Method), slog.String("route", v.RoutePath), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("remote_ip", v.RemoteIP), slog.String("request_id", v.RequestID))
			return nil
		},
	})
}

const checkTimeout = 2 * time.Second

func readyz(log *slog.Logger, checks map[string]Checker) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), checkTimeout)
		defer cancel()
		var mu sync.Mutex
		var wg sync.WaitGroup
		result := map[string]string{}
		ready := true
		for name, chk := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := chk.Ping(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					ready = false
					result[name] = "unavailable"
					log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
					return
				}
				result[name] = "ok"
			}()
		}
		wg.Wait()
		if !ready {
			return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": result})
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": result})
	}
}

// errorBody is every error answer of the JSON API.
type errorBody struct {
	Error     string            `json:"error"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

var kindStatus = map[apperr.Kind]int{
	apperr.Invalid:      http.StatusBadRequest,
	apperr.NotFound:     http.StatusNotFound,
	apperr.Expired:      http.StatusGone,
	apperr.Locked:       http.StatusLocked,
	apperr.AlreadyUsed:  http.StatusConflict,
	apperr.Conflict:     http.StatusConflict,
	apperr.Unavailable:  http.StatusServiceUnavailable,
	apperr.Unauthorized: http.StatusUnauthorized,
	apperr.Forbidden:    http.StatusForbidden,
	apperr.TooMany:      http.StatusTooManyRequests,
}

// dependencyDown reports whether err says the database or the HSM cannot be reached now, rather than
// that something is wrong: a connection that failed or broke, PostgreSQL shutting down or starting
// (SQLSTATE classes 08 and 57P), a server that takes no writes now (25006, or no primary to connect to
// during a failover), a pool that could not connect in time, the HSM unavailable.
func dependencyDown(err error) bool {
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.Is(err, hsm.ErrUnavailable), errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.As(err, &pe):
		// 25006: a write reached a server that turned read-only (a demoted primary); the pool drops that
		// connection (store.ReadOnly) and the retry reaches the new primary (issue 17).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "25006"
	case errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return pgconn.SafeToRetry(err)
}

// errorHandler is the only place errors become responses. Domain errors keep their safe message; Echo's
// own (404 route, 413 body, 405) keep theirs; anything else is a 500 with no detail, logged with the
// request id so that an operator can find it.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		body := errorBody{RequestID: requestID(c)}
		status := http.StatusInternalServerError
		var ae *apperr.Error
		var he *echo.HTTPError
		switch {
		case errors.As(err, &ae) && ae.Kind != apperr.Internal:
			status = kindStatus[ae.Kind]
			body.Error, body.Message, body.Fields = ae.Kind.String(), ae.Msg, ae.Fields
			if ae.Kind == apperr.Unavailable {
				log.WarnContext(c.Request().Context(), "dependency unavailable", "err", err, "request_id", body.RequestID)
			}
		case dependencyDown(err):
			// The database or the HSM is away (a restart, a failover, a token pulled): the client may retry,
			// and no 500 tells it the service is broken (issue 12).
			status = http.StatusServiceUnavailable
			body.Error, body.Message = "unavailable", "the service is briefly unavailable; please try again"
			log.WarnContext(c.Request().Context(), "dependency unavailable", "err", err, "request_id", body.RequestID)
		case errors.As(err, &he) && he.Code < 500:
			status = he.Code
			body.Error = "http_" + fmt.Sprint(he.Code)
			body.Message = http.StatusText(he.Code)
			if m, ok := he.Message.(string); ok {
				body.Message = m
			}
		default:
			log.ErrorContext(c.Request().Context(), "internal error", "err", err, "request_id", body.RequestID,
				"route", c.Path())
			body.Error, body.Message = "internal", "internal error"
		}
		switch {
		case c.Request().Method == http.MethodHead:
			err = c.NoContent(status)
		case wantsHTML(c.Request()):
			err = writeErrorPage(c, status, body.RequestID)
		default:
			err = c.JSON(status, body)
		}
		if err != nil {
			log.WarnContext(c.Request().Context(), "writing error response", "err", err)
		}
	}
}

// Options for Run.
type Options struct {
	Listen   string
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, asks TLS clients for a certificate and verifies one that is given against
	// these CAs (the DS CA). Browsers give none; the handlers that need one check it (acs: the AReq).
	ClientCAFile    string
	ShutdownTimeout time.Duration
	// Ready, if set, receives the bound address once the listener is open (tests listen on port 0).
	Ready func(addr net.Addr)
}

// Run serves until ctx is cancelled (SIGTERM, SIGINT), then stops taking connections, lets keep-alive
// connections drain (idleGrace) and requests in flight finish, within the shutdown timeout.
func Run(ctx context.Context, e *echo.Echo, log *slog.Logger, o Options) error {
	var draining atomic.Bool
	conns := &openConns{conns: map[net.Conn]bool{}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				w.Header().Set("Connection", "close") // the server closes the connection after this answer
			}
			e.ServeHTTP(w, r)
		}),
		ConnState:         conns.track,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("server: certificate: %w", err)
		}
		// R-KEY-3: TLS 1.2 or newer.
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if o.ClientCAFile != "" {
			pem, err := os.ReadFile(o.ClientCAFile)
			pool := x509.NewCertPool()
			if err != nil || !pool.AppendCertsFromPEM(pem) {
				_ = ln.Close()
				return fmt.Errorf("server: client CA file %s: no certificate read (%v)", o.ClientCAFile, err)
			}
			srv.TLSConfig.ClientCAs, srv.TLSConfig.ClientAuth = pool, tls.VerifyClientCertIfGiven
		}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	scheme := "http"
	if o.CertFile != "" {
		scheme = "https"
	}
	log.Info("serving", "addr", scheme+"://"+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", o.ShutdownTimeout)
	// No new connections; the open ones close after their next answer (Connection: close) or, idle for
	// the whole grace, when Shutdown closes them; Shutdown waits for the requests still in flight.
	draining.Store(true)
	_ = ln.Close()
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	grace := min(idleGrace, o.ShutdownTimeout/2)
	for end := time.Now().Add(grace); conns.any() && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout-grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// idleGrace is how long after SIGTERM a keep-alive connection may stay open before Shutdown closes it if
// idle. Closing an idle HTTP/1.1 connection races with a request the client is sending on it at that
// moment: the client gets a reset for a request the server never read (issue 12: seen in the fault runs,
// about one run in four). In the grace every answer says Connection: close, so a client that sends
// again is answered and then goes elsewhere; only connections idle for the whole grace are closed.
const idleGrace = time.Second

// openConns tracks the server's open connections (http.Server.ConnState).
type openConns struct {
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (t *openConns) track(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(t.conns, c)
	} else {
		t.conns[c] = true
	}
}

func (t *openConns) any() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns) > 0
}
