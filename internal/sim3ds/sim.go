// Package sim3ds is a 3DS Server and Directory Server simulator: it plays the merchant's 3DS Server,
// the scheme's DS and the cardholder's browser against an ACS over HTTP. It sends AReqs (as the DS
// forwards them, dsURL naming its own RReq endpoint), posts the CReq as a checkout page would, fills in
// and submits the challenge page's form, carries the final CRes (or an Erro) to its own
// notificationURL, and receives RReqs as the DS, answering RRes (or failing on purpose, to test the
// ACS's retries). Every message it receives from the ACS is checked against the element tables of
// package emv; what fails is kept in Problems. The ACS's tests and cmd/threeds-sim use it.
package sim3ds

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	xhtml "golang.org/x/net/html"

	"example.com/acs/emv"
)

// Sim is a running simulator. Its HTTP endpoints listen on loopback.
type Sim struct {
	// ACS is the ACS's base URL, e.g. http://127.0.0.1:8080.
	ACS    string
	Client *http.Client

	srv      *http.Server
	base     string
	dsBase   string // the DS endpoint's base: base, or the mutual-TLS listener of ServeDS
	dsSrv    *http.Server
	rreqDown atomic.Bool
	rreqWait atomic.Int64           // how long the DS takes to answer an RReq (SetRReqDelay)
	rresBody atomic.Pointer[[]byte] // an answer to send instead of the RRes (SetRResBody)

	mu        sync.Mutex
	cres      map[string][]Received // by threeDSServerTransID
	rreqs     map[string][]Received
	checkouts map[string]checkoutPage
	versions  map[string]string // messageVersion by threeDSServerTransID, as the AReq had it
	channels  map[string]string // deviceChannel by threeDSServerTransID
	cats      map[string]string // messageCategory by threeDSServerTransID
	problems  []string
	erros     []map[string]any
}

// Problems lists the messages from the ACS that failed the emv tables, as "type: Erro code detail".
func (s *Sim) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

