package hsm_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"example.com/acs/authval"
	"example.com/acs/hsm"
	"example.com/acs/internal/testenv"
)

// Figures for the README: go test -run X -bench . -cpu 1,8 ./hsm/ (under make test's environment).

func BenchmarkIndex(b *testing.B) {
	h := testenv.HSM(b)
	msg := []byte("4000110000000017")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Index("pan", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkKEKEncrypt(b *testing.B) {
	h := testenv.HSM(b)
	msg, ad := make([]byte, 128), []byte("data_keysets|wrapped|pii")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.KEK().Encrypt(msg, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	h := testenv.HSM(b)
	d := sha256.Sum256([]byte("x"))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Signer().Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSchemeBlock is one of the two triple-DES blocks of a Visa CAVV (authval).
func BenchmarkSchemeBlock(b *testing.B) {
	h := testenv.HSM(b)
	var name string
	for _, k := range (authval.Config{}).HSMKeys() {
		if k.Type == hsm.SchemeDES3 {
			name = k.Name
			break
		}
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.SchemeBlock(name, [8]byte{1, 2, 3}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
