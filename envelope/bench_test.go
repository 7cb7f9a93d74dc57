package envelope_test

import (
	"context"
	"testing"

	"example.com/acs/envelope"
	"example.com/acs/internal/testenv"
)

// In-process Tink AES-256-GCM under the unwrapped keyset: the HSM is not on this path.
func BenchmarkEncryptDecrypt(b *testing.B) {
	ctx := context.Background()
	k, err := envelope.Open(ctx, testenv.DB(b), testenv.HSM(b).KEK(), "pii")
	if err != nil {
		b.Fatal(err)
	}
	ad := envelope.AD{Table: "issuer_cards", Column: "pan_enc", Row: "0b7f5c2e-0000-4000-8000-000000000000"}
	msg := []byte("4000110000000017")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ct, err := k.Encrypt(ad, msg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Decrypt(ctx, ad, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}
