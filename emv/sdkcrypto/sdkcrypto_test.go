package sdkcrypto_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josecipher "github.com/go-jose/go-jose/v4/cipher"

	"example.com/acs/emv/sdkcrypto"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 7518 Appendix C (ECDH-ES key agreement): Alice's ephemeral key, Bob's static key, enc A128GCM,
// apu "Alice", apv "Bob", 128 bits; the derived key is VqqN6vgjbSBcIijNcacQGg.
func TestConcatKDFPublishedVector(t *testing.T) {
	alicePub, err := ecdh.P256().NewPublicKey(append(append([]byte{4},
		b64(t, "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0")...), b64(t, "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps")...))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ecdh.P256().NewPrivateKey(b64(t, "VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := bob.ECDH(alicePub)
	if err != nil {
		t.Fatal(err)
	}
	got := sdkcrypto.ConcatKDF(z, []byte("A128GCM"), []byte("Alice"), []byte("Bob"), 128)
	if want := b64(t, "VqqN6vgjbSBcIijNcacQGg"); !bytes.Equal(got, want) {
		t.Fatalf("Concat KDF: %x, RFC 7518 Appendix C gives %x", got, want)
	}
}

// toECDSA turns an ecdh key into the ecdsa form go-jose's derivation takes.
func toECDSA(t *testing.T, k *ecdh.PrivateKey) *ecdsa.PrivateKey {
	t.Helper()
	p, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), k.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// §6.2.3.2/6.2.3.3: the ACS (dT, QC) and the SDK (dC, QT) derive the same 256-bit key with AlgorithmID
// and PartyUInfo empty and PartyVInfo the sdkReferenceNumber. The SDK's side is go-jose's ECDH-ES
// derivation, a second implementation.
func TestDeriveCEKAgreesWithGoJose(t *testing.T) {
	for range 20 {
		acs, _ := sdkcrypto.NewEphemeral()
		sdk, _ := sdkcrypto.NewEphemeral()
		const ref = "3DS_LOA_SDK_ABCD_020100_00001"
		cek, err := sdkcrypto.DeriveCEK(acs, sdk.PublicKey(), ref)
		if err != nil {
			t.Fatal(err)
		}
		sdkSide := josecipher.DeriveECDHES("", nil, []byte(ref), toECDSA(t, sdk), &toECDSA(t, acs).PublicKey, 32)
		if len(cek) != 32 || !bytes.Equal(cek, sdkSide) {
			t.Fatalf("ACS %x, SDK (go-jose) %x", cek, sdkSide)
		}
		if other, _ := sdkcrypto.DeriveCEK(acs, sdk.PublicKey(), ref+"X"); bytes.Equal(other, cek) {
			t.Fatal("another sdkReferenceNumber gives the same key")
		}
	}
}

// sdkEphemPubKey must be a P-256 point as a public JWK (§6.2.3.2: "checks that QC is a point on the
// curve P-256"); anything else is refused.
func TestParsePublicJWK(t *testing.T) {
	k, _ := sdkcrypto.NewEphemeral()
	good := sdkcrypto.PublicJWK(k.PublicKey())
	pub, err := sdkcrypto.ParsePublicJWK(good)
	if err != nil || !pub.Equal(k.PublicKey()) {
		t.Fatalf("a valid key: %v", err)
	}
	var m map[string]string
	_ = json.Unmarshal(good, &m)
	with := func(key, v string) []byte {
		c := map[string]string{}
		for a, b := range m {
			c[a] = b
		}
		if v == "" {
			delete(c, key)
		} else {
			c[key] = v
		}
		out, _ := json.Marshal(c)
		return out
	}
	x := b64(t, m["x"])
	x[31] ^= 1 // almost surely off the curve
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, raw := range map[string][]byte{
		"not JSON":            []byte("{"),
		"RSA":                 with("kty", "RSA"),
		"P-384 named":         with("crv", "P-384"),
		"no y":                with("y", ""),
		"short x":             with("x", m["x"][:20]),
		"off the curve":       with("x", base64.RawURLEncoding.EncodeToString(x)),
		"a private key":       with("d", base64.RawURLEncoding.EncodeToString(k.Bytes())),
		"P-384 coordinates":   with("x", base64.RawURLEncoding.EncodeToString(p384.X.Bytes())),
		"padded base64":       with("x", base64.URLEncoding.EncodeToString(b64(t, m["x"]))+"x"),
		"empty object":        []byte("{}"),
		"an array, no key":    []byte("[]"),
		"base64 not url-safe": with("x", strings.NewReplacer("-", "+", "_", "/").Replace(m["x"])+"+/"),
	} {
		if _, err := sdkcrypto.ParsePublicJWK(raw); !errors.Is(err, sdkcrypto.ErrKey) {
			t.Errorf("%s: got %v, want ErrKey", name, err)
		}
	}
}

// acsSignedContent (§6.2.3.2): a compact JWS, ES256, x5c with the ACS's certificate, payload exactly
// acsEphemPubKey, sdkEphemPubKey and acsURL; the SDK verifies it with the certificate's key.
func TestSignContent(t *testing.T) {
	// The DS's CA, which the SDK knows, and the ACS's signing certificate it issued.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "DS CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "ACS signing"},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	acs, _ := sdkcrypto.NewEphemeral()
	sdk, _ := sdkcrypto.NewEphemeral()
	jws, err := sdkcrypto.SignContent(key, [][]byte{der}, "https://acs.example/3ds/app", sdkcrypto.PublicJWK(acs.PublicKey()),
		sdkcrypto.PublicJWK(sdk.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := obj.Signatures[0].Protected
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	chains, err := h.Certificates(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if h.Algorithm != "ES256" || err != nil || len(chains) != 1 || !bytes.Equal(chains[0][0].Raw, der) {
		t.Fatalf("header: alg %s, x5c chain %v", h.Algorithm, err)
	}
	payload, err := obj.Verify(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(payload, &p); err != nil || len(p) != 3 {
		t.Fatalf("payload %s", payload)
	}
	if got, _ := sdkcrypto.ParsePublicJWK(p["sdkEphemPubKey"]); got == nil || !got.Equal(sdk.PublicKey()) {
		t.Error("sdkEphemPubKey is not the SDK's key")
	}
	if got, _ := sdkcrypto.ParsePublicJWK(p["acsEphemPubKey"]); got == nil || !got.Equal(acs.PublicKey()) {
		t.Error("acsEphemPubKey is not the ACS's key")
	}
	if string(p["acsURL"]) != `"https://acs.example/3ds/app"` {
		t.Errorf("acsURL %s", p["acsURL"])
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := obj.Verify(&other.PublicKey); err == nil {
		t.Error("verified with another key")
	}
}

// §6.2.4: a CReq sealed by the SDK opens at the ACS, a CRes sealed by the ACS opens at the SDK, in both
// encodings; A128GCM uses the left half of the key towards the ACS and the right half back, with the
// counter-derived IVs. The ACS's A128GCM CRes is written by hand and opened by go-jose.
func TestCReqAndCResRoundTrip(t *testing.T) {
	cek := make([]byte, 32)
	_, _ = rand.Read(cek)
	const id = "8a880dc0-d2d2-4067-bcb1-b08d1690b26e"
	for _, enc := range []sdkcrypto.Enc{sdkcrypto.A128GCM, sdkcrypto.A128CBCHS256} {
		creq, err := sdkcrypto.SealCReq(cek, enc, id, 3, []byte(`{"sdkCounterStoA":"003"}`))
		if err != nil {
			t.Fatal(err)
		}
		if kid, _ := sdkcrypto.KeyID(creq); kid != id {
			t.Fatalf("%s: kid %q", enc, kid)
		}
		pt, got, err := sdkcrypto.OpenCReq(cek, id, creq, sdkcrypto.A128CBCHS256, sdkcrypto.A128GCM)
		if err != nil || got != enc || string(pt) != `{"sdkCounterStoA":"003"}` {
			t.Fatalf("%s: open CReq: %q %s %v", enc, pt, got, err)
		}
		cres, err := sdkcrypto.SealCRes(cek, enc, id, 7, []byte(`{"acsCounterAtoS":"007"}`))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := sdkcrypto.OpenCRes(cek, id, cres); err != nil || string(pt) != `{"acsCounterAtoS":"007"}` {
			t.Fatalf("%s: open CRes: %q %v", enc, pt, err)
		}
		parts := strings.Split(cres, ".")
		if enc == sdkcrypto.A128GCM {
			if iv := b64(t, parts[2]); !bytes.Equal(iv, append(bytes.Repeat([]byte{0xFF}, 11), 7)) {
				t.Errorf("CRes IV %x, want FF…FF07", iv)
			}
			if iv := b64(t, strings.Split(creq, ".")[2]); !bytes.Equal(iv, append(make([]byte, 11), 3)) {
				t.Errorf("CReq IV %x, want 00…0003", iv)
			}
			// A CRes sent back as a CReq: the other half of the key, so it does not open.
			if _, _, err := sdkcrypto.OpenCReq(cek, id, cres, enc); !errors.Is(err, sdkcrypto.ErrDecrypt) {
				t.Errorf("a CRes opened as a CReq: %v", err)
			}
			// go-jose, a second implementation, opens the hand-written A128GCM CRes with the right half.
			obj, err := jose.ParseEncryptedCompact(cres, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A128GCM})
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := obj.Decrypt(cek[16:]); err != nil || string(pt) != `{"acsCounterAtoS":"007"}` {
				t.Fatalf("go-jose: %q %v", pt, err)
			}
		}
	}
}

// A CReq that is tampered with, encrypted under another key, for another transaction, or with an enc
// or alg the app channel does not allow is refused, each with the error the ACS maps to an Erro.
func TestCReqRefused(t *testing.T) {
	cek, other := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(cek)
	_, _ = rand.Read(other)
	const id = "8a880dc0-d2d2-4067-bcb1-b08d1690b26e"
	good, _ := sdkcrypto.SealCReq(cek, sdkcrypto.A128CBCHS256, id, 0, []byte(`{}`))
	gcm, _ := sdkcrypto.SealCReq(cek, sdkcrypto.A128GCM, id, 0, []byte(`{}`))
	parts := strings.Split(good, ".")
	flip := func(i int) string {
		p := append([]string{}, parts...)
		b := b64(t, p[i])
		b[len(b)-1] ^= 1
		p[i] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(p, ".")
	}
	hdr := func(h string) string {
		p := append([]string{}, parts...)
		p[0] = base64.RawURLEncoding.EncodeToString([]byte(h))
		return strings.Join(p, ".")
	}
	otherKey, _ := sdkcrypto.SealCReq(other, sdkcrypto.A128CBCHS256, id, 0, []byte(`{}`))
	for name, c := range map[string]struct {
		body string
		want error
	}{
		"ciphertext changed":      {flip(3), sdkcrypto.ErrDecrypt},
		"tag changed":             {flip(4), sdkcrypto.ErrDecrypt},
		"IV changed":              {flip(2), sdkcrypto.ErrDecrypt},
		"under another key":       {otherKey, sdkcrypto.ErrDecrypt},
		"another transaction":     {hdr(`{"alg":"dir","enc":"A128CBC-HS256","kid":"other"}`), sdkcrypto.ErrNotJWE},
		"alg not dir":             {hdr(`{"alg":"RSA-OAEP-256","enc":"A128CBC-HS256","kid":"` + id + `"}`), sdkcrypto.ErrNotJWE},
		"enc not allowed":         {hdr(`{"alg":"dir","enc":"A256GCM","kid":"` + id + `"}`), sdkcrypto.ErrNotJWE},
		"header changed":          {hdr(`{"alg":"dir","enc":"A128CBC-HS256","kid":"` + id + `","x":1}`), sdkcrypto.ErrDecrypt},
		"plain JSON":              {`{"messageType":"CReq"}`, sdkcrypto.ErrNotJWE},
		"an encrypted key":        {strings.Replace(good, "..", ".AAAA.", 1), sdkcrypto.ErrNotJWE},
		"GCM where only CBC goes": {gcm, sdkcrypto.ErrNotJWE},
	} {
		_, _, err := sdkcrypto.OpenCReq(cek, id, c.body, sdkcrypto.A128CBCHS256)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// tokenLike signs like a PKCS#11 token through crypto11: PSS only with the salt as long as the hash.
type tokenLike struct{ *rsa.PrivateKey }

func (k tokenLike) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if o, ok := opts.(*rsa.PSSOptions); !ok || o.SaltLength != rsa.PSSSaltLengthEqualsHash {
		return nil, errors.New("unsupported RSA option value")
	}
	return k.PrivateKey.Sign(r, digest, opts)
}

// A scheme that requires PS256 gets acsSignedContent signed with an RSA key: RSASSA-PSS, SHA-256, which
// go-jose's PS256 verifies; a key of neither kind, or a weak RSA key, is refused.
func TestSignContentPS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(8), Subject: pkix.Name{CommonName: "ACS signing (PS256)"},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	acs, _ := sdkcrypto.NewEphemeral()
	sdk, _ := sdkcrypto.NewEphemeral()
	jws, err := sdkcrypto.SignContent(tokenLike{key}, [][]byte{der}, "https://acs.example/3ds/app", sdkcrypto.PublicJWK(acs.PublicKey()),
		sdkcrypto.PublicJWK(sdk.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.PS256})
	if err != nil || obj.Signatures[0].Protected.Algorithm != "PS256" {
		t.Fatalf("PS256: %v", err)
	}
	if _, err := obj.Verify(&key.PublicKey); err != nil {
		t.Fatal(err)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, k := range []crypto.Signer{weak, p384} {
		if _, err := sdkcrypto.SignContent(k, [][]byte{{0x30}}, "https://acs.example/3ds/app", sdkcrypto.PublicJWK(acs.PublicKey()),
			sdkcrypto.PublicJWK(sdk.PublicKey())); err == nil {
			t.Errorf("%T key accepted", k.Public())
		}
	}
}
