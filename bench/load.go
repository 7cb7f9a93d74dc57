package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// op is one operation of a scenario (an AReq, a whole purchase), run by worker w. It returns an error
// when the operation did not end as the scenario expects.
type op func(ctx context.Context, w int) error

// result is what a run of one operation measured.
type result struct {
	ops, errs int
	firstErr  string
	elapsed   time.Duration
	hist      *hdrhistogram.Histogram // latency in microseconds, 1 us to 60 s, 3 significant digits
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

func (r *result) opsPerSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r *result) quantile(q float64) time.Duration {
	return time.Duration(r.hist.ValueAtQuantile(q)) * time.Microsecond
}

func (r *result) max() time.Duration { return time.Duration(r.hist.Max()) * time.Microsecond }

// recorder merges the workers' histograms.
type recorder struct {
	mu       sync.Mutex
	res      result
	errCount atomic.Int64
}

func (rc *recorder) add(h *hdrhistogram.Histogram, ops int, err error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.res.hist.Merge(h)
	rc.res.ops += ops
	if err != nil && rc.res.firstErr == "" {
		rc.res.firstErr = err.Error()
	}
}

// closedLoop runs f in conc workers, each starting its next operation when the last one ended, for d.
// Operations that fail count as errors and their latency is not recorded.
func closedLoop(ctx context.Context, conc int, d time.Duration, f op) result {
	rc := &recorder{res: result{hist: newHist()}}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHist()
			ops := 0
			var first error
			for ctx.Err() == nil {
				t0 := time.Now()
				err := f(ctx, w)
				if ctx.Err() != nil {
					break // cut off by the end of the run: neither counted nor an error
				}
				if err != nil {
					if first == nil {
						first = err
					}
					rc.errCount.Add(1)
					continue
				}
				_ = h.RecordValue(time.Since(t0).Microseconds())
				ops++
			}
			rc.add(h, ops, first)
		}()
	}
	wg.Wait()
	rc.res.elapsed = time.Since(start)
	rc.res.errs = int(rc.errCount.Load())
	return rc.res
}

// openLoop starts operations at a constant rate for d, whatever the answers' latency (each in its own
// goroutine, at most maxInFlight at once), and records latency from the intended start, so that a
// stall is seen as the wait it causes (no coordinated omission).
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInFlight int, f op) result {
	rc := &recorder{res: result{hist: newHist()}}
	runCtx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	var dropped int
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(due))
		select {
		case sem <- struct{}{}:
		default:
			dropped++ // the service is this far behind: counted as an error, not waited for
			rc.errCount.Add(1)
			continue
		}
		wg.Add(1)
		go func(w int) {
			defer func() { <-sem; wg.Done() }()
			h := newHist()
			err := f(runCtx, w)
			if err != nil {
				rc.errCount.Add(1)
				rc.add(h, 0, err)
				return
			}
			_ = h.RecordValue(time.Since(due).Microseconds())
			rc.add(h, 1, nil)
		}(i % maxInFlight)
	}
	wg.Wait()
	rc.res.elapsed = d
	rc.res.errs = int(rc.errCount.Load())
	if dropped > 0 && rc.res.firstErr == "" {
		rc.res.firstErr = fmt.Sprintf("%d operations not started: %d already in flight", dropped, maxInFlight)
	}
	return rc.res
}
