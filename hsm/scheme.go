package hsm

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
)

// Scheme keys are the keys the configuration names, per card scheme: the keys a scheme's authentication
// value is computed with (issue 15: an HMAC key per Mastercard BIN range and key identifier, a DES key
// pair per Visa BIN range and key indicator; package authval names them), and the RSA key that signs
// acsSignedContent for a scheme that requires PS256 (issue 14). Here they are created, found again
// after a token failure, and used by name; a secret key is never handed out.

// SchemeKeyType is the kind of a scheme key.
type SchemeKeyType string

const (
	// SchemeHMAC is a generic secret used with CKM_SHA256_HMAC over the scheme's exact input (no domain
	// prefix: the scheme's host recomputes the same MAC).
	SchemeHMAC SchemeKeyType = "hmac-sha256"
	// SchemeDES3 is a triple-DES key used one 8-byte block at a time (CKM_DES3_ECB). A single-length DES
	// key K is imported as K|K|K, for which triple DES is single DES; a pair A, B as A|B|A is the
	// encrypt-decrypt-encrypt of the CVV algorithm.
	SchemeDES3 SchemeKeyType = "des3"
	// SchemeRSA is an RSA-2048 key pair that signs (PS256: RSASSA-PSS with SHA-256, in the token).
	SchemeRSA SchemeKeyType = "rsa-2048"
)

// SchemeKey names a scheme key; its label on the token is KeyPrefix + "-" + Name.
type SchemeKey struct {
	Name string
	Type SchemeKeyType
}

func (k SchemeKey) cipher() (*crypto11.SymmetricCipher, int, error) {
	switch k.Type {
	case SchemeHMAC:
		return crypto11.CipherGeneric, 256, nil
	case SchemeDES3:
		return crypto11.CipherDES3, 0, nil // the mechanism fixes the length; SoftHSM refuses CKA_VALUE_LEN
	}
	return nil, 0, fmt.Errorf("hsm: scheme key %s: unknown type %q", k.Name, k.Type)
}

// initScheme creates the scheme keys the token lacks, like Init does for the ACS's own keys.
func initScheme(c *crypto11.Context, prefix string, keys []SchemeKey) (created []string, err error) {
	for _, k := range keys {
		if k.Type == SchemeRSA {
			l := []byte(prefix + "-" + k.Name)
			found, err := c.FindKeyPair(nil, l)
			if err != nil {
				return created, fmt.Errorf("%w: find %s: %v", ErrUnavailable, l, err)
			}
			if found == nil {
				if _, err := c.GenerateRSAKeyPairWithLabel(l, l, 2048); err != nil {
					return created, fmt.Errorf("%w: generate %s: %v", ErrUnavailable, l, err)
				}
				created = append(created, string(l))
			}
			continue
		}
		ciph, bits, err := k.cipher()
		if err != nil {
			return created, err
		}
		l := []byte(prefix + "-" + k.Name)
		found, err := c.FindKey(nil, l)
		if err != nil {
			return created, fmt.Errorf("%w: find %s: %v", ErrUnavailable, l, err)
		}
		if found != nil {
			continue
		}
		if _, err := c.GenerateSecretKeyWithLabel(l, l, bits, ciph); err != nil {
			return created, fmt.Errorf("%w: generate %s: %v", ErrUnavailable, l, err)
		}
		created = append(created, string(l))
	}
	return created, nil
}

// MissingSchemeKeys returns the labels of the scheme keys the token lacks.
func MissingSchemeKeys(cfg Config, keys []SchemeKey) (missing []string, err error) {
	c, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	defer closeContext(c, &err)
	for _, k := range keys {
		l := cfg.KeyPrefix + "-" + k.Name
		found, err := c.FindKey(nil, []byte(l))
		if err != nil {
			return nil, fmt.Errorf("%w: find %s: %v", ErrUnavailable, l, err)
		}
		if found == nil {
			missing = append(missing, l)
		}
	}
	return missing, nil
}

