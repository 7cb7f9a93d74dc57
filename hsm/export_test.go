package hsm

import (
	"fmt"

	"github.com/ThalesIgnite/crypto11"
)

// DropSession closes the current login behind the HSM's back, as a token removed and put back or a
// restarted HSM does to its sessions and handles.
func (h *HSM) DropSession() { _ = h.k.Load().close() }

// KeyIsTokenObject reports whether the key the lookup hashes use is a token object (CKA_TOKEN true)
// rather than a session copy, and fails unless it is sensitive and not extractable.
func (h *HSM) KeyIsTokenObject() (bool, error) {
	s := h.k.Load()
	flag := func(t crypto11.AttributeType) (bool, error) {
		a, err := s.ctx.GetAttribute(s.index, t)
		if err != nil {
			return false, err
		}
		return len(a.Value) == 1 && a.Value[0] == 1, nil
	}
	sensitive, err := flag(crypto11.CkaSensitive)
	if err != nil {
		return false, err
	}
	extractable, err := flag(crypto11.CkaExtractable)
	if err != nil {
		return false, err
	}
	if !sensitive || extractable {
		return false, fmt.Errorf("lookup key: sensitive %v, extractable %v", sensitive, extractable)
	}
	return flag(crypto11.CkaToken)
}

// TokenIndex computes the lookup hash with the token object itself, whatever Index uses.
func (h *HSM) TokenIndex(domain string, data []byte) ([]byte, error) {
	return mac(h.k.Load().indexToken, domain, data)
}

// CopyLabels are the labels of the current login's session copies.
func (h *HSM) CopyLabels() []string { return h.k.Load().copied }

// FindSecretKey reports whether this process sees a secret key labelled label on the token.
func FindSecretKey(cfg Config, label string) (found bool, err error) {
	c, err := configure(cfg)
	if err != nil {
		return false, err
	}
	defer closeContext(c, &err)
	k, err := c.FindKey(nil, []byte(label))
	return k != nil, err
}

// InitNotCopyable creates the ACS's secret keys as Init does but with CKA_COPYABLE false, as a token
// whose policy forbids copies holds them; Init then adds the key pairs.
func InitNotCopyable(cfg Config) (err error) {
	c, err := configure(cfg)
	if err != nil {
		return err
	}
	defer closeContext(c, &err)
	for _, k := range secretKeys {
		l := label(cfg.KeyPrefix, k.name)
		attrs, err := crypto11.NewAttributeSetWithIDAndLabel(l, l)
		if err != nil {
			return err
		}
		if err := attrs.Set(crypto11.CkaCopyable, false); err != nil {
			return err
		}
		if _, err := c.GenerateSecretKeyWithAttributes(attrs, 256, k.cipher); err != nil {
			return err
		}
	}
	_, err = Init(cfg)
	return err
}
