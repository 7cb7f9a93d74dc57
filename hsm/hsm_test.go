package hsm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"example.com/acs/authval"
	"example.com/acs/hsm"
	"example.com/acs/internal/testenv"
)

func TestKEKRoundTripAndTamper(t *testing.T) {
	h := testenv.HSM(t)
	kek := h.KEK()
	ad := []byte("data_keysets|wrapped|pii")
	msg := []byte("keyset bytes")

	ct, err := kek.Encrypt(msg, ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, msg) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := kek.Decrypt(ct, ad)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	again, _ := kek.Encrypt(msg, ad)
	if bytes.Equal(again, ct) {
		t.Fatal("two encryptions gave the same ciphertext: nonce reused")
	}

	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := kek.Decrypt(bad, ad); !errors.Is(err, hsm.ErrDecrypt) {
			t.Fatalf("byte %d flipped: got %v, want ErrDecrypt", i, err)
		}
	}
	if _, err := kek.Decrypt(ct, []byte("data_keysets|wrapped|other")); !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("swapped associated data: got %v, want ErrDecrypt", err)
	}
	if _, err := kek.Decrypt(ct[:10], ad); !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("truncated: got %v, want ErrDecrypt", err)
	}
	if _, err := kek.Encrypt(msg, nil); err == nil {
		t.Fatal("encryption without associated data was accepted")
	}
	if _, err := kek.Decrypt(ct, nil); err == nil {
		t.Fatal("decryption without associated data was accepted")
	}
}

