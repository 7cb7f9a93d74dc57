package appapi_test

import (
	"context"
	"testing"
	"time"
)

// R-REG-9: every read of the issuer's data during a registration is counted: the card check, the
// request (status, letter bound to the holder), the letter's address and the activation; the app shows
// the 13-month count on demand, signed by the device; reads older than 13 months drop out.
func TestIssuerDataReadsInTheApp(t *testing.T) {
	fx := newFixture(t)
	key, cardID := fx.activeApp(t)
	now := fx.Clock.Now()
	rows, err := fx.Pool.Query(context.Background(), `SELECT purpose FROM issuer_data_access WHERE card_id = $1 ORDER BY accessed_at, purpose`, cardID)
	if err != nil {
		t.Fatal(err)
	}
	var purposes []string
	for rows.Next() {
		var p string
		_ = rows.Scan(&p)
		purposes = append(purposes, p)
	}
	want := map[string]bool{"registration_check": true, "registration_request": true, "letter_address": true, "activation": true}
	if len(purposes) != len(want) {
		t.Fatalf("reads recorded: %v", purposes)
	}
	for _, p := range purposes {
		if !want[p] {
			t.Fatalf("reads recorded: %v", purposes)
		}
	}
	code, res := fx.send(fx.request(t, "/app/v1/issuer-data-reads", map[string]string{"card_id": cardID}, key, now))
	if code != 200 || res["issuer_data_reads_13_months"] != float64(4) || res["since"] == nil {
		t.Fatalf("count: %d %v", code, res)
	}
	if code, _ := fx.send(fx.request(t, "/app/v1/issuer-data-reads", map[string]string{"card_id": cardID}, nil, now)); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	other, _ := newKey(t)
	if code, _ := fx.send(fx.request(t, "/app/v1/issuer-data-reads", map[string]string{"card_id": cardID}, other, now)); code != 401 {
		t.Fatalf("another device's key: %d", code)
	}
	// Thirteen months and a day later the registration's reads are outside the window.
	fx.Clock.Advance(396 * 24 * time.Hour)
	now = fx.Clock.Now()
	if code, res := fx.send(fx.request(t, "/app/v1/issuer-data-reads", map[string]string{"card_id": cardID}, key, now)); code != 200 || res["issuer_data_reads_13_months"] != float64(0) {
		t.Fatalf("count after 13 months: %d %v", code, res)
	}
}
