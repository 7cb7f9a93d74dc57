package hsm

import (
	"fmt"

	"github.com/ThalesIgnite/crypto11"
)

// DropSession closes the current login behind the HSM's back, as a token removed and put back or a
// restarted HSM does to its sessions and handles.
func (h *HSM) DropSession() { _ = h.k.Load().close() }

// OpenWithoutCopies is Open using the token objects themselves, to compare the copies with.
func OpenWithoutCopies(cfg Config, scheme ...SchemeKey) (*HSM, error) {
	return open(cfg, scheme, false)
}

// KeyFlags are the attributes of a key in use that say where it lives and how it is protected.
type KeyFlags struct{ Token, Sensitive, Extractable, Private bool }

// SecretKeyFlags returns the flags of every secret key requests use (the lookup and verifier keys and
// the scheme keys), by purpose.
func (h *HSM) SecretKeyFlags() (map[string]KeyFlags, error) {
	s := h.k.Load()
	keys := map[string]*crypto11.SecretKey{"index": s.index, "verifier": s.verifier}
	for name, k := range s.scheme {
		keys[name] = k.key
	}
	out := map[string]KeyFlags{}
	for name, k := range keys {
		flag := func(t crypto11.AttributeType) (bool, error) {
			a, err := s.ctx.GetAttribute(k, t)
			if err != nil {
				return false, fmt.Errorf("%s: %v", name, err)
			}
			return len(a.Value) == 1 && a.Value[0] == 1, nil
		}
		var f KeyFlags
		for _, x := range []struct {
			t crypto11.AttributeType
			v *bool
		}{{crypto11.CkaToken, &f.Token}, {crypto11.CkaSensitive, &f.Sensitive}, {crypto11.CkaExtractable, &f.Extractable},
			{crypto11.CkaPrivate, &f.Private}} {
			v, err := flag(x.t)
			if err != nil {
				return nil, err
			}
			*x.v = v
		}
		out[name] = f
	}
	return out, nil
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

// PlantTokenKey creates a token key labelled label, as someone holding the token's PIN could.
func PlantTokenKey(cfg Config, label string) (err error) {
	c, err := configure(cfg)
	if err != nil {
		return err
	}
	defer closeContext(c, &err)
	_, err = c.GenerateSecretKeyWithLabel([]byte(label), []byte(label), 256, crypto11.CipherGeneric)
	return err
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

// FindCopyAgain looks the session copy labelled label up again, as a login does after making it.
func (h *HSM) FindCopyAgain(label string) error {
	_, err := findCopy(h.k.Load().ctx, []byte(label))
	return err
}