// loadScheme finds the scheme keys in a new session.
func (h *session) loadScheme(prefix string, keys []SchemeKey) error {
	h.scheme = make(map[string]schemeHandle, len(keys))
	h.schemeSigners = map[string]crypto11.Signer{}
	for _, k := range keys {
		l := label(prefix, keyName(k.Name))
		if k.Type == SchemeRSA {
			s, err := h.ctx.FindKeyPair(nil, l)
			if err != nil {
				return fmt.Errorf("%w: find %s: %v", ErrUnavailable, l, err)
			}
			if s == nil {
				return fmt.Errorf("%w: %s", ErrMissingKeys, l)
			}
			if _, ok := s.Public().(*rsa.PublicKey); !ok {
				return fmt.Errorf("hsm: %s is not an RSA key", l)
			}
			h.schemeSigners[k.Name] = s
			continue
		}
		found, err := h.ctx.FindKey(nil, l)
		if err != nil {
			return fmt.Errorf("%w: find %s: %v", ErrUnavailable, l, err)
		}
		if found == nil {
			return fmt.Errorf("%w: %s", ErrMissingKeys, l)
		}
		h.scheme[k.Name] = schemeHandle{found, k.Type}
	}
	return nil
}

type schemeHandle struct {
	key *crypto11.SecretKey
	typ SchemeKeyType
}

// ErrNoSchemeKey means a scheme key was asked for that the HSM was not opened with (a key identifier
// that is not configured, or has been retired).
var ErrNoSchemeKey = errors.New("hsm: no such scheme key")

func (h *HSM) schemeKey(s *session, name string, typ SchemeKeyType) (*crypto11.SecretKey, error) {
	k, ok := s.scheme[name]
	if !ok || k.typ != typ {
		return nil, fmt.Errorf("%w: %s", ErrNoSchemeKey, name)
	}
	return k.key, nil
}

// SchemeSigner returns the named RSA scheme key as a crypto.Signer (PSS with rsa.PSSOptions); the key
// never leaves the token, and the signer follows a reopened session.
func (h *HSM) SchemeSigner(name string) (crypto.Signer, error) {
	if _, ok := h.k.Load().schemeSigners[name]; !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoSchemeKey, name)
	}
	return guardedSigner{h, func(s *session) crypto11.Signer { return s.schemeSigners[name] }}, nil
}

// SchemeMAC computes HMAC-SHA256 with the named scheme key over data as it is.
func (h *HSM) SchemeMAC(name string, data []byte) ([]byte, error) {
	s := h.k.Load()
	key, err := h.schemeKey(s, name, SchemeHMAC)
	if err != nil {
		return nil, err
	}
	var sum []byte
	err = guard("HMAC", func() error {
		hm, err := key.NewHMAC(pkcs11.CKM_SHA256_HMAC, 32)
		if err != nil {
			return fmt.Errorf("%w: HMAC init: %v", ErrUnavailable, err)
		}
		_, werr := hm.Write(data)
		sum = hm.Sum(nil) // always: it returns the session to the pool
		if werr != nil {
			return fmt.Errorf("%w: HMAC update: %v", ErrUnavailable, werr)
		}
		return nil
	})
	return sum, h.check(s, err)
}

// SchemeBlock encrypts one 8-byte block with the named triple-DES scheme key in ECB mode: the building
// block of the CVV algorithm the Visa CAVV is computed with.
func (h *HSM) SchemeBlock(name string, in [8]byte) ([8]byte, error) {
	var out [8]byte
	s := h.k.Load()
	key, err := h.schemeKey(s, name, SchemeDES3)
	if err != nil {
		return out, err
	}
	err = guard("DES3 ECB", func() error {
		// crypto11's cipher.Block panics on a token failure; guard turns that into ErrUnavailable.
		key.Encrypt(out[:], in[:])
		return nil
	})
	return out, h.check(s, err)
}

// KeyInfo describes a key on the token: its label and type, never its value.
type KeyInfo struct {
	Label string
	Type  string
}

