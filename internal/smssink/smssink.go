// Package smssink plays an SMS gateway over Kannel's sendsms interface for the load and fault tools
// (bench, faults; the service's sms.gateway: kannel points at it). It hands each mTAN to whoever waits
// for its merchant (every purchase of those tools has a merchant name of its own) and counts the mTAN
// messages per merchant, so that a message sent twice is seen. It keeps no number and no text.
package smssink

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// Sink is the gateway: mount it at GET /cgi-bin/sendsms.
type Sink struct {
	mu          sync.Mutex
	waiting     map[string]chan string
	perMerchant map[string]int
	other       int // messages that are no purchase's mTAN
}

// New returns an empty sink.
func New() *Sink { return &Sink{waiting: map[string]chan string{}, perMerchant: map[string]int{}} }

// mtanText is the mTAN message of a purchase: the code and the merchant (the sms templates, German).
var mtanText = regexp.MustCompile(`mTAN ([0-9]{6}) .* bei (.+?)\. `)

// ServeHTTP takes a message as Kannel's smsbox would.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("to") == "" || q.Get("text") == "" {
		http.Error(w, "Missing receiver or text", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if m := mtanText.FindStringSubmatch(q.Get("text")); m != nil {
		merchant := strings.TrimSpace(m[2])
		s.perMerchant[merchant]++
		if ch := s.waiting[merchant]; ch != nil {
			select {
			case ch <- m[1]:
			default:
			}
		}
	} else {
		s.other++
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "0: Accepted for delivery")
}

// Expect registers a wait for the mTAN of merchant; done removes it.
func (s *Sink) Expect(merchant string) (<-chan string, func()) {
	ch := make(chan string, 1)
	s.mu.Lock()
	s.waiting[merchant] = ch
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.waiting, merchant)
		s.mu.Unlock()
	}
}

// Counts returns the mTAN messages per merchant and the number of other messages.
func (s *Sink) Counts() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.perMerchant))
	for k, v := range s.perMerchant {
		out[k] = v
	}
	return out, s.other
}
