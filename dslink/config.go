package dslink

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadRoots reads PEM CA certificates (the DS CA roots) from path; "" gives nil (the system roots).
func LoadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dslink: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("dslink: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ClientCertificate builds the TLS client certificate from the PEM chain at path and the private key
// held by the HSM. The certificate's public key must be the key's, or the link would fail in every
// handshake: checked here, at start-up.
func ClientCertificate(path string, key crypto.Signer) (*tls.Certificate, error) {
	if path == "" {
		return nil, nil
	}
	chain, err := LoadChain(path, key.Public())
	if err != nil {
		return nil, fmt.Errorf("%w (the client certificate; run `acs pki dev` or install the DS CA's certificate for the HSM's ds-client key)", err)
	}
	leaf, _ := x509.ParseCertificate(chain[0]) // LoadChain parsed it
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// LoadChain reads a PEM certificate chain, leaf first, and checks that the leaf is for pub (a key the
// HSM holds): used for the DS link's client certificate and the app channel's signing certificate.
func LoadChain(path string, pub crypto.PublicKey) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dslink: %w", err)
	}
	var chain [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			chain = append(chain, blk.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("dslink: %s holds no certificate", path)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("dslink: %s: %w", path, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if k, ok := leaf.PublicKey.(equaler); !ok || !k.Equal(pub) {
		return nil, fmt.Errorf("dslink: the certificate in %s is not for the HSM's key", path)
	}
	return chain, nil
}
