package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// floor measures what the database can commit on its own: conc workers each loop BEGIN; INSERT one
// row; COMMIT over pgx on the same cluster, for d. The ACS's throughput is reported as a fraction of
// it, which makes figures from different machines comparable.
func floor(ctx context.Context, pool *pgxpool.Pool, conc int, d time.Duration) (result, error) {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_floor (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		at timestamptz NOT NULL, payload text NOT NULL)`); err != nil {
		return result{}, err
	}
	res := closedLoop(ctx, conc, d, floorOp(pool))
	_, err := pool.Exec(ctx, `TRUNCATE bench_floor`)
	return res, err
}

// floorOp is one commit of the floor: BEGIN; INSERT one row; COMMIT.
func floorOp(pool *pgxpool.Pool) op {
	return func(ctx context.Context, w int) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO bench_floor (at, payload) VALUES (now(), $1)`, "floor")
			return err
		})
	}
}

// floorOpen is the floor's commit in open loop at rate for d: its latency is what the disk and
// PostgreSQL alone give a write at that rate, the bound under any AReq's.
func floorOpen(ctx context.Context, pool *pgxpool.Pool, rate float64, d time.Duration, maxInFlight int) (result, error) {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_floor (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		at timestamptz NOT NULL, payload text NOT NULL)`); err != nil {
		return result{}, err
	}
	res := openLoop(ctx, rate, d, maxInFlight, floorOp(pool))
	_, err := pool.Exec(ctx, `TRUNCATE bench_floor`)
	return res, err
}

// counters are the totals a run's figures per operation are computed from.
type counters struct {
	statements int64 // pg_stat_statements calls in the ACS database (bench's own probes excluded)
	commits    int64 // pg_stat_database xact_commit
	hsm        int64 // acs_hsm_calls_total, all kinds
	acsCPU     time.Duration
	pgCPU      time.Duration
	benchCPU   time.Duration
}

func (c counters) minus(o counters) counters {
	return counters{statements: c.statements - o.statements, commits: c.commits - o.commits, hsm: c.hsm - o.hsm,
		acsCPU: c.acsCPU - o.acsCPU, pgCPU: c.pgCPU - o.pgCPU, benchCPU: c.benchCPU - o.benchCPU}
}

// probe reads the counters.
type probe struct {
	pool   *pgxpool.Pool
	acs    string
	acsPID int
	client *http.Client
}

// The probe's own statements carry this marker so that they are not counted as the ACS's.
const probeMark = "/* bench probe */"

func (p *probe) read(ctx context.Context) (counters, error) {
	var c counters
	// The statistics collector publishes a backend's commit counts when it goes idle, at most once a
	// second: wait for the last ones of the run.
	time.Sleep(1100 * time.Millisecond)
	err := p.pool.QueryRow(ctx, probeMark+` SELECT
		coalesce((SELECT sum(calls) FROM pg_stat_statements s WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND s.query NOT LIKE '%bench probe%' AND s.query NOT LIKE '%bench_floor%'), 0)::bigint,
		(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())`).Scan(&c.statements, &c.commits)
	if err != nil {
		return c, fmt.Errorf("pg_stat_statements (is the extension loaded?): %w", err)
	}
	if c.hsm, err = p.hsmCalls(ctx); err != nil {
		return c, err
	}
	if p.acsPID > 0 {
		if c.acsCPU, err = cpuOf(p.acsPID); err != nil {
			return c, err
		}
	}
	c.pgCPU = postgresCPU()
	c.benchCPU, _ = cpuOf(os.Getpid())
	return c, nil
}

func (p *probe) hsmCalls(ctx context.Context) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.acs+"/metrics", nil)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "acs_hsm_calls_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			n += v
		}
	}
	return int64(n), sc.Err()
}

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat's times (100 on Linux everywhere).
const clockTick = 100

// cpuOf is a process's user and system CPU time so far.
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after its closing parenthesis are fixed.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// postgresCPU sums the CPU time of every postgres process on the machine (the bench's cluster is the
// only one running during a run), those that ended included through their parent's cumulative times.
func postgresCPU() time.Duration {
	var total time.Duration
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < 0 || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+2:])
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
		total += time.Duration(ticks) * time.Second / clockTick
	}
	return total
}

// rss is a process's resident memory.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// stmtStat is what pg_stat_statements says of one statement so far.
type stmtStat struct {
	calls  int64
	execMS float64 // total execution time
	planMS float64 // total planning time (a statement PostgreSQL plans anew at each call shows it here)
	plans  int64   // how many times it was planned
	blocks int64   // shared buffers hit and read
	wal    int64   // WAL bytes
}

// statementCalls is pg_stat_statements' figures per statement (the bench's own excluded), by query text.
func statementCalls(ctx context.Context, pool *pgxpool.Pool) (map[string]stmtStat, error) {
	rows, err := pool.Query(ctx, probeMark+` SELECT query, sum(calls)::bigint, sum(total_exec_time)::float8,
		sum(total_plan_time)::float8, sum(plans)::bigint, sum(shared_blks_hit + shared_blks_read)::bigint, sum(wal_bytes)::bigint FROM pg_stat_statements s
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND s.query NOT LIKE '%bench probe%' AND s.query NOT LIKE '%bench_floor%' GROUP BY query`)
	if err != nil {
		return nil, err
	}
	out := map[string]stmtStat{}
	for rows.Next() {
		var q string
		var st stmtStat
		if err := rows.Scan(&q, &st.calls, &st.execMS, &st.planMS, &st.plans, &st.blocks, &st.wal); err != nil {
			return nil, err
		}
		out[q] = st
	}
	return out, rows.Err()
}

// printStatements lists the statements an operation ran, most frequent first: calls per operation, and
// per call the execution time, shared buffers and WAL bytes.
func printStatements(name string, before, after map[string]stmtStat, ops int) {
	type st struct {
		q string
		d stmtStat
	}
	var list []st
	for q, a := range after {
		b := before[q]
		if d := a.calls - b.calls; d > 0 {
			list = append(list, st{q, stmtStat{calls: d, execMS: a.execMS - b.execMS, planMS: a.planMS - b.planMS, plans: a.plans - b.plans, blocks: a.blocks - b.blocks, wal: a.wal - b.wal}})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].d.calls > list[j].d.calls })
	fmt.Printf("\nstatements of %s (calls per operation; per call: execution ms, planning ms, plans, buffers, WAL bytes):\n", name)
	for _, s := range list {
		q := strings.Join(strings.Fields(s.q), " ")
		if len(q) > 120 {
			q = q[:120] + "..."
		}
		n := float64(s.d.calls)
		fmt.Printf("  %5.2f  %6.3f ms %6.3f ms %4.2f %6.1f %6.0f B  %s\n", float64(s.d.calls)/float64(max(ops, 1)), s.d.execMS/n,
			s.d.planMS/n, float64(s.d.plans)/n, float64(s.d.blocks)/n, float64(s.d.wal)/n, q)
	}
}
