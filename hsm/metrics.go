package hsm

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the token's health for /metrics: acs_hsm_calls_total{op} (Calls: the token's load,
// and the HSM calls per purchase that the load runs report) and acs_hsm_up, 1 when a keyed operation
// answered within two seconds at this scrape (the ops/ alert "HSM unavailable").
func (h *HSM) Collector() prometheus.Collector { return collector{h} }

type collector struct{ h *HSM }

var (
	callsDesc = prometheus.NewDesc("acs_hsm_calls_total", "Operations asked of the HSM token, by kind.", []string{"op"}, nil)
	upDesc    = prometheus.NewDesc("acs_hsm_up", "1 when the HSM answered a keyed operation at this scrape, else 0.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) { ch <- callsDesc; ch <- upDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	// The calls are read before the ping, which is itself one: a load run that scrapes before and after
	// counts one ping of its own, not one per scrape of the run.
	for op, n := range Calls() {
		ch <- prometheus.MustNewConstMetric(callsDesc, prometheus.CounterValue, float64(n), op)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	up := 1.0
	if c.h.Ping(ctx) != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
}
