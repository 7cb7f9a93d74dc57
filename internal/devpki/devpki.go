// Package devpki makes the development public-key infrastructure of the DS link: a development CA
// standing in for a scheme's DS CA, a DS certificate for loopback (server and client use, so the 3DS
// Server simulator can play a DS in both directions), and the ACS's client certificate for the key the
// HSM holds, and the ACS's app-channel signing certificate (acsSignedContent, EMV 6.2.3.2) for the HSM's
// signer key. Development and tests only: the CA's key is a file, which no production CA's ever is.
package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files are the paths the PKI is written to under its folder.
type Files struct {
	CA        string // ca.pem: the development DS CA's certificate (the ACS's ds_link.ca_file)
	CAKey     string // ca-key.pem
	DS        string // ds.pem: the DS's certificate for 127.0.0.1 and localhost
	DSKey     string // ds-key.pem
	ACSClient string // acs-ds-client.pem: the ACS's client certificate (ds_link.client_cert_file)
	// ACSSigning is acs-signing.pem: the certificate of the ACS's signing key that a 3DS SDK verifies
	// acsSignedContent with (directory_servers[].signing_cert_file).
	ACSSigning string
	// ACSSigningRSA is acs-signing-rsa.pem: the same for the HSM's RSA key, for a scheme that requires
	// PS256 (EnsureSigning).
	ACSSigningRSA string
}

// In names the files under dir.
func In(dir string) Files {
	return Files{CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"), DS: filepath.Join(dir, "ds.pem"),
		DSKey: filepath.Join(dir, "ds-key.pem"), ACSClient: filepath.Join(dir, "acs-ds-client.pem"),
		ACSSigning: filepath.Join(dir, "acs-signing.pem"), ACSSigningRSA: filepath.Join(dir, "acs-signing-rsa.pem")}
}

// Ensure makes what is missing under dir: the CA and the DS certificate once, and the ACS's client and
// signing certificates whenever the one there is not for acsKey or signKey (a new token has new keys).
// It returns the files and whether it wrote anything.
func Ensure(dir string, acsKey, signKey crypto.Signer, now time.Time) (Files, bool, error) {
	f := In(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, false, err
	}
	wrote := false
	ca, caKey, err := load(f.CA, f.CAKey)
	if err != nil {
		if ca, caKey, err = newCA(f, now); err != nil {
			return f, false, err
		}
		_ = os.Remove(f.DS) // issued by a CA that is gone
		_ = os.Remove(f.ACSClient)
		_ = os.Remove(f.ACSSigning)
		_ = os.Remove(f.ACSSigningRSA)
		wrote = true
	}
	if _, _, err := load(f.DS, f.DSKey); err != nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return f, false, err
		}
		tmpl := leaf("dev Directory Server", now)
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		if err := issue(f.DS, tmpl, &key.PublicKey, ca, caKey); err != nil {
			return f, false, err
		}
		if err := writeKey(f.DSKey, key); err != nil {
			return f, false, err
		}
		wrote = true
	}
	if !certFor(f.ACSClient, acsKey.Public()) {
		tmpl := leaf("dev ACS (DS client)", now)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if err := issue(f.ACSClient, tmpl, acsKey.Public(), ca, caKey); err != nil {
			return f, false, err
		}
		wrote = true
	}
	if !certFor(f.ACSSigning, signKey.Public()) {
		tmpl := leaf("dev ACS (acsSignedContent)", now)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if err := issue(f.ACSSigning, tmpl, signKey.Public(), ca, caKey); err != nil {
			return f, false, err
		}
		wrote = true
	}
	return f, wrote, nil
}

// EnsureSigning issues, from the CA Ensure made, an acsSignedContent certificate for key at path unless
// the one there is for it already; it reports whether it wrote.
func EnsureSigning(f Files, path string, key crypto.Signer, now time.Time) (bool, error) {
	if certFor(path, key.Public()) {
		return false, nil
	}
	ca, caKey, err := load(f.CA, f.CAKey)
	if err != nil {
		return false, err
	}
	tmpl := leaf("dev ACS (acsSignedContent)", now)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	return true, issue(path, tmpl, key.Public(), ca, caKey)
}

// DSServer is the DS's TLS certificate (for a simulator playing the DS).
func (f Files) DSServer() (tls.Certificate, error) { return tls.LoadX509KeyPair(f.DS, f.DSKey) }

// Roots is a pool holding the development CA.
func (f Files) Roots() (*x509.CertPool, error) {
	b, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, errors.New("devpki: no CA certificate")
	}
	return p, nil
}

func newCA(f Files, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := leaf("ACS development DS CA", now)
	tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	tmpl.NotAfter = now.AddDate(5, 0, 0)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(f.CA, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	if err := writeKey(f.CAKey, key); err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func leaf(cn string, now time.Time) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"ACS development"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
}

func issue(path string, tmpl *x509.Certificate, pub crypto.PublicKey, ca *x509.Certificate, caKey crypto.Signer) error {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return fmt.Errorf("devpki: issue %s: %w", path, err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	return os.WriteFile(path, chain, 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), mode)
}

// load reads a certificate and its private key.
func load(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("devpki: not an ECDSA key")
	}
	return cert, key, nil
}

// certFor reports whether the certificate at path is for pub.
func certFor(path string, pub crypto.PublicKey) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return false
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return false
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	p, ok := c.PublicKey.(equaler)
	return ok && p.Equal(pub)
}