func (s *Sim) problem(format string, args ...any) {
	s.mu.Lock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// check decodes a message from the ACS through its version's element table.
func (s *Sim) check(body []byte, t emv.MessageType, serverTransID string) (*emv.Message, *emv.Erro) {
	s.mu.Lock()
	ctx := emv.Context{Version: emv.Version(s.versions[serverTransID]), Channel: emv.ChannelOf(s.channels[serverTransID]),
		Category: emv.CategoryOf(s.cats[serverTransID])}
	s.mu.Unlock()
	if ctx.Channel == 0 {
		ctx.Channel = emv.BRW
	}
	if ctx.Category == 0 {
		ctx.Category = emv.PA
	}
	if t == emv.TypeErro {
		ctx.Version = "" // an Erro answers in the version it can (102: the ACS's newest)
	}
	m, e := emv.Decode(body, t, ctx)
	if e != nil {
		s.problem("%s: Erro %s %s", t, e.ErrorCode, e.ErrorDetail)
	}
	return m, e
}

type checkoutPage struct{ acsURL, creq, width, height string }

// Received is a message the simulator got: the decoded JSON and, for a CRes, the threeDSSessionData;
// for an RReq over mutual TLS, the subject of the client certificate the ACS presented.
type Received struct {
	Message     map[string]any
	SessionData string
	Raw         []byte
	ClientCert  string
}

// Start listens on a free loopback port. Close stops it.
func Start(acsURL string) (*Sim, error) { return StartOn(acsURL, "127.0.0.1:0") }

// StartOn listens on addr.
func StartOn(acsURL, addr string) (*Sim, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sim{ACS: strings.TrimSuffix(acsURL, "/"), Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, base: "http://" + ln.Addr().String(), cres: map[string][]Received{}, rreqs: map[string][]Received{},
		checkouts: map[string]checkoutPage{}, versions: map[string]string{}, channels: map[string]string{},
		cats: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify", s.notify)
	mux.HandleFunc("POST /rreq", s.rreq)
	mux.HandleFunc("POST /3ds-server/results", func(w http.ResponseWriter, r *http.Request) {
		s.problem("the ACS posted to the 3DS Server's threeDSServerURL, which only the DS may call")
		http.Error(w, "not for the ACS", http.StatusForbidden)
	})
	mux.HandleFunc("GET /checkout/{id}", s.checkout)
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the simulator's endpoints.
func (s *Sim) Close() {
	_ = s.srv.Close()
	if s.dsSrv != nil {
		_ = s.dsSrv.Close()
	}
}

// NotificationURL is the 3DS Requestor's endpoint for the final CRes; DSURL is the DS's endpoint for
// RReqs (the AReq's dsURL); ServerURL is the 3DS Server's own results endpoint, which only the DS may
// call: the ACS must never post there (the simulator records it as a problem if it does).
func (s *Sim) NotificationURL() string { return s.base + "/notify" }
func (s *Sim) DSURL() string {
	if s.dsBase != "" {
		return s.dsBase + "/rreq"
	}
	return s.base + "/rreq"
}

// ServeDS moves the DS's RReq endpoint to a TLS listener on loopback that requires a client certificate
// issued by clientCAs, as a scheme's DS does (2.3.1 6.1.3.2: the ACS is the TLS client). Call it before
// the AReqs that should name it. Each RReq then records the client certificate's subject.
func (s *Sim) ServeDS(cert tls.Certificate, clientCAs *x509.CertPool) error {
	return s.ServeDSOn("127.0.0.1:0", cert, clientCAs)
}

// ServeDSOn is ServeDS on addr: a fixed address, for a DS that an ACS's configuration names (the fault
// runs of faults/).
func (s *Sim) ServeDSOn(addr string, cert tls.Certificate, clientCAs *x509.CertPool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: clientCAs,
		ClientAuth: tls.RequireAndVerifyClientCert}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rreq", s.rreq)
	// Refused handshakes (a client without a certificate) are the point of some tests, not noise.
	s.dsSrv = &http.Server{Handler: mux, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
	s.dsBase = "https://" + ln.Addr().String()
	go func() { _ = s.dsSrv.Serve(tls.NewListener(ln, cfg)) }()
	return nil
}
func (s *Sim) ServerURL() string { return s.base + "/3ds-server/results" }

// Base is the simulator's base URL.
func (s *Sim) Base() string { return s.base }

// SetRResBody makes the DS answer RReqs with body instead of an RRes (nil: RRes again), to test how the
// ACS takes a broken or refusing answer.
func (s *Sim) SetRResBody(body []byte) {
	if body == nil {
		s.rresBody.Store(nil)
		return
	}
	s.rresBody.Store(&body)
}

// Erros lists the Erro messages the DS received from the ACS (about its answers).
func (s *Sim) Erros() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.erros...)
}

// SetRReqDown makes the RReq endpoint answer 503 (true) or RRes (false).
func (s *Sim) SetRReqDown(down bool) { s.rreqDown.Store(down) }

// SetRReqDelay makes the DS take d to answer each RReq it has received (a slow DS; 0: at once).
func (s *Sim) SetRReqDelay(d time.Duration) { s.rreqWait.Store(int64(d)) }

func (s *Sim) notify(w http.ResponseWriter, r *http.Request) {
	raw := r.FormValue("cres")
	b, err := base64.RawURLEncoding.DecodeString(raw)
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		http.Error(w, "bad cres", http.StatusBadRequest)
		return
	}
	id, _ := m["threeDSServerTransID"].(string)
	kind := emv.TypeCRes
	if m["messageType"] == string(emv.TypeErro) {
		kind = emv.TypeErro
	}
	s.check(b, kind, id)
	s.mu.Lock()
	s.cres[id] = append(s.cres[id], Received{Message: m, SessionData: r.FormValue("threeDSSessionData"), Raw: b})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, "<!doctype html><body style=\"font-family:sans-serif\"><h2>3DS Server simulator</h2><p>Final CRes received: transStatus <b>%s</b>.</p></body>",
		html.EscapeString(fmt.Sprint(m["transStatus"])))
}

