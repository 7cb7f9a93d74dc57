package acs_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"example.com/acs/acs"
	"example.com/acs/internal/testenv"
)

// BenchmarkDecide measures answering an AReq end to end below HTTP: parse, card lookup by keyed PAN
// hash (one HSM HMAC), registration lookup, low-value rule, and the stored transaction. Unknown cards
// stop after the lookup; Anna's card (not registered here) goes through to the insert.
//
//	go test -run X -bench Decide -cpu 1,8 ./acs/
func BenchmarkDecide(b *testing.B) {
	st := testenv.NewStack(b)
	dc := acs.NewDecider(acs.DecisionDeps{Pool: st.Pool, Cards: st.Cards, Clock: st.Clock, Log: st.Log,
		ChallengeURL: "https://acs.example/3ds/challenge", ReferenceNumber: "REF", AV: st.AV, Digests: st.Digests, Risk: acs.DefaultRisk})
	sample := areq(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := map[string]any{}
		for k, v := range sample {
			m[k] = v
		}
		for pb.Next() {
			m["threeDSServerTransID"] = uuid.NewString()
			a, e := acs.ParseAReq(encode(b, m))
			if e != nil {
				b.Fatal(e)
			}
			if _, _, err := dc.Decide(context.Background(), a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