// ListKeys lists the keys on the token whose labels start with the configured prefix.
func ListKeys(cfg Config) (keys []KeyInfo, err error) {
	c, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	defer closeContext(c, &err)
	secret, err := c.FindAllKeys()
	if err != nil {
		return nil, fmt.Errorf("%w: list keys: %v", ErrUnavailable, err)
	}
	for _, k := range secret {
		label, err := c.GetAttribute(k, crypto11.CkaLabel)
		if err != nil {
			return nil, fmt.Errorf("%w: key label: %v", ErrUnavailable, err)
		}
		typ, err := c.GetAttribute(k, crypto11.CkaKeyType)
		if err != nil {
			return nil, fmt.Errorf("%w: key type: %v", ErrUnavailable, err)
		}
		keys = append(keys, KeyInfo{Label: string(label.Value), Type: keyTypeName(typ.Value)})
	}
	pairs, err := c.FindAllKeyPairs()
	if err != nil {
		return nil, fmt.Errorf("%w: list key pairs: %v", ErrUnavailable, err)
	}
	for _, k := range pairs {
		label, err := c.GetAttribute(k, crypto11.CkaLabel)
		if err != nil {
			return nil, fmt.Errorf("%w: key label: %v", ErrUnavailable, err)
		}
		typ := "ec-p256"
		if _, ok := k.Public().(*rsa.PublicKey); ok {
			typ = "rsa-2048"
		}
		keys = append(keys, KeyInfo{Label: string(label.Value), Type: typ})
	}
	keys = slices.DeleteFunc(keys, func(k KeyInfo) bool { return !strings.HasPrefix(k.Label, cfg.KeyPrefix+"-") })
	slices.SortFunc(keys, func(a, b KeyInfo) int { return strings.Compare(a.Label, b.Label) })
	return keys, nil
}

func keyTypeName(v []byte) string {
	var t uint
	for i := len(v) - 1; i >= 0; i-- { // CK_ULONG in the platform's (little-endian) byte order
		t = t<<8 | uint(v[i])
	}
	switch t {
	case pkcs11.CKK_AES:
		return "aes"
	case pkcs11.CKK_GENERIC_SECRET:
		return "generic-secret"
	case pkcs11.CKK_DES3:
		return "des3"
	case pkcs11.CKK_DES2:
		return "des2"
	}
	return fmt.Sprintf("0x%x", t)
}

// ImportSchemeKey puts a scheme key of known value on the token: sensitive, non-extractable, for
// encryption or signing only. It is how the published test vectors are checked against the token, and
// the development stand-in for a key ceremony (a bank loads the keys it exchanged with the scheme with
// its HSM vendor's tools, under the label the ACS looks for). The value is not kept.
func ImportSchemeKey(cfg Config, key SchemeKey, value []byte) (err error) {
	var class, typ uint = pkcs11.CKO_SECRET_KEY, 0
	switch key.Type {
	case SchemeHMAC:
		typ = pkcs11.CKK_GENERIC_SECRET
		if len(value) < 16 {
			return errors.New("hsm: an HMAC scheme key has at least 16 bytes")
		}
	case SchemeDES3:
		typ = pkcs11.CKK_DES3
		if len(value) != 24 {
			return errors.New("hsm: a triple-DES scheme key has 24 bytes")
		}
	default:
		return fmt.Errorf("hsm: scheme key %s: unknown type %q", key.Name, key.Type)
	}
	p := pkcs11.New(cfg.Module)
	if p == nil {
		return fmt.Errorf("%w: load module %s", ErrUnavailable, cfg.Module)
	}
	defer p.Destroy()
	// The module may be initialised already by crypto11 in this process; then it must stay so.
	if err := p.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return fmt.Errorf("%w: initialise: %v", ErrUnavailable, err)
	} else if err == nil {
		defer p.Finalize()
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("%w: slots: %v", ErrUnavailable, err)
	}
	for _, slot := range slots {
		ti, err := p.GetTokenInfo(slot)
		if err != nil || ti.Label != cfg.TokenLabel {
			continue
		}
		sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return fmt.Errorf("%w: session: %v", ErrUnavailable, err)
		}
		defer p.CloseSession(sh)
		if err := p.Login(sh, pkcs11.CKU_USER, cfg.Pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
			return fmt.Errorf("%w: login: %v", ErrUnavailable, err)
		}
		label := []byte(cfg.KeyPrefix + "-" + key.Name)
		tmpl := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, typ),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, key.Type == SchemeDES3),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false), // the CVV algorithm only encrypts
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, key.Type == SchemeHMAC),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, key.Type == SchemeHMAC),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, label),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
		}
		if _, err := p.CreateObject(sh, tmpl); err != nil {
			return fmt.Errorf("%w: import %s: %v", ErrUnavailable, label, err)
		}
		return nil
	}
	return fmt.Errorf("%w: no token %q", ErrUnavailable, cfg.TokenLabel)
}