func (s *Sim) rreq(w http.ResponseWriter, r *http.Request) {
	if s.rreqDown.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	id, _ := m["threeDSServerTransID"].(string)
	if m["messageType"] == string(emv.TypeErro) {
		s.check(b, emv.TypeErro, id)
		s.mu.Lock()
		s.erros = append(s.erros, m)
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.EqualFold(strings.ReplaceAll(ct, " ", ""), "application/json;charset=utf-8") {
		s.problem("RReq: Content-Type %q (Req 190)", ct)
	}
	msg, e := s.check(b, emv.TypeRReq, id)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if e != nil {
		e.ErrorComponent = "D"
		_, _ = w.Write(emv.EncodeErro(e))
		return
	}
	if got := r.Header.Get("X-Request-ID"); got != msg.Str("acsTransID") {
		s.problem("RReq: X-Request-ID %q, want the acsTransID (Table A.29)", got)
	}
	rec := Received{Message: m, Raw: b}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		rec.ClientCert = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	s.mu.Lock()
	s.rreqs[id] = append(s.rreqs[id], rec)
	s.mu.Unlock()
	time.Sleep(time.Duration(s.rreqWait.Load()))
	if alt := s.rresBody.Load(); alt != nil {
		_, _ = w.Write(*alt)
		return
	}
	out, err := emv.RResFor(msg, "01")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("X-Request-ID", msg.Str("acsTransID"))
	w.Header().Set("X-Response-ID", msg.Str("dsTransID"))
	_, _ = w.Write(out)
}

// windowSizes are the EMV challenge window sizes (challengeWindowSize 01..05) in CSS pixels.
var windowSizes = map[string][2]string{"01": {"250px", "400px"}, "02": {"390px", "400px"}, "03": {"500px", "600px"},
	"04": {"600px", "400px"}, "05": {"100%", "85vh"}}

// Checkout registers a checkout page for a challenged ARes and returns its URL: opened in a browser,
// it posts the CReq into an iframe of the window size, as a merchant's page does.
func (s *Sim) Checkout(ares map[string]any, windowSize string) string {
	id := fmt.Sprint(ares["threeDSServerTransID"])
	size := windowSizes[windowSize]
	s.mu.Lock()
	s.checkouts[id] = checkoutPage{acsURL: fmt.Sprint(ares["acsURL"]), creq: CReq(ares, windowSize, nil), width: size[0], height: size[1]}
	s.mu.Unlock()
	return s.base + "/checkout/" + id
}

func (s *Sim) checkout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.checkouts[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>Checkout (3DS Server simulator)</title></head>
<body style="font-family:sans-serif;background:#eee">
<h2>Checkout: 3DS Server simulator</h2>
<p>The card issuer asks you to confirm this payment:</p>
<iframe name="challenge" style="width:%s;height:%s;border:1px solid #999;background:#fff"></iframe>
<form id="creq" method="post" action="%s" target="challenge">
<input type="hidden" name="creq" value="%s"><input type="hidden" name="threeDSSessionData" value="c2ltdWxhdG9y">
</form>
<script>document.getElementById("creq").submit();</script>
</body></html>`, p.width, p.height, html.EscapeString(p.acsURL), html.EscapeString(p.creq))
}

// CRes and RReqs return what arrived for a transaction so far.
func (s *Sim) CRes(threeDSServerTransID string) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.cres[threeDSServerTransID]...)
}

func (s *Sim) RReqs(threeDSServerTransID string) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.rreqs[threeDSServerTransID]...)
}

// AReq returns a browser AReq read from the sample file (testdata/emv/areq-browser.json), with fresh
// transaction ids, this simulator's endpoints, and the given elements replaced (a nil value removes one).
func (s *Sim) AReq(samplePath string, set map[string]any) (map[string]any, error) {
	b, err := os.ReadFile(samplePath)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["threeDSServerTransID"], m["dsTransID"] = uuid.NewString(), uuid.NewString()
	m["notificationURL"], m["threeDSServerURL"], m["dsURL"] = s.NotificationURL(), s.ServerURL(), s.DSURL()
	Apply(m, set)
	return m, nil
}

// Apply sets the elements of set on the message m; a nil value removes the element.
func Apply(m, set map[string]any) {
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
}

// Send posts an AReq (any JSON value, or raw bytes) to the ACS and returns the HTTP status and the decoded
// answer.
func (s *Sim) Send(areq any) (int, map[string]any, error) {
	body, ok := areq.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(areq); err != nil {
			return 0, nil, err
		}
	}
	var head struct {
		ID      string `json:"threeDSServerTransID"`
		Version string `json:"messageVersion"`
		Channel string `json:"deviceChannel"`
		Cat     string `json:"messageCategory"`
		DSTrans string `json:"dsTransID"`
	}
	_ = json.Unmarshal(body, &head)
	s.mu.Lock()
	s.versions[head.ID], s.channels[head.ID], s.cats[head.ID] = head.Version, head.Channel, head.Cat
	s.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, s.ACS+"/3ds/areq", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Request-ID", head.DSTrans)
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("sim3ds: answer is not JSON: %w", err)
	}
	kind := emv.TypeARes
	if m["messageType"] == string(emv.TypeErro) {
		kind = emv.TypeErro
	}
	if emv.Supported(head.Version) {
		if _, e := s.check(raw, kind, head.ID); e == nil && kind == emv.TypeARes {
			if resp.Header.Get("X-Response-ID") != m["acsTransID"] || resp.Header.Get("X-Request-ID") != head.DSTrans {
				s.problem("ARes: X-Request-ID/X-Response-ID %q/%q (Table A.29)", resp.Header.Get("X-Request-ID"), resp.Header.Get("X-Response-ID"))
			}
		}
	}
	return resp.StatusCode, m, nil
}

// CReq is the browser challenge request for an ARes, base64url-encoded as the form field wants it.
func CReq(ares map[string]any, windowSize string, extra map[string]any) string {
	m := map[string]any{"threeDSServerTransID": ares["threeDSServerTransID"], "acsTransID": ares["acsTransID"],
		"messageType": "CReq", "messageVersion": ares["messageVersion"], "challengeWindowSize": windowSize}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Page is an HTML page the browser got.
type Page struct {
	Status int
	Header http.Header
	Body   string
	Forms  []Form
	sim    *Sim
	lang   string
}

// Form is a form of a page: where it posts and its fields' values (hidden ones included).
type Form struct {
	ID      string
	Action  string
	Fields  url.Values
	Buttons []string // the values of its submit buttons named "action"
}

// Challenge posts the CReq to the ARes's acsURL as the checkout page's hidden form would, in the
// browser language lang ("de" or "en").
func (s *Sim) Challenge(ares map[string]any, creq, sessionData, lang string) (*Page, error) {
	acsURL, _ := ares["acsURL"].(string)
	if acsURL == "" {
		return nil, errors.New("sim3ds: the ARes has no acsURL")
	}
	return s.post(acsURL, url.Values{"creq": {creq}, "threeDSSessionData": {sessionData}}, lang)
}

func (s *Sim) post(target string, form url.Values, lang string) (*Page, error) {
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	p := &Page{Status: resp.StatusCode, Header: resp.Header, Body: string(b), sim: s, lang: lang}
	p.Forms, err = parseForms(string(b))
	return p, err
}

// Submit fills the page's first form with fields and submits it with the button whose value is action
// (verify, resend, cancel), as the cardholder's click would.
func (p *Page) Submit(action string, fields map[string]string) (*Page, error) {
	if len(p.Forms) == 0 {
		return nil, fmt.Errorf("sim3ds: the page (HTTP %d) has no form", p.Status)
	}
	f := p.Forms[0]
	v := url.Values{}
	for k, vs := range f.Fields {
		v[k] = append([]string(nil), vs...)
	}
	for k, x := range fields {
		v.Set(k, x)
	}
	v.Set("action", action)
	return p.sim.post(p.resolve(f.Action), v, p.lang)
}

func (p *Page) resolve(action string) string {
	u, err := url.Parse(action)
	if err != nil || u.IsAbs() {
		return action
	}
	base, _ := url.Parse(p.sim.ACS + "/")
	return base.ResolveReference(u).String()
}

// Final reports whether the page is the one that carries the final CRes, and posts it to its action
// (the notificationURL) as the page's script does; it returns the decoded CRes.
func (p *Page) Final() (map[string]any, bool, error) {
	for _, f := range p.Forms {
		if f.ID != "cres" {
			continue
		}
		resp, err := p.sim.Client.PostForm(f.Action, f.Fields)
		if err != nil {
			return nil, true, err
		}
		resp.Body.Close()
		b, err := base64.RawURLEncoding.DecodeString(f.Fields.Get("cres"))
		if err != nil {
			return nil, true, err
		}
		var m map[string]any
		return m, true, json.Unmarshal(b, &m)
	}
	return nil, false, nil
}

// parseForms reads the forms of a page, their fields as a browser would submit them and their action
// buttons. It tokenizes rather than building the document tree: the load tool plays the browser on the
// cores the service is measured on, and the tree was half of its CPU per mTAN purchase (issue 13). As an
// HTML parser does, a form start tag inside an open form is ignored.
func parseForms(body string) ([]Form, error) {
	z := xhtml.NewTokenizer(strings.NewReader(body))
	var forms []Form
	cur := -1 // index of the open form
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return nil, err
			}
			return forms, nil
		case xhtml.EndTagToken:
			if name, _ := z.TagName(); string(name) == "form" {
				cur = -1
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, more := z.TagName()
			tag := string(name)
			if tag != "form" && tag != "input" && tag != "button" {
				continue
			}
			a := map[string]string{}
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				a[string(k)] = string(v)
			}
			switch tag {
			case "form":
				if cur < 0 {
					forms = append(forms, Form{ID: a["id"], Action: a["action"], Fields: url.Values{}})
					cur = len(forms) - 1
				}
			case "input":
				_, checked := a["checked"]
				box := a["type"] == "checkbox" || a["type"] == "radio"
				if cur >= 0 && a["name"] != "" && (!box || checked) {
					forms[cur].Fields.Set(a["name"], a["value"])
				}
			case "button":
				if cur >= 0 && a["name"] == "action" {
					forms[cur].Buttons = append(forms[cur].Buttons, a["value"])
				}
			}
		}
	}
}
