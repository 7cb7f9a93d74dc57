// Package sdkcrypto owns the cryptography between the ACS and a merchant app's 3DS SDK (deviceChannel
// 01), as the EMV 3DS Core Specification 2.3.1 gives it in §6.2.3 (the secure channel's set-up) and
// §6.2.4 (protecting CReq and CRes): the SDK's ephemeral key as a JWK, the ACS's ephemeral key, the
// ECDH-ES agreement with Concat KDF, the acsSignedContent JWS, and CReq/CRes as compact JWE with "dir".
// No database, no HSM: the signing key comes in as a crypto.Signer, the content-encryption key out as
// bytes for the caller to store encrypted.
//
// Choices where the specification leaves one (each in the README's app-channel section):
//   - The Concat KDF hash is SHA-256: §6.2.3.2 names ECDH-ES "according to JWA (RFC 7518)", whose
//     Concat KDF (§4.6.2) uses SHA-256.
//   - The A128GCM IV is 96 bits (RFC 7518 §5.3): 11 bytes 00 (CReq) or FF (CRes), then the counter.
//     The ACS does not insist that a CReq's IV is built so: the specification asks it of the SDK and
//     the counter inside the decrypted CReq is what the ACS checks.
package sdkcrypto

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// Enc is a JWE content encryption the app channel allows (§6.2.4.1).
type Enc string

const (
	A128CBCHS256 Enc = "A128CBC-HS256"
	A128GCM      Enc = "A128GCM"
)

// CEKSize is the content-encryption key's length: 256 bits (§6.2.3.2, keydatalen).
const CEKSize = 32

// ErrKey says the SDK's ephemeral public key is not a P-256 point given as a JWK.
var ErrKey = errors.New("sdkcrypto: not an EC P-256 public key in JWK form")

// jwk is the public JWK of an EC key (RFC 7518 §6.2.1).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d,omitempty"`
}

// ParsePublicJWK reads sdkEphemPubKey: kty EC, crv P-256, and x and y as 32-byte base64url coordinates
// of a point on the curve (§6.2.3.2: the ACS "checks that QC is a point on the curve P-256"). A private
// part ("d") is refused: the SDK must never send it.
func ParsePublicJWK(raw []byte) (*ecdh.PublicKey, error) {
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, ErrKey
	}
	if k.Kty != "EC" || k.Crv != "P-256" || k.D != "" {
		return nil, ErrKey
	}
	x, errX := base64.RawURLEncoding.DecodeString(k.X)
	y, errY := base64.RawURLEncoding.DecodeString(k.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, ErrKey
	}
	// The uncompressed point; crypto/ecdh refuses one that is not on the curve or is the identity.
	pub, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, ErrKey
	}
	return pub, nil
}

// PublicJWK is the JWK of a P-256 public key, as acsEphemPubKey is sent.
func PublicJWK(pub *ecdh.PublicKey) json.RawMessage {
	b := pub.Bytes() // 04 || x || y
	out, _ := json.Marshal(jwk{Kty: "EC", Crv: "P-256", X: base64.RawURLEncoding.EncodeToString(b[1:33]),
		Y: base64.RawURLEncoding.EncodeToString(b[33:65])})
	return out
}

// NewEphemeral makes the ACS's ephemeral key pair for one transaction (QT, dT).
func NewEphemeral() (*ecdh.PrivateKey, error) { return ecdh.P256().GenerateKey(rand.Reader) }

// DeriveCEK is the agreement of §6.2.3.2: ECDH on P-256 between the ACS's ephemeral private key and
// the SDK's ephemeral public key, then Concat KDF with keydatalen 256, AlgorithmID and PartyUInfo
// empty, PartyVInfo the sdkReferenceNumber, SuppPubInfo the key length in bits, SuppPrivInfo empty.
// The SDK computes the same key from its private key and the ACS's public key.
func DeriveCEK(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, sdkReferenceNumber string) ([]byte, error) {
	z, err := priv.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("sdkcrypto: key agreement: %w", err)
	}
	return ConcatKDF(z, nil, nil, []byte(sdkReferenceNumber), CEKSize*8), nil
}

// ConcatKDF is NIST SP 800-56A's single-step KDF with SHA-256 as RFC 7518 §4.6.2 uses it: the
// AlgorithmID, PartyUInfo and PartyVInfo each prefixed with their 32-bit length, SuppPubInfo the
// key's length in bits, SuppPrivInfo empty.
func ConcatKDF(z, algorithmID, partyUInfo, partyVInfo []byte, keyBits int) []byte {
	var other []byte
	for _, f := range [][]byte{algorithmID, partyUInfo, partyVInfo} {
		other = binary.BigEndian.AppendUint32(other, uint32(len(f)))
		other = append(other, f...)
	}
	other = binary.BigEndian.AppendUint32(other, uint32(keyBits))
	var out []byte
	for counter := uint32(1); len(out)*8 < keyBits; counter++ {
		h := sha256.New()
		_ = binary.Write(h, binary.BigEndian, counter)
		h.Write(z)
		h.Write(other)
		out = h.Sum(out)
	}
	return out[:keyBits/8]
}

