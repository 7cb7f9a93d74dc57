package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The simulator sends an AReq built from the sample with the flags' card, amount and merchant, and prints
// the ARes. (Challenges through it are exercised by the acs package's flow tests.)
func TestFrictionlessPurchase(t *testing.T) {
	var got map[string]any
	acs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got)
		_, _ = io.WriteString(w, `{"messageType":"ARes","transStatus":"Y","eci":"05"}`)
	}))
	defer acs.Close()
	var out, errb bytes.Buffer
	code := run([]string{"-acs", acs.URL, "-listen", "127.0.0.1:0", "-areq", "../../testdata/emv/areq-browser.json",
		"-pan", "4000110000000025", "-amount", "12.5", "-merchant", "Eisdiele"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), `"transStatus": "Y"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if got["acctNumber"] != "4000110000000025" || got["purchaseAmount"] != "1250" || got["merchantName"] != "Eisdiele" ||
		!strings.HasPrefix(got["notificationURL"].(string), "http://127.0.0.1:") {
		t.Fatalf("AReq: %v", got)
	}
	if code := run([]string{"-amount", "zwölf"}, &out, &errb); code != 2 {
		t.Fatalf("bad amount: exit %d", code)
	}
}
