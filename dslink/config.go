package dslink

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
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
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dslink: %w", err)
	}
	var cert tls.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, blk.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("dslink: %s holds no certificate", path)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("dslink: %s: %w", path, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := leaf.PublicKey.(equaler); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("dslink: the client certificate is not for the HSM's ds-client key (run `acs pki dev` or install the DS CA's certificate for it)")
	}
	cert.PrivateKey, cert.Leaf = key, leaf
	return &cert, nil
}
