package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// call is one HTTP request a client sent to the ACS, and what became of it.
type call struct {
	id         string // the request's X-Request-ID, which the service's access log names
	route      string // method and path, without the query
	start, end time.Time
	status     int   // 0: no answer
	err        error // the transport's error: refused, reset, timed out
	// node is the ACS node that answered, as haproxy names it in X-ACS-Node (the chaos run's cluster);
	// "" when the answer came from no node (haproxy's own 502 or 503) or there is no haproxy.
	node string
}

func (c call) latency() time.Duration { return c.end.Sub(c.start) }

// recorder is the clients' transport towards the ACS: it notes every request, so that the figures cover
// each one the clients sent (the simulator's own endpoints are not counted).
type recorder struct {
	next    http.RoundTripper
	acsHost string

	mu    sync.Mutex
	calls []call
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != r.acsHost {
		return r.next.RoundTrip(req)
	}
	// Every request carries an id (an AReq its dsTransID), so that its line in the service's access log
	// tells whether the service received it.
	if req.Header.Get("X-Request-ID") == "" {
		req.Header.Set("X-Request-ID", uuid.NewString())
	}
	c := call{id: req.Header.Get("X-Request-ID"), route: req.Method + " " + req.URL.Path, start: time.Now()}
	resp, err := r.next.RoundTrip(req)
	c.end = time.Now()
	if err != nil {
		c.err = err
	} else {
		c.status, c.node = resp.StatusCode, resp.Header.Get("X-ACS-Node")
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return resp, err
}

// take returns the calls recorded since the last take.
func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// callStats sums up calls.
type callStats struct {
	total, answered, unavailable, internal, otherErr, noAnswer, slow int
	slowest                                                          time.Duration
	slowestRoute                                                     string
	noAnswerWhy                                                      map[string]int
	internalRoutes                                                   map[string]int
	// unexpected are 4xx answers no fault explains: all but the 409 that an app answer sent again may get
	// when its first try was taken (a 401 there told a phone its key was wrong while PostgreSQL restarted).
	unexpected map[string]int
}

const longPollRoute = "POST /app/v1/confirmations/wait"

// limit is the bar every request must meet: an answer (a result or a clear error) within 5 s.
const limit = 5 * time.Second

func stats(calls []call) callStats {
	s := callStats{noAnswerWhy: map[string]int{}, internalRoutes: map[string]int{}, unexpected: map[string]int{}}
	for _, c := range calls {
		s.total++
		// A long poll is held on purpose (up to 25 s); the SIGTERM scenario checks that it is answered.
		if d := c.latency(); d > s.slowest && c.route != longPollRoute {
			s.slowest, s.slowestRoute = d, c.route
		}
		if c.latency() > limit && c.route != longPollRoute {
			s.slow++
		}
		switch {
		case c.err != nil:
			s.noAnswer++
			s.noAnswerWhy[shortErr(c.err)]++
		case c.status == http.StatusServiceUnavailable:
			s.unavailable++
		case c.status >= 500:
			s.internal++
			s.internalRoutes[fmt.Sprintf("%s %d", c.route, c.status)]++
		case c.status >= 400:
			s.otherErr++
			if !(c.status == http.StatusConflict && c.route == "POST /app/v1/confirmations/answer") {
				s.unexpected[fmt.Sprintf("%s %d", c.route, c.status)]++
			}
		default:
			s.answered++
		}
	}
	return s
}

// shortErr names an error briefly, a transport error by its kind, for the figures.
func shortErr(err error) string {
	if err == nil {
		return "no error"
	}
	m := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "server closed idle connection", "EOF", "Client.Timeout",
		"deadline exceeded", "broken pipe"} {
		if strings.Contains(m, k) {
			return k
		}
	}
	if len(m) > 70 {
		m = m[:70] + "…"
	}
	return m
}

// summary lists a map's entries, largest count first.
func summary(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var list []kv
	for k, v := range m {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v || list[i].v == list[j].v && list[i].k < list[j].k })
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%s: %d", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}
