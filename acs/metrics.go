package acs

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"example.com/acs/store"
)

// Metrics counts what the ACS decides, for /metrics. The frictionless rate of registered cards is
//
//	sum(rate(acs_ares_total{trans_status="Y"}[1h])) / sum(rate(acs_ares_total{trans_status=~"Y|C"}[1h]))
//
// and challenge outcomes are acs_challenge_results_total by result. Labels are closed sets (statuses,
// reason names), never merchant names or ids.
type Metrics struct {
	ares       *prometheus.CounterVec
	reasons    *prometheus.CounterVec
	challenges *prometheus.CounterVec
}

// NewMetrics registers the counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ares: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "acs_ares_total",
			Help: "AReqs answered, by ARes transStatus (Y frictionless, C challenge, N not authenticated)."}, []string{"trans_status"}),
		reasons: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "acs_decision_reasons_total",
			Help: "Reasons recorded with decisions (one AReq may count several)."}, []string{"reason"}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "acs_challenge_results_total",
			Help: "Challenges ended, by how they ended."}, []string{"result"}),
	}
	reg.MustRegister(m.ares, m.reasons, m.challenges)
	return m
}

func (m *Metrics) decided(status string, reasons []string) {
	if m == nil {
		return
	}
	m.ares.WithLabelValues(status).Inc()
	for _, r := range reasons {
		m.reasons.WithLabelValues(r).Inc()
	}
}

func (m *Metrics) challengeEnded(why string) {
	if m == nil {
		return
	}
	m.challenges.WithLabelValues(why).Inc()
}

// RReqBacklog exports the results waiting for delivery to the DS (acs_rreq_pending and
// acs_rreq_oldest_pending_seconds): a backlog that grows means the DS is not taking RReqs, and the
// merchants wait for results (the ops/ alert "RReq backlog growing").
func RReqBacklog(pool *pgxpool.Pool) prometheus.Collector {
	return store.Backlog(pool, "acs_rreq", "RReqs",
		`SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM acs_results WHERE state = 'pending'`)
}
