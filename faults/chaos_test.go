package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The chaos run's figures (issue 17) rest on these two readings; the run itself is `make chaos`.

func TestLongestGapCountsOnlySuccessfulAnswers(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	calls := []call{
		{end: at(1), status: 200},
		{end: at(2), status: 503},                 // an error is no answer that counts
		{end: at(3), err: http.ErrHandlerTimeout}, // nor is none
		{end: at(7), status: 302},
		{end: at(8), status: 200},
	}
	gap, from := longestGap(calls, t0, at(10))
	if gap != 6*time.Second || !from.Equal(at(1)) {
		t.Fatalf("longest gap %s from %s, want 6 s from 1 s", gap, from.Sub(t0))
	}
	// Nothing answered: the whole window is the gap.
	if gap, _ := longestGap(nil, t0, at(10)); gap != 10*time.Second {
		t.Fatalf("no answers: gap %s, want 10 s", gap)
	}
}

func TestServerStatusReadsHaproxysCSV(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("# pxname,svname,qcur,status,weight\nacs,FRONTEND,,OPEN,\nacs_nodes,node1,0,UP,1\n" +
			"acs_nodes,node2,0,DOWN,1\nacs_nodes,node3,0,UP 1/2,1\n"))
	}))
	defer srv.Close()
	c := newCluster(t.TempDir())
	c.stats = srv.URL
	for node, want := range map[string]string{"node1": "UP", "node2": "DOWN", "node3": "UP 1/2"} {
		got, err := c.serverStatus("acs_nodes", node)
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", node, got, err, want)
		}
	}
	if _, err := c.serverStatus("acs_nodes", "node4"); err == nil {
		t.Error("an unknown server has a status")
	}
}
