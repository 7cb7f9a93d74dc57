// Package sim3ds is a 3DS Server simulator: it plays the merchant's 3DS Server and the cardholder's
// browser against an ACS over HTTP. It sends AReqs, posts the CReq as a checkout page would, fills in and
// submits the challenge page's form, carries the final CRes to its own notificationURL, and receives
// RReqs on its threeDSServerURL, answering RRes (or failing on purpose, to test the ACS's retries).
// The ACS's tests and cmd/threeds-sim use it.
package sim3ds

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	xhtml "golang.org/x/net/html"
)

// Sim is a running simulator. Its HTTP endpoints listen on loopback.
type Sim struct {
	// ACS is the ACS's base URL, e.g. http://127.0.0.1:8080.
	ACS    string
	Client *http.Client

	srv      *http.Server
	base     string
	rreqDown atomic.Bool

	mu        sync.Mutex
	cres      map[string][]Received // by threeDSServerTransID
	rreqs     map[string][]Received
	checkouts map[string]checkoutPage
}

type checkoutPage struct{ acsURL, creq, width, height string }

// Received is a message the simulator got: the decoded JSON and, for a CRes, the threeDSSessionData.
type Received struct {
	Message     map[string]any
	SessionData string
	Raw         []byte
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
		checkouts: map[string]checkoutPage{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify", s.notify)
	mux.HandleFunc("POST /rreq", s.rreq)
	mux.HandleFunc("GET /checkout/{id}", s.checkout)
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the simulator's endpoints.
func (s *Sim) Close() { _ = s.srv.Close() }

// NotificationURL and ServerURL are the simulator's endpoints an AReq names.
func (s *Sim) NotificationURL() string { return s.base + "/notify" }
func (s *Sim) ServerURL() string       { return s.base + "/rreq" }

// SetRReqDown makes the RReq endpoint answer 503 (true) or RRes (false).
func (s *Sim) SetRReqDown(down bool) { s.rreqDown.Store(down) }

func (s *Sim) notify(w http.ResponseWriter, r *http.Request) {
	raw := r.FormValue("cres")
	b, err := base64.RawURLEncoding.DecodeString(raw)
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		http.Error(w, "bad cres", http.StatusBadRequest)
		return
	}
	id, _ := m["threeDSServerTransID"].(string)
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
	b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m["messageType"] != "RReq" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"messageType": "Erro", "errorCode": "101", "errorComponent": "S",
			"errorDescription": "Message Received Invalid", "errorDetail": "RReq", "messageVersion": "2.2.0"})
		return
	}
	id, _ := m["threeDSServerTransID"].(string)
	s.mu.Lock()
	s.rreqs[id] = append(s.rreqs[id], Received{Message: m, Raw: b})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"threeDSServerTransID": id, "acsTransID": fmt.Sprint(m["acsTransID"]),
		"dsTransID": fmt.Sprint(m["dsTransID"]), "messageType": "RRes", "messageVersion": fmt.Sprint(m["messageVersion"]),
		"resultsStatus": "01"})
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
	m["notificationURL"], m["threeDSServerURL"] = s.NotificationURL(), s.ServerURL()
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m, nil
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
	resp, err := s.Client.Post(s.ACS+"/3ds/areq", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("sim3ds: answer is not JSON: %w", err)
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

func parseForms(body string) ([]Form, error) {
	doc, err := xhtml.Parse(strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	var forms []Form
	var cur *Form
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode {
			a := map[string]string{}
			for _, at := range n.Attr {
				a[at.Key] = at.Val
			}
			switch n.Data {
			case "form":
				forms = append(forms, Form{ID: a["id"], Action: a["action"], Fields: url.Values{}})
				cur = &forms[len(forms)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "input":
				_, checked := a["checked"]
				box := a["type"] == "checkbox" || a["type"] == "radio"
				if cur != nil && a["name"] != "" && (!box || checked) {
					cur.Fields.Set(a["name"], a["value"])
				}
			case "button":
				if cur != nil && a["name"] == "action" {
					cur.Buttons = append(cur.Buttons, a["value"])
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return forms, nil
}
