package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"example.com/acs/internal/testenv"
	"example.com/acs/store"
)

// Issue 16 (ops/): the pool's health and an outbox's backlog as the operator's dashboard reads them; a
// backlog whose query fails reports nothing rather than a reassuring zero.
func TestPoolAndBacklogMetrics(t *testing.T) {
	pool := testenv.DB(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(store.PoolCollector(pool),
		store.Backlog(pool, "acs_test", "rows", `SELECT 3, 42.5`),
		store.Backlog(pool, "acs_broken", "rows", `SELECT count(*) FROM no_such_table`))
	want := `
# HELP acs_db_up 1 when the database answered a ping at this scrape, else 0.
# TYPE acs_db_up gauge
acs_db_up 1
# HELP acs_test_pending rows waiting to be sent.
# TYPE acs_test_pending gauge
acs_test_pending 3
# HELP acs_test_oldest_pending_seconds Age of the oldest of the rows waiting, 0 when none.
# TYPE acs_test_oldest_pending_seconds gauge
acs_test_oldest_pending_seconds 42.5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "acs_db_up", "acs_test_pending", "acs_test_oldest_pending_seconds",
		"acs_broken_pending"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "acs_db_pool_max_conns", "acs_db_pool_acquired_conns"); err != nil || n != 2 {
		t.Fatalf("pool gauges: %d %v", n, err)
	}
}

type countingCollector struct{ n int }

var countingDesc = prometheus.NewDesc("acs_test_collections", "test", nil, nil)

func (c *countingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- countingDesc }
func (c *countingCollector) Collect(ch chan<- prometheus.Metric) {
	c.n++
	ch <- prometheus.MustNewConstMetric(countingDesc, prometheus.GaugeValue, float64(c.n))
}

// A flood of scrapes asks the database (or the HSM) once per period, and every scrape still gets the
// metrics.
func TestCachedCollectsOncePerPeriod(t *testing.T) {
	c := &countingCollector{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(store.Cached(c, time.Hour))
	for i := 0; i < 50; i++ {
		if n, err := testutil.GatherAndCount(reg, "acs_test_collections"); err != nil || n != 1 {
			t.Fatalf("scrape %d: %d %v", i, n, err)
		}
	}
	if c.n != 1 {
		t.Fatalf("%d collections for 50 scrapes", c.n)
	}
}
