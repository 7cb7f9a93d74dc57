package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"example.com/acs/hsm"
	"example.com/acs/internal/testenv"
)

// Issue 15: a scheme key imported with a published value computes in the token what the published
// algorithms compute with it, so the vectors of package authval (checked there with Go's DES and HMAC)
// hold for the token too. A Visa key pair A, B is held as A|A|A (triple DES is then DES with A) and
// A|B|A (the CVV algorithm's encrypt-decrypt-encrypt).
func TestSchemeKeysComputeAsPublished(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	a := hsm.SchemeKey{Name: "av-visa-test-01-a", Type: hsm.SchemeDES3}
	aba := hsm.SchemeKey{Name: "av-visa-test-01-aba", Type: hsm.SchemeDES3}
	m := hsm.SchemeKey{Name: "av-mc-test-01", Type: hsm.SchemeHMAC}
	keyA, _ := hex.DecodeString("0123456789ABCDEF")
	keyB, _ := hex.DecodeString("FEDCBA9876543210")
	// SoftHSM takes HMAC-SHA256 keys of 32 bytes and more (CKR_KEY_SIZE_RANGE below).
	macKey, _ := hex.DecodeString(strings.Repeat("B039878C1F96D212F509B2DC4CC8CD1B", 2))
	for k, v := range map[hsm.SchemeKey][]byte{a: bytes.Repeat(keyA, 3), aba: append(append(append([]byte{}, keyA...), keyB...), keyA...), m: macKey} {
		if err := hsm.ImportSchemeKey(cfg, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hsm.Init(cfg); err != nil {
		t.Fatal(err)
	}
	h, err := hsm.Open(cfg, a, aba, m)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	in := [8]byte{0x41, 0x23, 0x45, 0x67, 0x89, 0x01, 0x23, 0x45}
	desA, _ := des.NewCipher(keyA)
	desB, _ := des.NewCipher(keyB)
	var want [8]byte
	desA.Encrypt(want[:], in[:])
	got, err := h.SchemeBlock(a.Name, in)
	if err != nil || got != want {
		t.Fatalf("A|A|A: %x, %v; want DES with A %x", got, err, want)
	}
	// E(A, D(B, E(A, x))), the CVV algorithm's last three steps.
	desA.Encrypt(want[:], in[:])
	desB.Decrypt(want[:], want[:])
	desA.Encrypt(want[:], want[:])
	if got, err = h.SchemeBlock(aba.Name, in); err != nil || got != want {
		t.Fatalf("A|B|A: %x, %v; want %x", got, err, want)
	}

	data := []byte("SPA2 IAV input")
	mac := hmac.New(sha256.New, macKey)
	mac.Write(data)
	sum, err := h.SchemeMAC(m.Name, data)
	if err != nil || !hmac.Equal(sum, mac.Sum(nil)) {
		t.Fatalf("HMAC-SHA256: %x, %v", sum, err)
	}

	// A key asked for under the wrong type, or one the HSM was not opened with, is refused.
	if _, err := h.SchemeMAC(a.Name, data); !errors.Is(err, hsm.ErrNoSchemeKey) {
		t.Fatalf("DES key as HMAC key: %v", err)
	}
	if _, err := h.SchemeBlock("av-visa-test-02-a", in); !errors.Is(err, hsm.ErrNoSchemeKey) {
		t.Fatalf("unknown key: %v", err)
	}

	// The listing shows labels and types, never values.
	keys, err := hsm.ListKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, k := range keys {
		types[strings.TrimPrefix(k.Label, cfg.KeyPrefix+"-")] = k.Type
	}
	for name, typ := range map[string]string{a.Name: "des3", m.Name: "generic-secret", "kek": "aes", "signer": "ec-p256"} {
		if types[name] != typ {
			t.Errorf("list: %s is %q, want %q (all: %v)", name, types[name], typ, types)
		}
	}
}

// Init creates the scheme keys it is given, once; Open fails while one is missing. An RSA scheme key
// signs PS256 (RSASSA-PSS, SHA-256, salt as long as the hash) in the token (issue 14).
func TestSchemeKeysInit(t *testing.T) {
	cfg := testenv.HSMConfig(t)
	k := hsm.SchemeKey{Name: "av-mc-all-01", Type: hsm.SchemeHMAC}
	d := hsm.SchemeKey{Name: "av-visa-all-01-a", Type: hsm.SchemeDES3}
	r := hsm.SchemeKey{Name: "signer-rsa", Type: hsm.SchemeRSA}
	if _, err := hsm.Init(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := hsm.Open(cfg, k); !errors.Is(err, hsm.ErrMissingKeys) {
		t.Fatalf("open without the scheme key: %v", err)
	}
	created, err := hsm.Init(cfg, k, d, r)
	if err != nil || len(created) != 3 {
		t.Fatalf("init: %v, %v", created, err)
	}
	if created, err = hsm.Init(cfg, k, d, r); err != nil || len(created) != 0 {
		t.Fatalf("second init: %v, %v", created, err)
	}
	h, err := hsm.Open(cfg, k, d, r)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.SchemeMAC(k.Name, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SchemeBlock(d.Name, [8]byte{}); err != nil {
		t.Fatal(err)
	}
	signer, err := h.SchemeSigner(r.Name)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("acsSignedContent"))
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	sig, err := signer.Sign(rand.Reader, digest[:], pss)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(signer.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig, pss); err != nil {
		t.Fatalf("PS256 from the token: %v", err)
	}
	if _, err := h.SchemeSigner("nope"); !errors.Is(err, hsm.ErrNoSchemeKey) {
		t.Fatalf("unknown signer: %v", err)
	}
}
