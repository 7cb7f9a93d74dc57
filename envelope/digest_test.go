package envelope_test

import (
	"bytes"
	"context"
	"testing"

	"example.com/acs/envelope"
	"example.com/acs/internal/testenv"
)

// The browser and IP digests of the risk rules (issue 13: no HSM call for them) must be stable across
// processes and restarts, keyed (not a plain hash anyone can recompute), and separated by domain.
func TestDigesterIsKeyedStableAndDomainSeparated(t *testing.T) {
	ctx := context.Background()
	pool, h := testenv.DB(t), testenv.HSM(t)
	a, err := envelope.OpenDigester(ctx, pool, h.KEK(), "digest")
	if err != nil {
		t.Fatal(err)
	}
	// A second process opening the same keyset computes the same digests.
	b, err := envelope.OpenDigester(ctx, pool, h.KEK(), "digest")
	if err != nil {
		t.Fatal(err)
	}
	other, err := envelope.OpenDigester(ctx, pool, h.KEK(), "digest_other")
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("Mozilla/5.0\x00de-DE\x001920x1080")
	d1, err := a.Digest("browser", data)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := b.Digest("browser", data)
	if len(d1) != 32 || !bytes.Equal(d1, d2) {
		t.Fatalf("digests differ between two opens: %x %x", d1, d2)
	}
	if d, _ := a.Digest("browser_ip", data); bytes.Equal(d, d1) {
		t.Error("two domains give the same digest")
	}
	if d, _ := other.Digest("browser", data); bytes.Equal(d, d1) {
		t.Error("two keysets give the same digest: it is not keyed")
	}
	if d, _ := a.Digest("browser", append(bytes.Clone(data), '1')); bytes.Equal(d, d1) {
		t.Error("different data give the same digest")
	}
	// "ab"+NUL+"c" in domain "ab" must not equal domain "ab\x00c"'s: a NUL in the domain is refused.
	if _, err := a.Digest("ab\x00c", nil); err == nil {
		t.Error("a domain with NUL was accepted")
	}
	if _, err := a.Digest("", data); err == nil {
		t.Error("an empty domain was accepted")
	}
}
