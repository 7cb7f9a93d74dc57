// Package hsm is the only door to the PKCS#11 hardware security module (SoftHSM2 in development and
// tests, any PKCS#11 module in production). Every key the ACS relies on lives in the token and never
// leaves it: the key-encryption key that wraps Tink keysets, the keyed-hash keys for lookups and for
// verifying secrets, the schemes' keys for authentication values (scheme.go: per BIN range and key identifier), and ECDSA
// signing keys.
//
// The package hands out standard shapes (tink.AEAD, crypto.Signer, byte slices) so that no other package
// needs to know about PKCS#11. crypto11 panics on some token failures (GCM Seal, HMAC Sum); here every such
// failure becomes an error wrapping ErrUnavailable, so a token that disappears makes requests fail and
// /readyz answer 503 instead of crashing the process. The secret keys requests use are session copies
// of the token's keys, made at each login (copies.go: SoftHSM2 reads files before each use of a token
// object).
package hsm
