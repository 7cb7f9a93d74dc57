package sms_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"example.com/acs/sms"
)

// Issue 16 (ops/): the operator sees what the gateway does, by purpose and outcome, what the sent SMS
// cost, and the outbox's backlog; a failing gateway shows as retries and given-up messages.
func TestDeliveryMetrics(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := sms.NewMetrics(reg, fx.pool, 0)
	fx.enqueue(t, "one")
	fx.enqueue(t, "two")
	pending := `
# HELP acs_sms_outbox_pending SMS waiting to be sent.
# TYPE acs_sms_outbox_pending gauge
acs_sms_outbox_pending 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(pending), "acs_sms_outbox_pending"); err != nil {
		t.Fatal(err)
	}
	d := fx.dispatcher(&flaky{fails: 1, err: errors.New("connection refused")})
	d.Metrics = m
	for i := 0; i < 2; i++ {
		if _, _, err := d.DispatchOnce(ctx); err != nil {
			t.Fatal(err)
		}
		fx.clock.Advance(10e9)
	}
	want := `
# HELP acs_sms_cost_total What the sent SMS are charged to cardholders, by currency (R-AUTH-9).
# TYPE acs_sms_cost_total counter
acs_sms_cost_total{currency="EUR"} 0.18
# HELP acs_sms_deliveries_total SMS delivery attempts by purpose and outcome (sent, retry, given_up).
# TYPE acs_sms_deliveries_total counter
acs_sms_deliveries_total{outcome="retry",purpose="mtan"} 1
acs_sms_deliveries_total{outcome="sent",purpose="mtan"} 2
# HELP acs_sms_outbox_pending SMS waiting to be sent.
# TYPE acs_sms_outbox_pending gauge
acs_sms_outbox_pending 0
# HELP acs_sms_outbox_oldest_pending_seconds Age of the oldest of the SMS waiting, 0 when none.
# TYPE acs_sms_outbox_oldest_pending_seconds gauge
acs_sms_outbox_oldest_pending_seconds 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
