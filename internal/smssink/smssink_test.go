package smssink

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func send(t *testing.T, s *Sink, to, text string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cgi-bin/sendsms?"+url.Values{"to": {to}, "text": {text}}.Encode(), nil))
	return rec.Code
}

func TestHandsTheMTANToItsMerchantAndCountsRepeats(t *testing.T) {
	s := New()
	code, done := s.Expect("Chaos-Shop 7")
	defer done()
	text := "mTAN 271828 für 150,00 EUR bei Chaos-Shop 7. Nur gültig für diesen Kauf, 4 Minuten."
	if got := send(t, s, "+4915112345678", text); got != http.StatusAccepted {
		t.Fatalf("HTTP %d, want 202 as Kannel answers", got)
	}
	if got := <-code; got != "271828" {
		t.Fatalf("mTAN %q", got)
	}
	send(t, s, "+4915112345678", text)
	send(t, s, "+4915112345678", "Ihre neue Rufnummer ist bestätigt.")
	counts, other := s.Counts()
	if counts["Chaos-Shop 7"] != 2 || other != 1 {
		t.Fatalf("counts %v, other %d: want the repeat seen", counts, other)
	}
	if got := send(t, s, "", text); got != http.StatusBadRequest {
		t.Fatalf("no receiver: HTTP %d, want 400", got)
	}
}
