package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// What an operator reads of the database (issue 16, ops/): whether it answers, how full the pool is,
// and the backlogs of the outboxes, each read when Prometheus scrapes (bounded by scrapeTimeout, so a
// database that hangs makes the scrape report it down rather than hang too).

const scrapeTimeout = 2 * time.Second

var (
	dbUp         = prometheus.NewDesc("acs_db_up", "1 when the database answered a ping at this scrape, else 0.", nil, nil)
	poolAcquired = prometheus.NewDesc("acs_db_pool_acquired_conns", "Connections of the pool in use.", nil, nil)
	poolTotal    = prometheus.NewDesc("acs_db_pool_total_conns", "Connections the pool holds, in use or idle.", nil, nil)
	poolMax      = prometheus.NewDesc("acs_db_pool_max_conns", "The pool's bound on connections.", nil, nil)
	poolEmpty    = prometheus.NewDesc("acs_db_pool_empty_acquire_total",
		"Acquires that found no idle connection and waited for one (a pool too small or a database too slow).", nil, nil)
	poolWait = prometheus.NewDesc("acs_db_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", nil, nil)
)

var (
	pipeBatches    = prometheus.NewDesc("acs_db_pipeline_batches_total", "Batches the AReqs' statements went to the database in (store.Pipeline).", nil, nil)
	pipeStatements = prometheus.NewDesc("acs_db_pipeline_statements_total", "Statements sent in those batches.", nil, nil)
	pipeResent     = prometheus.NewDesc("acs_db_pipeline_resent_total",
		"Statements sent again by themselves after their batch failed: the one that failed (the rest go as the next batch), or all where the commit was refused.", nil, nil)
)

// PipelineCollector exports a Pipeline's counts: statements over batches is how many share a commit.
func PipelineCollector(p *Pipeline) prometheus.Collector { return pipelineCollector{p} }

type pipelineCollector struct{ p *Pipeline }

func (pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pipeBatches
	ch <- pipeStatements
	ch <- pipeResent
}

func (c pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	ch <- prometheus.MustNewConstMetric(pipeBatches, prometheus.CounterValue, float64(s.Batches))
	ch <- prometheus.MustNewConstMetric(pipeStatements, prometheus.CounterValue, float64(s.Statements))
	ch <- prometheus.MustNewConstMetric(pipeResent, prometheus.CounterValue, float64(s.Resent))
}

// MetricsPeriod is how often the collectors that ask the database or the HSM really do (Cached).
const MetricsPeriod = 10 * time.Second

// PoolCollector exports the pool's health.
func PoolCollector(pool *pgxpool.Pool) prometheus.Collector { return poolCollector{pool} }

type poolCollector struct{ pool *pgxpool.Pool }

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dbUp, poolAcquired, poolTotal, poolMax, poolEmpty, poolWait} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	s := c.pool.Stat()
	// A pool that is full answers the ping late: that is saturation (its own gauges), not a database
	// that is down.
	up := 1.0
	if c.pool.Ping(ctx) != nil && s.AcquiredConns() < s.MaxConns() {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(dbUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolEmpty, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
}

// Backlog is an outbox's pending rows as a collector: name_pending (how many) and
// name_oldest_pending_seconds (the age of the oldest, 0 when none). query returns the two numbers
// (count, age in seconds by the database's clock); a constant of the owning package.
func Backlog(pool *pgxpool.Pool, name, what, query string) prometheus.Collector {
	return backlog{pool: pool, query: query,
		pending: prometheus.NewDesc(name+"_pending", what+" waiting to be sent.", nil, nil),
		oldest:  prometheus.NewDesc(name+"_oldest_pending_seconds", "Age of the oldest of the "+what+" waiting, 0 when none.", nil, nil)}
}

type backlog struct {
	pool            *pgxpool.Pool
	query           string
	pending, oldest *prometheus.Desc
}

func (b backlog) Describe(ch chan<- *prometheus.Desc) { ch <- b.pending; ch <- b.oldest }

// Collect reports nothing when the database does not answer: a missing series (and acs_db_up 0) is
// honest, a zero backlog would not be.
func (b backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var n, age float64
	if err := b.pool.QueryRow(ctx, b.query).Scan(&n, &age); err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(b.pending, prometheus.GaugeValue, n)
	ch <- prometheus.MustNewConstMetric(b.oldest, prometheus.GaugeValue, age)
}

// Cached wraps a collector whose Collect asks the database or the HSM: /metrics is on the public
// listener, and a flood of scrapes must not take connections and HSM sessions from purchases. At most
// one real collection runs per period; scrapes meanwhile get its metrics (one at a time waits for it).
func Cached(c prometheus.Collector, period time.Duration) prometheus.Collector {
	return &cached{c: c, period: period}
}

type cached struct {
	c      prometheus.Collector
	period time.Duration
	mu     sync.Mutex
	at     time.Time
	last   []prometheus.Metric
}

func (c *cached) Describe(ch chan<- *prometheus.Desc) { c.c.Describe(ch) }

func (c *cached) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.last == nil || time.Since(c.at) >= c.period {
		fresh := make(chan prometheus.Metric, 16)
		go func() { c.c.Collect(fresh); close(fresh) }()
		c.last = c.last[:0]
		for m := range fresh {
			c.last = append(c.last, m)
		}
		c.at = time.Now()
	}
	out := append([]prometheus.Metric(nil), c.last...)
	c.mu.Unlock()
	for _, m := range out {
		ch <- m
	}
}
