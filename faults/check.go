package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acs/internal/sim3ds"
)

// ended is a transaction's end as PostgreSQL holds it, and the state of its RReq.
type ended struct {
	final     string // final_status, "" while open
	completed time.Time
	rreq      string // acs_results.state: pending, delivered, abandoned, timed_out; "" without a row
	attempts  int
	delivered time.Time
}

// lookup reads the transactions of ps.
func lookup(ctx context.Context, db *pgxpool.Pool, ps []*purchase) (map[string]ended, error) {
	var ids []string
	for _, p := range ps {
		if p.acsTransID != "" {
			ids = append(ids, p.acsTransID)
		}
	}
	out := map[string]ended{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT t.acs_trans_id::text, coalesce(t.final_status, ''), coalesce(t.completed_at, 'epoch'),
			coalesce(r.state, ''), coalesce(r.attempts, 0), coalesce(r.delivered_at, 'epoch')
		FROM acs_transactions t LEFT JOIN acs_results r ON r.acs_trans_id = t.acs_trans_id
		WHERE t.acs_trans_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var e ended
		if err := rows.Scan(&id, &e.final, &e.completed, &e.rreq, &e.attempts, &e.delivered); err != nil {
			return nil, err
		}
		out[id] = e
	}
	return out, rows.Err()
}

// settle waits until no RReq of ps is still waiting for its delivery (up to timeout) and returns how long
// that took.
func settle(db *pgxpool.Pool, ps []*purchase, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := lookup(ctx, db, ps)
		cancel()
		waiting := 0
		for _, e := range got {
			if e.final != "" && (e.rreq == "pending" || e.rreq == "") {
				waiting++
			}
		}
		if err == nil && waiting == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("%d RReqs still undelivered after %s (%v)", waiting, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// audit is what the purchases of a scenario came to, checked against PostgreSQL and against what the DS
// and the merchant received.
type audit struct {
	purchases, challenged, acked, finalY int
	// lost: approvals the ACS acknowledged that did not end Y in the database, or whose RReq did not reach
	// the DS with Y, or whose final CRes said otherwise (a second RReq counts under double).
	lost []string
	// double: a transaction with two RReqs at the DS, or an RReq, final CRes or app answer that disagrees
	// with the stored end.
	double []string
	// endedTx transactions ended; delivered those whose one RReq the DS has and whose RRes the ACS accepted;
	// undelivered lists the others.
	endedTx, delivered int
	undelivered        []string
	open               int // transactions still open (a purchase given up mid-way; they time out later)
	stages             map[string]int
	why                []string // the first error of each stage
	unknownRReqs       int      // RReqs for AReqs that the ACS never answered
	maxAttempts        int
}

func check(db *pgxpool.Pool, sim *sim3ds.Sim, ps []*purchase) (audit, error) {
	a := audit{stages: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := lookup(ctx, db, ps)
	if err != nil {
		return a, err
	}
	for _, p := range ps {
		if p.stage != "" {
			if a.stages[p.stage] == 0 {
				a.why = append(a.why, p.stage+": "+shortErr(p.err))
			}
			a.stages[p.stage]++
		}
		if p.serverTransID == "" {
			continue
		}
		a.purchases++
		rreqs := sim.RReqs(p.serverTransID)
		if p.acsTransID == "" {
			a.unknownRReqs += len(rreqs)
			continue
		}
		if p.ares == "C" {
			a.challenged++
		}
		e, ok := got[p.acsTransID]
		if !ok {
			a.lost = append(a.lost, p.acsTransID+": answered with an ARes but not stored")
			continue
		}
		status := func(r sim3ds.Received) string { s, _ := r.Message["transStatus"].(string); return s }
		if p.acked {
			a.acked++
			switch {
			case e.final != "Y":
				a.lost = append(a.lost, fmt.Sprintf("%s: approval acknowledged, stored end %q", p.acsTransID, e.final))
			case len(rreqs) == 0 || status(rreqs[0]) != "Y":
				a.lost = append(a.lost, fmt.Sprintf("%s: approval acknowledged, no RReq Y at the DS", p.acsTransID))
			case p.cres != "" && p.cres != "Y":
				a.lost = append(a.lost, fmt.Sprintf("%s: approval acknowledged, final CRes %q", p.acsTransID, p.cres))
			}
		}
		if p.cres == "Y" {
			a.finalY++
		}
		if len(rreqs) > 1 {
			a.double = append(a.double, fmt.Sprintf("%s: %d RReqs at the DS", p.acsTransID, len(rreqs)))
		}
		for _, r := range rreqs {
			if status(r) != e.final {
				a.double = append(a.double, fmt.Sprintf("%s: RReq %q, stored end %q", p.acsTransID, status(r), e.final))
			}
		}
		if p.cres != "" && p.cres != e.final {
			a.double = append(a.double, fmt.Sprintf("%s: final CRes %q, stored end %q", p.acsTransID, p.cres, e.final))
		}
		if p.answer != "" && p.answer != e.final {
			a.double = append(a.double, fmt.Sprintf("%s: app answer %q, stored end %q", p.acsTransID, p.answer, e.final))
		}
		if e.final == "" {
			a.open++
			continue
		}
		a.endedTx++
		a.maxAttempts = max(a.maxAttempts, e.attempts)
		if e.rreq == "delivered" && len(rreqs) == 1 {
			a.delivered++
		} else {
			a.undelivered = append(a.undelivered, fmt.Sprintf("%s: RReq %q, %d at the DS", p.acsTransID, e.rreq, len(rreqs)))
		}
	}
	return a, nil
}
