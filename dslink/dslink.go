// Package dslink owns the ACS's outbound link to the schemes' Directory Servers (DS): which hosts the
// ACS may call (the configured DSs only, never a host that an AReq names, so no message can steer the
// ACS to an internal address), the mutual-TLS client whose private key stays in the HSM, and the
// exchange of one message over HTTP. It knows nothing of the database or of what the messages mean.
package dslink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DS is one configured Directory Server.
type DS struct {
	// Scheme is the card scheme the DS serves (visa, mastercard, ...), as the card directory names it.
	Scheme string
	// URL receives the RReqs of this scheme's cards when the AReq's dsURL is absent or not allowed.
	URL string
	// Hosts are the host[:port] an AReq's dsURL may name for this DS; port "*" allows any port (for
	// loopback development set-ups). The URL's own host is always allowed.
	Hosts []string
}

// Config configures the link.
type Config struct {
	DSs []DS
	// Roots verify the DSs' server certificates; nil: the system roots.
	Roots *x509.CertPool
	// Client is the ACS's client certificate for mutual TLS (its PrivateKey a crypto.Signer in the HSM);
	// nil: no client certificate (a TLS-terminating proxy in front adds it, or development).
	Client *tls.Certificate
	// Timeout bounds one exchange (connect, send, read the answer).
	Timeout time.Duration
	// PlainLoopback allows http:// to loopback addresses (development and tests); otherwise only https.
	PlainLoopback bool
}

// Link posts messages to allowed DSs.
type Link struct {
	cfg    Config
	client *http.Client
}

// ErrNotAllowed means a URL names no configured DS.
var ErrNotAllowed = errors.New("dslink: not a configured Directory Server")

// New returns a Link. Redirects are never followed: a redirect could lead off the allow-list.
func New(cfg Config) (*Link, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.Roots}
	if cfg.Client != nil {
		tc.Certificates = []tls.Certificate{*cfg.Client}
	}
	l := &Link{cfg: cfg}
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout, ResponseHeaderTimeout: cfg.Timeout, ForceAttemptHTTP2: true}
	// The dialer checks the allow-list once more on the address actually dialled, so that nothing that
	// reaches the transport (a proxy setting, a future caller) can bypass it.
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !l.hostAllowed(addr) {
			return nil, fmt.Errorf("%w: %s", ErrNotAllowed, addr)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	l.client = &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, d := range cfg.DSs {
		if d.URL != "" && !l.allowedFor(d, d.URL) {
			return nil, fmt.Errorf("dslink: DS %s: url %q is not one the link may call (https, or http to loopback in development)", d.Scheme, d.URL)
		}
	}
	return l, nil
}

// Target picks where a transaction's RReq goes: the AReq's dsURL when it names a host of the card
// scheme's own DS (a Mastercard result never goes to another scheme's DS), otherwise that DS's
// configured URL. It returns ErrNotAllowed when neither exists.
func (l *Link) Target(scheme, dsURL string) (string, error) {
	for _, d := range l.cfg.DSs {
		if strings.EqualFold(d.Scheme, scheme) && dsURL != "" && l.allowedFor(d, dsURL) {
			return dsURL, nil
		}
	}
	for _, d := range l.cfg.DSs {
		if strings.EqualFold(d.Scheme, scheme) && d.URL != "" {
			return d.URL, nil
		}
	}
	return "", ErrNotAllowed
}

// Allowed reports whether u is an http(s) URL of a configured DS host.
func (l *Link) Allowed(u string) bool {
	for _, d := range l.cfg.DSs {
		if l.allowedFor(d, u) {
			return true
		}
	}
	return false
}

// allowedFor reports whether u is an http(s) URL of one of d's hosts.
func (l *Link) allowedFor(d DS, u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.User != nil || p.Host == "" {
		return false
	}
	port := p.Port()
	switch p.Scheme {
	case "https":
		if port == "" {
			port = "443"
		}
	case "http":
		if !l.cfg.PlainLoopback || !isLoopback(p.Hostname()) {
			return false
		}
		if port == "" {
			port = "80"
		}
	default:
		return false
	}
	return hostOf(d, net.JoinHostPort(p.Hostname(), port))
}

// hostAllowed matches host:port against the hosts of every configured DS.
func (l *Link) hostAllowed(addr string) bool {
	for _, d := range l.cfg.DSs {
		if hostOf(d, addr) {
			return true
		}
	}
	return false
}

// hostOf matches host:port against d's hosts and its URL's host.
func hostOf(d DS, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	pats := d.Hosts
	if u, err := url.Parse(d.URL); err == nil && u.Host != "" {
		p := u.Port()
		if p == "" {
			p = map[string]string{"https": "443", "http": "80"}[u.Scheme]
		}
		pats = append(pats[:len(pats):len(pats)], net.JoinHostPort(u.Hostname(), p))
	}
	for _, pat := range pats {
		ph, pp, err := net.SplitHostPort(pat)
		if err != nil {
			ph, pp = strings.Trim(pat, "[]"), "443"
		}
		if strings.EqualFold(ph, host) && (pp == "*" || pp == port) {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// Response is a DS's answer to a posted message.
type Response struct {
	Status int
	Body   []byte
}

// ErrNoAnswer means the message was sent but no answer came within the timeout (or the connection broke
// after sending): the peer may have it. EMV treats this apart from a failure to connect: the ACS does
// not send an RReq again but tells the DS with Erro 402 (Req 241, 242).
var ErrNoAnswer = errors.New("dslink: sent, but no answer in time")

// Post sends one EMV message (JSON) to target with the given headers and returns the answer, read up to
// 256 KiB. It refuses targets off the allow-list before any connection is made. An error after the
// request was written wraps ErrNoAnswer; any other error means the message did not leave.
func (l *Link) Post(ctx context.Context, target string, body []byte, headers map[string]string) (*Response, error) {
	if !l.Allowed(target) {
		return nil, fmt.Errorf("%w: %s", ErrNotAllowed, target)
	}
	var wrote atomic.Bool // set on the transport's writing goroutine
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		wrote.Store(i.Err == nil)
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// Req 190: EMV messages are JSON in UTF-8.
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		if wrote.Load() {
			return nil, fmt.Errorf("%w: %v", ErrNoAnswer, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoAnswer, err)
	}
	return &Response{Status: resp.StatusCode, Body: b}, nil
}
