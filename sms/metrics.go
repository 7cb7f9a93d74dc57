package sms

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"example.com/acs/store"
)

// Metrics counts deliveries by purpose and outcome, and what the sent SMS cost (ops/ dashboard and
// alerts: a gateway failing shows as retries and given-up messages). Nil: not counted.
type Metrics struct {
	deliveries *prometheus.CounterVec
	cost       *prometheus.CounterVec
}

// NewMetrics registers the SMS counters and the outbox backlog with reg; the backlog is read from the
// database at most every period (store.MetricsPeriod; 0: at every scrape).
func NewMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, period time.Duration) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "acs_sms_deliveries_total",
			Help: "SMS delivery attempts by purpose and outcome (sent, retry, given_up)."}, []string{"purpose", "outcome"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "acs_sms_cost_total",
			Help: "What the sent SMS are charged to cardholders, by currency (R-AUTH-9)."}, []string{"currency"}),
	}
	reg.MustRegister(m.deliveries, m.cost, store.Cached(store.Backlog(pool, "acs_sms_outbox", "SMS",
		`SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM sms_outbox WHERE state = 'pending'`),
		period))
	return m
}

var outcomeNames = map[outcome]string{delivered: "sent", retrying: "retry", givenUp: "given_up"}

func (m *Metrics) delivered(purpose string, o outcome, price decimal.Decimal, currency string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(purpose, outcomeNames[o]).Inc()
	if o == delivered {
		m.cost.WithLabelValues(currency).Add(price.InexactFloat64())
	}
}
