// Package appapi is the JSON API the bank's app talks to (/app/v1), and the one definition of how the
// app signs its requests. Every request is signed by the device key that the card registration binds
// (R-REG-7): a signature over the method, path, a timestamp, a nonce and the body's hash. A request
// outside the clock window, with a nonce already seen, or with a signature of another key is refused.
//
// cmd/acs-app, the app stand-in, signs with the same function, so the two cannot drift apart.
package appapi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// Headers of a signed request.
const (
	HeaderTimestamp = "X-ACS-Timestamp" // Unix seconds
	HeaderNonce     = "X-ACS-Nonce"     // 16 to 64 characters, fresh for each request
	HeaderSignature = "X-ACS-Signature" // base64 of an ASN.1 ECDSA P-256 signature
)

// Window is how far a request's timestamp may be from the server's clock.
const Window = 5 * time.Minute

// SigningString is what the device signs: every part that gives the request its meaning.
func SigningString(method, path, timestamp, nonce string, body []byte) []byte {
	h := sha256.Sum256(body)
	return []byte("ACS-APP-V1\n" + method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(h[:]))
}

// Sign adds the signature headers to req for body, made with the device's key at now.
func Sign(req *http.Request, body []byte, key crypto.Signer, now time.Time) error {
	ts := strconv.FormatInt(now.Unix(), 10)
	nb := make([]byte, 18)
	if _, err := rand.Read(nb); err != nil {
		return err
	}
	nonce := base64.RawURLEncoding.EncodeToString(nb)
	digest := sha256.Sum256(SigningString(req.Method, req.URL.Path, ts, nonce, body))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}

// verifySignature checks the signature part only (clock window and nonce are the server's).
func verifySignature(pub *ecdsa.PublicKey, method, path, ts, nonce string, body []byte, sigB64 string) bool {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return false
	}
	digest := sha256.Sum256(SigningString(method, path, ts, nonce, body))
	return ecdsa.VerifyASN1(pub, digest[:], sig)
}