// SignContent makes acsSignedContent (§6.2.3.2): a compact JWS with the ACS's key (held in the HSM
// behind signer), ES256 for a P-256 key and PS256 for an RSA key (a scheme that requires PS256), its
// certificate chain in "x5c" (the ACS's certificate first, chaining certificates after it, without
// the DS CA's own), over {"acsEphemPubKey", "sdkEphemPubKey", "acsURL"}.
func SignContent(signer crypto.Signer, chain [][]byte, acsURL string, acsEphem, sdkEphem json.RawMessage) (string, error) {
	if len(chain) == 0 {
		return "", errors.New("sdkcrypto: acsSignedContent needs the ACS's certificate")
	}
	alg := jose.ES256
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return "", errors.New("sdkcrypto: an RSA signing key needs at least 2048 bits")
		}
		alg, signer = jose.PS256, pssSaltEqualsHash{signer}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", errors.New("sdkcrypto: an EC signing key must be P-256 (ES256)")
		}
	default:
		return "", errors.New("sdkcrypto: the signing key must be P-256 or RSA")
	}
	x5c := make([]string, len(chain))
	for i, der := range chain {
		x5c[i] = base64.StdEncoding.EncodeToString(der) // RFC 7515 §4.1.6: base64, not base64url
	}
	opts := (&jose.SignerOptions{}).WithHeader("x5c", x5c)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cryptosigner.Opaque(signer)}, opts)
	if err != nil {
		return "", fmt.Errorf("sdkcrypto: signer: %w", err)
	}
	payload, err := json.Marshal(struct {
		ACSEphemPubKey json.RawMessage `json:"acsEphemPubKey"`
		SDKEphemPubKey json.RawMessage `json:"sdkEphemPubKey"`
		ACSURL         string          `json:"acsURL"`
	}{acsEphem, sdkEphem, acsURL})
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sdkcrypto: sign acsSignedContent: %w", err)
	}
	return jws.CompactSerialize()
}

// pssSaltEqualsHash asks an RSA signer for PSS with a salt as long as the hash, as RFC 7518 §3.5
// defines PS256: go-jose asks for the "auto" salt length, which a PKCS#11 token (crypto11) refuses.
type pssSaltEqualsHash struct{ crypto.Signer }

func (s pssSaltEqualsHash) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if o, ok := opts.(*rsa.PSSOptions); ok && o.SaltLength != rsa.PSSSaltLengthEqualsHash {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: o.Hash}
	}
	return s.Signer.Sign(r, digest, opts)
}

// Errors of OpenCReq. ErrNotJWE: the body is not a compact JWE with the app channel's header (EMV
// errorCode 101 or 203, the caller decides); ErrDecrypt: it does not decrypt and authenticate under
// the transaction's key (errorCode 302, §5.9.5).
var (
	ErrNotJWE  = errors.New("sdkcrypto: not a compact JWE with alg dir, an allowed enc and a kid")
	ErrDecrypt = errors.New("sdkcrypto: the message does not decrypt under the transaction's key")
)

// header is a CReq's or CRes's protected JWE header.
type header struct {
	Alg string `json:"alg"`
	Enc Enc    `json:"enc"`
	Kid string `json:"kid"`
}

// KeyID reads the "kid" of a compact JWE's protected header without decrypting: the ACS Transaction ID
// that names the key (§6.2.4.1), by which the ACS finds the transaction.
func KeyID(compact string) (string, error) {
	h, err := splitJWE(compact)
	if err != nil {
		return "", err
	}
	return h.Kid, nil
}

// splitJWE reads a compact JWE's protected header and checks the app channel's form: five parts, no
// encrypted key ("dir"), alg dir, a kid, and an enc the app channel allows.
func splitJWE(compact string) (*header, error) {
	parts := strings.Split(strings.TrimSpace(compact), ".")
	if len(parts) != 5 || parts[1] != "" {
		return nil, ErrNotJWE
	}
	protected, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, ErrNotJWE
	}
	var h header
	if json.Unmarshal(protected, &h) != nil || h.Alg != "dir" || h.Kid == "" || (h.Enc != A128CBCHS256 && h.Enc != A128GCM) {
		return nil, ErrNotJWE
	}
	return &h, nil
}

