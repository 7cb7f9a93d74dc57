package hsm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
)

// Session copies (issue 13). SoftHSM2 keeps token objects in files and, before each use of one, opens,
// locks and reads the token's generation file to learn whether another process changed it: a keyed
// hash on a token key costs about 40 µs of the service's CPU, on a session object 16 to 19 µs
// (BenchmarkIndex, SoftHSM2 2.6.1 on this project's machine), and the card number's lookup hash was a
// fifth of the service's CPU in a not-registered AReq. So each secret key a request uses (the lookup
// and verifier keys, the schemes' HMAC and triple-DES keys) is copied once per login into a session
// object with C_CopyObject: the copy keeps the key's attributes (still sensitive, not extractable and
// private: PKCS#11 lets a copy only tighten the first two), lives in the token's memory for as long as
// the session that made it, and is used by every session of this process while it is logged in,
// crypto11's pool included. A token that refuses a copy (CKA_COPYABLE false, or no C_CopyObject)
// leaves that key in use as the token object, as before. On a network HSM the copies take session-object
// memory, gain little (its calls cost the host little CPU), and do not follow a failover in an HA group:
// the first call after one fails and the HSM logs in again, as after any lost session.
//
// crypto11 offers no C_CopyObject, so the copies are made through a PKCS#11 context of their own on
// the same module. It shares the module's state with crypto11's (PKCS#11's login is the process's, made
// by crypto11's long-term session) and leaves initialising and finalising the module to crypto11: the
// copies are made only where crypto11 has initialised it. Their session, whose end destroys them, is
// closed after crypto11's context, whose Close waits for the calls under way (and finalises the module
// when it is the process's last context, which ends the copies too). moduleMu orders those closes
// with any context's opening, so that a session handle closed after a finalisation cannot be a
// handle the module has meanwhile given to a new context.
type sessionCopies struct {
	p  *pkcs11.Ctx
	se pkcs11.SessionHandle
}

// moduleMu serialises opening a context on the module (crypto11's or the copies') with closing one.
var moduleMu sync.Mutex

// copyLabel is the label of a session copy: random, so that no object made beforehand can carry it,
// and not starting with the configured prefix, so that ListKeys, run in this process, lists the
// token's keys only.
func copyLabel(of []byte) ([]byte, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("session-copy-%s/%s", hex.EncodeToString(b), of)), nil
}

// copyKeys copies the secret keys labelled labels into session objects and returns the copies' labels
// by original label; a key the token would not copy is absent from the map. An error means the copies'
// session could not be opened at all. The caller holds moduleMu.
func copyKeys(cfg Config, labels [][]byte) (*sessionCopies, map[string][]byte, error) {
	p := pkcs11.New(cfg.Module)
	if p == nil {
		return nil, nil, fmt.Errorf("%w: load %s for session copies", ErrUnavailable, cfg.Module)
	}
	c := &sessionCopies{p: p}
	switch err := p.Initialize(); {
	case err == nil:
		// Nobody had initialised the module (crypto11's context is gone): it is not ours to keep.
		_ = p.Finalize()
		p.Destroy()
		return nil, nil, fmt.Errorf("%w: the module is not initialised by crypto11", ErrUnavailable)
	case !isP11(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
		p.Destroy()
		return nil, nil, fmt.Errorf("%w: initialise for session copies: %v", ErrUnavailable, err)
	}
	se, err := c.open(cfg)
	if err != nil {
		p.Destroy()
		return nil, nil, err
	}
	c.se = se
	out := make(map[string][]byte, len(labels))
	for _, l := range labels {
		as, err := copyLabel(l)
		if err != nil {
			c.close()
			return nil, nil, err
		}
		if c.copy(l, as) {
			out[string(l)] = as
		}
	}
	return c, out, nil
}

// findCopy finds the session copy labelled as through crypto11, so that its pool uses it: a session
// object (which only this process can have made) and the only one with that label.
func findCopy(ctx *crypto11.Context, as []byte) (*crypto11.SecretKey, error) {
	attrs := crypto11.NewAttributeSet()
	if err := attrs.Set(crypto11.CkaLabel, as); err != nil {
		return nil, err
	}
	if err := attrs.Set(crypto11.CkaToken, false); err != nil {
		return nil, err
	}
	found, err := ctx.FindKeysWithAttributes(attrs)
	if err != nil {
		return nil, err
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d session objects labelled %s", len(found), as)
	}
	return found[0], nil
}

// open opens a read-only session on the configured token; it is logged in when crypto11's is.
func (c *sessionCopies) open(cfg Config) (pkcs11.SessionHandle, error) {
	slots, err := c.p.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: list slots for session copies: %v", ErrUnavailable, err)
	}
	for _, s := range slots {
		ti, err := c.p.GetTokenInfo(s)
		if err != nil || ti.Label != cfg.TokenLabel {
			continue
		}
		se, err := c.p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			return 0, fmt.Errorf("%w: open session for session copies: %v", ErrUnavailable, err)
		}
		if err := c.p.Login(se, pkcs11.CKU_USER, cfg.Pin); err != nil && !isP11(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
			_ = c.p.CloseSession(se)
			return 0, fmt.Errorf("%w: log in for session copies: %v", ErrUnavailable, err)
		}
		return se, nil
	}
	return 0, fmt.Errorf("%w: token %q not found for session copies", ErrUnavailable, cfg.TokenLabel)
}

// copy makes a session object of the token's secret key labelled of, labelled as. It reports false when
// there is no single such key or the token refuses the copy.
func (c *sessionCopies) copy(of, as []byte) bool {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, of),
	}
	if err := c.p.FindObjectsInit(c.se, tmpl); err != nil {
		return false
	}
	found, _, err := c.p.FindObjects(c.se, 2)
	if ferr := c.p.FindObjectsFinal(c.se); err == nil {
		err = ferr
	}
	if err != nil || len(found) != 1 {
		return false
	}
	_, err = c.p.CopyObject(c.se, found[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, as),
	})
	return err == nil
}

// close destroys the copies (by closing the session that owns them; after crypto11 finalised the module
// they are gone already and the call fails, moduleMu keeping any new context from holding that handle)
// and releases the context without finalising the module, which is crypto11's to finalise. It may be
// called on nil.
func (c *sessionCopies) close() {
	if c == nil {
		return
	}
	_ = c.p.CloseSession(c.se)
	c.p.Destroy()
}

func isP11(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}
