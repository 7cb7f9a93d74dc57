package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"example.com/acs/emv"
	"example.com/acs/internal/devpki"
	"example.com/acs/internal/smssink"
)

// peers plays what surrounds the ACS in a purchase, over the real protocols: the Directory Server
// (RReq in, RRes out), the merchant's notificationURL (the browser posts the final CRes there) and the
// SMS gateway (Kannel's sendsms interface, internal/smssink), from which the cardholder's mTAN is read.
// Each answers in as little CPU as it can: the machine is shared with the ACS being measured.
type peers struct {
	srv, dsSrv *http.Server
	base       string

	rreqs    atomic.Int64
	rreqErrs atomic.Int64
	mu       sync.Mutex
	perTx    map[string]int // RReqs per acsTransID: each must arrive once
	sms      *smssink.Sink
}

// startPeers listens on addr (plain HTTP: the merchant and the SMS gateway) and on dsAddr, where the DS
// takes RReqs over mutual TLS with the development PKI in pkiDir (`acs pki dev`), as a scheme's DS does.
func startPeers(addr, dsAddr, pkiDir string) (*peers, error) {
	files := devpki.In(pkiDir)
	cert, err := files.DSServer()
	if err != nil {
		return nil, err
	}
	cas, err := files.Roots()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	dsLn, err := net.Listen("tcp", dsAddr)
	if err != nil {
		return nil, err
	}
	p := &peers{base: "http://" + ln.Addr().String(), perTx: map[string]int{}, sms: smssink.New()}
	dsMux := http.NewServeMux()
	dsMux.HandleFunc("POST /ds/rreq", p.rreq)
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: cas,
		ClientAuth: tls.RequireAndVerifyClientCert}
	p.dsSrv = &http.Server{Handler: dsMux, TLSConfig: tcfg, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.dsSrv.Serve(tls.NewListener(dsLn, tcfg)) }()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("GET /cgi-bin/sendsms", p.sms)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *peers) close() { _ = p.srv.Close(); _ = p.dsSrv.Close() }

// rreq acknowledges an RReq with RRes 01 after reading it as a DS does.
func (p *peers) rreq(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, emv.MaxMessageSize))
	if err != nil {
		return
	}
	m, erro := emv.Decode(body, emv.TypeRReq, emv.Context{})
	if erro != nil {
		p.rreqErrs.Add(1)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(emv.EncodeErro(erro))
		return
	}
	out, err := emv.RResFor(m, "01")
	if err != nil {
		p.rreqErrs.Add(1)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.rreqs.Add(1)
	p.mu.Lock()
	p.perTx[m.Str("acsTransID")]++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(out)
}

// duplicates counts transactions whose RReq arrived more than once.
func (p *peers) duplicates() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.perTx {
		if c > 1 {
			n++
		}
	}
	return n
}
