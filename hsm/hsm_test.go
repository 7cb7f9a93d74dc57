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
// sensitive, private and not extractable (R-KEY-1: the keys never leave the HSM), each giving what its
// token object gives; a token object
// carrying a copy's label is not taken for it; the copies end with their login, and a new login makes
// new ones.
func TestRequestsUseSessionCopies(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	scheme := authval.Config{}.HSMKeys()
	if _, err := hsm.Init(cfg, scheme...); err != nil {
		t.Fatal(err)
	}
	// The token objects, through an HSM that keeps the module initialised for the whole test: the copies
	// must end because their session is closed, not because the module is finalised.
	tok, err := hsm.OpenWithoutCopies(cfg, scheme...)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
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
		t.Fatalf("%d session copies (%v), want %d (lookup, verifier and %d scheme keys)", n, err, 2+secret, secret)
	}
	if n, _ := tok.SessionCopies(); n != 0 {
		t.Fatalf("the HSM without copies has %d", n)
	}
	flags, err := h.SecretKeyFlags()
	if err != nil {
		t.Fatal(err)
	}
	if len(flags) != 2+secret {
		t.Fatalf("%d secret keys in use, want %d", len(flags), 2+secret)
	}
	for name, f := range flags {
		if f != (hsm.KeyFlags{Token: false, Sensitive: true, Extractable: false, Private: true}) {
			t.Errorf("%s in use: %+v, want a sensitive, private, non-extractable session object", name, f)
		}
	}
	// Each copy is the key of its purpose: the same output as the token object of that purpose.
	same := func(what string, f func(*hsm.HSM) ([]byte, error)) {
		t.Helper()
		got, err := f(h)
		want, werr := f(tok)
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: the copy gives %x (%v), the token key %x (%v)", what, got, err, want, werr)
		}
	}
	same("lookup hash", func(x *hsm.HSM) ([]byte, error) { return x.Index("pan", []byte("4111111111111111")) })
	same("verifier", func(x *hsm.HSM) ([]byte, error) { return x.Verifier("answer", []byte("Musterstadt")) })
	for _, k := range scheme {
		switch k.Type {
		case hsm.SchemeHMAC:
			same(k.Name, func(x *hsm.HSM) ([]byte, error) { return x.SchemeMAC(k.Name, []byte("aav")) })
		case hsm.SchemeDES3:
			same(k.Name, func(x *hsm.HSM) ([]byte, error) {
				b, err := x.SchemeBlock(k.Name, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
				return b[:], err
			})
		}
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
	// Someone with the token's PIN puts a token key under a copy's label: a login still finds its own
	// session object, and only it.
	if err := hsm.PlantTokenKey(cfg, h.CopyLabels()[0]); err != nil {
		t.Fatal(err)
	}
	if err := h.FindCopyAgain(h.CopyLabels()[0]); err != nil {
		t.Fatalf("a planted token key disturbs the copy's lookup: %v", err)
	}

	// A lost login: its copies are gone, and the new login has copies of its own, with the same keys.
	old := h.CopyLabels()
	h.DropSession()
	_, _ = h.Index("pan", []byte("x"))
	same("lookup hash after a new login", func(x *hsm.HSM) ([]byte, error) { return x.Index("pan", []byte("4111111111111111")) })
	if n, _ := h.SessionCopies(); n != 2+secret || slices.Equal(old, h.CopyLabels()) {
		t.Fatalf("after a new login: copies %v", h.CopyLabels())
	}
	gone := func(labels []string, when string) {
		t.Helper()
		for _, l := range labels[1:] { // the first label is also the planted token key's
			if found, err := hsm.FindSecretKey(cfg, l); err != nil || found {
				t.Fatalf("copy %s outlived %s (%v)", l, when, err)
			}
		}
	}
	gone(old, "its login")
	now := h.CopyLabels()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	gone(now, "its HSM")
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
	flags, err := h.SecretKeyFlags()
	if err != nil {
		t.Fatal(err)
	}
	if f := flags["index"]; !f.Token || !f.Sensitive || f.Extractable {
		t.Fatalf("the lookup key in use: %+v, want the token object", f)
	}
	if _, err := h.Index("pan", []byte("4111111111111111")); err != nil {
		t.Fatalf("index: %v", err)
	}
}
