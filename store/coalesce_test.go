package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"example.com/acs/internal/testenv"
	"example.com/acs/store"
)

// Issue 13: outcomes that arrive together are recorded by one statement, every caller returns only once
// its own outcome is written, and each is written once.
func TestCoalescerRecordsTogether(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE coalesced (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)
		`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO coalesced (id) SELECT generate_series(1, 200)`); err != nil {
		t.Fatal(err)
	}
	var statements atomic.Int32
	c := &store.Coalescer[int32]{Pool: pool, Delay: 20 * time.Millisecond, Max: 64,
		Statement: func(ids []int32) (string, []any) {
			statements.Add(1)
			return `UPDATE coalesced SET n = n + 1 FROM unnest($1::int[]) u(id) WHERE coalesced.id = u.id`, []any{ids}
		}}
	var wg sync.WaitGroup
	for i := int32(1); i <= 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Record(ctx, i); err != nil {
				t.Error(err)
				return
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT n FROM coalesced WHERE id = $1`, i).Scan(&n); err != nil || n != 1 {
				t.Errorf("item %d: written %d times when Record returned (%v)", i, n, err)
			}
		}()
	}
	wg.Wait()
	if s := statements.Load(); s < 4 || s > 50 {
		t.Fatalf("200 outcomes in %d statements (64 at most each)", s)
	}
	var total int
	if err := pool.QueryRow(ctx, `SELECT sum(n) FROM coalesced`).Scan(&total); err != nil || total != 200 {
		t.Fatalf("written %d, %v", total, err)
	}
	if err := c.Record(ctx, 1); err != nil { // alone: written after Delay, by its own caller
		t.Fatal(err)
	}
}