// OpenCReq decrypts a CReq (§6.2.4.3) for the transaction acsTransID under cek: the header must say
// alg "dir", an enc in allowed and kid acsTransID. It returns the plaintext and the enc used, which the
// CRes must use too (§6.2.4.4). The caller checks sdkCounterStoA inside.
func OpenCReq(cek []byte, acsTransID, compact string, allowed ...Enc) ([]byte, Enc, error) {
	h, err := splitJWE(compact)
	if err != nil {
		return nil, "", err
	}
	ok := false
	for _, e := range allowed {
		ok = ok || e == h.Enc
	}
	if !ok || subtle.ConstantTimeCompare([]byte(h.Kid), []byte(acsTransID)) != 1 {
		return nil, "", ErrNotJWE
	}
	if len(cek) != CEKSize {
		return nil, "", errors.New("sdkcrypto: the content-encryption key must be 256 bits")
	}
	pt, err := decrypt(compact, cek, h.Enc, true)
	if err != nil {
		return nil, "", ErrDecrypt
	}
	return pt, h.Enc, nil
}

// SealCRes encrypts a CRes (§6.2.4.4) with the CReq's enc, kid acsTransID, under cek: A128GCM with the
// rightmost 128 bits and the IV FF…FF || acsCounterAtoS; A128CBC-HS256 with the whole key and a random
// IV.
func SealCRes(cek []byte, enc Enc, acsTransID string, counter uint8, payload []byte) (string, error) {
	return seal(cek, enc, acsTransID, counter, payload, false)
}

// SealCReq encrypts a CReq as the SDK does (§6.2.4.1: A128GCM with the leftmost 128 bits and the IV
// 00…00 || sdkCounterStoA): the SDK simulator's and the tests' side.
func SealCReq(cek []byte, enc Enc, acsTransID string, counter uint8, payload []byte) (string, error) {
	return seal(cek, enc, acsTransID, counter, payload, true)
}

// OpenCRes decrypts a CRes as the SDK does: the SDK simulator's and the tests' side.
func OpenCRes(cek []byte, acsTransID, compact string) ([]byte, error) {
	h, err := splitJWE(compact)
	if err != nil {
		return nil, err
	}
	if h.Kid != acsTransID || len(cek) != CEKSize {
		return nil, ErrNotJWE
	}
	pt, err := decrypt(compact, cek, h.Enc, false)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// directionKey is the key of one direction: A128CBC-HS256 uses the whole 256 bits both ways; A128GCM the
// leftmost 128 bits from the SDK to the ACS and the rightmost from the ACS to the SDK (§6.2.4.1, 6.2.4.4).
func directionKey(cek []byte, enc Enc, toACS bool) []byte {
	if enc != A128GCM {
		return cek
	}
	if toACS {
		return cek[:16]
	}
	return cek[16:]
}

// decrypt opens a compact JWE with go-jose (alg dir; the enc the header names).
func decrypt(compact string, cek []byte, enc Enc, toACS bool) ([]byte, error) {
	obj, err := jose.ParseEncryptedCompact(compact, []jose.KeyAlgorithm{jose.DIRECT},
		[]jose.ContentEncryption{jose.ContentEncryption(enc)})
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(directionKey(cek, enc, toACS))
}

// seal writes a compact JWE. A128CBC-HS256 goes through go-jose (random IV, as §6.2.4 asks); A128GCM is
// written here because its IV is the message counter padded with 00 or FF bytes, which go-jose (always
// a random IV) cannot express.
func seal(cek []byte, enc Enc, acsTransID string, counter uint8, payload []byte, toACS bool) (string, error) {
	if len(cek) != CEKSize {
		return "", errors.New("sdkcrypto: the content-encryption key must be 256 bits")
	}
	key := directionKey(cek, enc, toACS)
	switch enc {
	case A128CBCHS256:
		e, err := jose.NewEncrypter(jose.A128CBC_HS256, jose.Recipient{Algorithm: jose.DIRECT, Key: key, KeyID: acsTransID}, nil)
		if err != nil {
			return "", err
		}
		obj, err := e.Encrypt(payload)
		if err != nil {
			return "", err
		}
		return obj.CompactSerialize()
	case A128GCM:
		hb, err := json.Marshal(header{Alg: "dir", Enc: enc, Kid: acsTransID})
		if err != nil {
			return "", err
		}
		protected := base64.RawURLEncoding.EncodeToString(hb)
		pad := byte(0xFF)
		if toACS {
			pad = 0
		}
		iv := append(repeat(pad, 11), counter)
		block, err := aes.NewCipher(key)
		if err != nil {
			return "", err
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			return "", err
		}
		// RFC 7516 §5.1 step 14: the additional data is ASCII(BASE64URL(protected header)).
		sealed := g.Seal(nil, iv, payload, []byte(protected))
		n := len(sealed) - g.Overhead()
		b := base64.RawURLEncoding.EncodeToString
		return protected + ".." + b(iv) + "." + b(sealed[:n]) + "." + b(sealed[n:]), nil
	}
	return "", ErrNotJWE
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
