package hsm

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the token's health for /metrics: acs_hsm_calls_total{op} (Calls: the token's load,
// and the HSM calls per purchase that the load runs report), acs_hsm_up, 1 when a keyed operation
// answered within two seconds at this scrape (the ops/ alert "HSM unavailable"), and
// acs_hsm_session_copies, the secret keys in use as session copies since the last login (copies.go: 0
// after a login that could make none means every keyed hash reads the token's files again).
// The up check is asked of the token at most every upPeriod (a flood of scrapes must not take HSM
// sessions from purchases); the calls are read live, as the load runs compare them before and after.
func (h *HSM) Collector() prometheus.Collector { return &collector{h: h} }

const upPeriod = 10 * time.Second

type collector struct {
	h  *HSM
	mu sync.Mutex
	at time.Time
	up float64
}

var (
	callsDesc  = prometheus.NewDesc("acs_hsm_calls_total", "Operations asked of the HSM token, by kind.", []string{"op"}, nil)
	upDesc     = prometheus.NewDesc("acs_hsm_up", "1 when the HSM answered a keyed operation at this scrape, else 0.", nil, nil)
	copiesDesc = prometheus.NewDesc("acs_hsm_session_copies", "Secret keys in use as session copies of the token's keys.", nil, nil)
)

func (*collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- callsDesc
	ch <- upDesc
	ch <- copiesDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	// The calls are read before the ping, which is itself one: a load run that scrapes before and after
	// counts one ping of its own, not one per scrape of the run.
	for op, n := range Calls() {
		ch <- prometheus.MustNewConstMetric(callsDesc, prometheus.CounterValue, float64(n), op)
	}
	c.mu.Lock()
	if c.at.IsZero() || time.Since(c.at) >= upPeriod {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.up = 1
		if c.h.Ping(ctx) != nil {
			c.up = 0
		}
		cancel()
		c.at = time.Now()
	}
	up := c.up
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	n, _ := c.h.SessionCopies()
	ch <- prometheus.MustNewConstMetric(copiesDesc, prometheus.GaugeValue, float64(n))
}
