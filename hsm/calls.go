package hsm

import (
	"sync"
	"sync/atomic"
)

// Every operation on the token is counted by kind (HMAC, sign, GCM seal, ...), so that a load run can
// report HSM calls per purchase (issue 13) and an operator can see the token's load in /metrics. The
// counters are process-wide: one process talks to one token.
var calls sync.Map // op -> *atomic.Uint64

func countCall(op string) {
	c, ok := calls.Load(op)
	if !ok {
		c, _ = calls.LoadOrStore(op, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

// Calls returns how many operations of each kind this process has asked of the token.
func Calls() map[string]uint64 {
	out := map[string]uint64{}
	calls.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}