func TestKeyedHashes(t *testing.T) {
	h := testenv.HSM(t)
	a1, err := h.Index("pan", []byte("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := h.Index("pan", []byte("4111111111111111"))
	if !bytes.Equal(a1, a2) || len(a1) != 32 {
		t.Fatalf("index not deterministic or not 32 bytes: %x %x", a1, a2)
	}
	if b, _ := h.Index("mobile", []byte("4111111111111111")); bytes.Equal(a1, b) {
		t.Fatal("domains are not separated")
	}
	if v, _ := h.Verifier("pan", []byte("4111111111111111")); bytes.Equal(a1, v) {
		t.Fatal("index and verifier keys give the same hash")
	}
	sum := sha256.Sum256([]byte("pan\x004111111111111111"))
	if bytes.Equal(a1, sum[:]) {
		t.Fatal("index is an unkeyed hash")
	}
	if _, err := h.Index("", []byte("x")); err == nil {
		t.Fatal("empty domain accepted")
	}

	v, err := h.Verifier("idcode", []byte("K7P3-QX9M"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify("idcode", []byte("K7P3-QX9M"), v); !ok || err != nil {
		t.Fatalf("right secret: %v %v", ok, err)
	}
	if ok, _ := h.Verify("idcode", []byte("K7P3-QX9N"), v); ok {
		t.Fatal("wrong secret verified")
	}
	if ok, _ := h.Verify("answer", []byte("K7P3-QX9M"), v); ok {
		t.Fatal("secret verified in another domain")
	}
}

func TestSigner(t *testing.T) {
	h := testenv.HSM(t)
	s := h.Signer()
	digest := sha256.Sum256([]byte("ares"))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub := s.Public().(*ecdsa.PublicKey)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		t.Fatal("signature does not verify")
	}
	other := sha256.Sum256([]byte("ares2"))
	if ecdsa.VerifyASN1(pub, other[:], sig) {
		t.Fatal("signature verifies for another message")
	}
}

// Sixteen goroutines share one HSM: the session pool hands each call its own session.
func TestParallel16(t *testing.T) {
	h := testenv.HSM(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				msg := []byte(fmt.Sprintf("goroutine %d message %d", g, i))
				ad := []byte(fmt.Sprintf("t|c|%d", g))
				ct, err := h.KEK().Encrypt(msg, ad)
				if err != nil {
					errs <- err
					return
				}
				pt, err := h.KEK().Decrypt(ct, ad)
				if err != nil || !bytes.Equal(pt, msg) {
					errs <- fmt.Errorf("round trip %d/%d: %v", g, i, err)
					return
				}
				a, err := h.Index("pan", msg)
				b, err2 := h.Index("pan", msg)
				if err != nil || err2 != nil || !bytes.Equal(a, b) {
					errs <- fmt.Errorf("index %d/%d: %v %v", g, i, err, err2)
					return
				}
				d := sha256.Sum256(msg)
				sig, err := h.Signer().Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil || !ecdsa.VerifyASN1(h.Signer().Public().(*ecdsa.PublicKey), d[:], sig) {
					errs <- fmt.Errorf("sign %d/%d: %v", g, i, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestInitIsIdempotentAndOpenNeedsKeys(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	if _, err := hsm.Open(cfg); !errors.Is(err, hsm.ErrMissingKeys) {
		t.Fatalf("open before init: got %v, want ErrMissingKeys", err)
	}
	created, err := hsm.Init(cfg)
	if err != nil || len(created) != 5 {
		t.Fatalf("first init created %v, %v; want 5 keys", created, err)
	}
	created, err = hsm.Init(cfg)
	if err != nil || len(created) != 0 {
		t.Fatalf("second init created %v, %v; want none", created, err)
	}
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWrongPin(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	cfg.Pin = "9999"
	_, err := hsm.Open(cfg)
	if !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("9999")) {
		t.Fatal("error message shows the PIN")
	}
}

// A token that disappears under a running process makes every call fail with ErrUnavailable; nothing
// panics (crypto11's GCM Seal and HMAC Sum would).
func TestTokenRemoved(t *testing.T) {
	if !testenv.InChild(t) {
		return
	}
	cfg, remove := testenv.RemovableToken(t)
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Ping(ctx); err != nil {
		t.Fatalf("ping before removal: %v", err)
	}
	if up := hsmUp(t, h); up != 1 {
		t.Fatalf("acs_hsm_up before removal: %v", up)
	}
	ct, err := h.KEK().Encrypt([]byte("x"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}

	remove()

	if err := h.Ping(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("ping: got %v, want ErrUnavailable", err)
	}
	// The operator's alert "HSM unavailable" reads this (ops/).
	if up := hsmUp(t, h); up != 0 {
		t.Errorf("acs_hsm_up after removal: %v", up)
	}
	if _, err := h.Index("pan", []byte("x")); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("index: got %v, want ErrUnavailable", err)
	}
	if _, err := h.KEK().Encrypt([]byte("x"), []byte("ad")); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("encrypt: got %v, want ErrUnavailable", err)
	}
	if _, err := h.KEK().Decrypt(ct, []byte("ad")); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("decrypt: got %v, want ErrUnavailable", err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := h.Signer().Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("sign: got %v, want ErrUnavailable", err)
	}
}

// Issue 12: after the token's sessions and handles are gone (a token removed and put back, a restarted
// HSM), the call that meets it fails with ErrUnavailable, the HSM logs in again and finds its keys, and
// the next calls work, signer handed out before included, with no restart; ready follows reality.
func TestRecoversAfterTokenLoss(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	if _, err := hsm.Init(cfg); err != nil {
		t.Fatal(err)
	}
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	before, err := h.Index("t", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	signer := h.DSClientSigner()
	h.DropSession()
	if _, err := h.Index("t", []byte("x")); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("the call that met the lost session: %v", err)
	}
	after, err := h.Index("t", []byte("x"))
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("after the new login: %v (same key: %v)", err, bytes.Equal(before, after))
	}
	if err := h.Ping(context.Background()); err != nil {
		t.Fatalf("ready again: %v", err)
	}
	digest := sha256.Sum256([]byte("m"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(signer.Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatalf("a signer handed out before: %v", err)
	}
}

// hsmUp scrapes the HSM's collector and returns acs_hsm_up.
func hsmUp(t *testing.T, h *hsm.HSM) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "acs_hsm_up" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no acs_hsm_up")
	return -1
}

// Issue 13: the secret keys requests use are session copies of the token's keys (copies.go), still
// sensitive and not extractable, giving the same hashes as the token objects; the copies end with the
// HSM, and a new login makes new ones.
func TestRequestsUseSessionCopies(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	scheme := authval.Config{}.HSMKeys()
	if _, err := hsm.Init(cfg, scheme...); err != nil {
		t.Fatal(err)
	}
	h, err := hsm.Open(cfg, scheme...)
	if err != nil {
		t.Fatal(err)
	}
	secret := 0
	for _, k := range scheme {
		if k.Type != hsm.SchemeRSA {
			secret++
		}
	}
	if n, err := h.SessionCopies(); err != nil || n != 2+secret {
		t.Fatalf("%d session copies, want %d (lookup, verifier and %d scheme keys)", n, 2+secret, secret)
	}
	if tok, err := h.KeyIsTokenObject(); err != nil || tok {
		t.Fatalf("the lookup key is a token object (%v): the copy is not in use", err)
	}
	got, err := h.Index("pan", []byte("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := h.TokenIndex("pan", []byte("4111111111111111"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the copy's hash differs from the token key's (%v)", err)
	}
	for _, l := range h.CopyLabels() {
		if strings.HasPrefix(l, cfg.KeyPrefix) {
			t.Fatalf("copy label %q starts with the key prefix: ListKeys would list it", l)
		}
	}
	keys, err := hsm.ListKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5+len(scheme) {
		t.Fatalf("ListKeys lists %d keys, want the token's %d: %v", len(keys), 5+len(scheme), keys)
	}

	// A lost login: the new one has copies of its own, with the same keys.
	old := h.CopyLabels()
	h.DropSession()
	_, _ = h.Index("pan", []byte("x"))
	again, err := h.Index("pan", []byte("4111111111111111"))
	if n, _ := h.SessionCopies(); err != nil || !bytes.Equal(again, want) || n != 2+secret || slices.Equal(old, h.CopyLabels()) {
		t.Fatalf("after a new login: %v, same hash %v, copies %v", err, bytes.Equal(again, want), h.CopyLabels())
	}
	labels := append(old, h.CopyLabels()...)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, l := range labels {
		if found, err := hsm.FindSecretKey(cfg, l); err != nil || found {
			t.Fatalf("copy %s outlived its HSM (%v)", l, err)
		}
	}
}

// A token that forbids copies (CKA_COPYABLE false) is used as before: the token objects serve.
func TestKeysThatMayNotBeCopiedServeAsTheyAre(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	if err := hsm.InitNotCopyable(cfg); err != nil {
		t.Fatal(err)
	}
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if n, err := h.SessionCopies(); err != nil || n != 0 {
		t.Fatalf("%d session copies of keys that may not be copied", n)
	}
	if tok, err := h.KeyIsTokenObject(); err != nil || !tok {
		t.Fatalf("the lookup key is not the token object (%v)", err)
	}
	got, err := h.Index("pan", []byte("4111111111111111"))
	want, _ := h.TokenIndex("pan", []byte("4111111111111111"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("index: %v", err)
	}
}
