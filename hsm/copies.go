package hsm

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// Session copies (issue 13). SoftHSM2 keeps token objects in files and, before each use of one, opens,
// locks and reads the token's generation file to learn whether another process changed it: a C_SignInit
// on a token key costs about 30 µs of CPU, 40 µs under the AReq load, against 11 µs on a session object
// (measured with SoftHSM2 2.6.1 on this project's machine), and the card number's lookup hash was a fifth
// of the service's CPU in a not-registered AReq. So each secret key a request uses (the lookup and
// verifier keys, the schemes' HMAC and triple-DES keys) is copied once per login into a session object
// with C_CopyObject: the copy keeps the key's attributes (still sensitive and not extractable: PKCS#11
// lets a copy only tighten those), lives in the token's memory for as long as the session that made it,
// and is seen by every session of this process, crypto11's pool included. A token that refuses a copy
// (CKA_COPYABLE false, or no C_CopyObject) leaves that key in use as the token object, as before; a
// network HSM, whose calls cost little CPU here, gains little from the copy and loses nothing.
//
// crypto11 offers no C_CopyObject, so the copies are made through a PKCS#11 context of their own on
// the same module. It shares the module's state with crypto11's (PKCS#11's login is the process's, made
// by crypto11's long-term session) and never initialises or finalises the module. Its session, whose
// end destroys the copies, is closed after crypto11's context, whose Close waits for the calls under
// way (and finalises the module when it is the process's last context, which ends the copies too).
type sessionCopies struct {
	p  *pkcs11.Ctx
	se pkcs11.SessionHandle
}

// copySerial makes each login's copy labels unique in the process (session objects are not seen by
// other processes).
var copySerial atomic.Uint64

// copyLabel is the label of a session copy. It does not start with the configured prefix, so that
// ListKeys, run in this process, lists the token's keys only.
func copyLabel(serial uint64, of []byte) []byte {
	return []byte(fmt.Sprintf("session-copy-%d-%d/%s", os.Getpid(), serial, of))
}

// copyKeys copies the secret keys labelled labels into session objects and returns the copies' labels
// by original label; a key the token would not copy is absent from the map. An error means the copies'
// session could not be opened at all.
func copyKeys(cfg Config, labels [][]byte) (*sessionCopies, map[string][]byte, error) {
	p := pkcs11.New(cfg.Module)
	if p == nil {
		return nil, nil, fmt.Errorf("%w: load %s for session copies", ErrUnavailable, cfg.Module)
	}
	c := &sessionCopies{p: p}
	if err := p.Initialize(); err != nil && !isP11(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		p.Destroy()
		return nil, nil, fmt.Errorf("%w: initialise for session copies: %v", ErrUnavailable, err)
	}
	se, err := c.open(cfg)
	if err != nil {
		p.Destroy()
		return nil, nil, err
	}
	c.se = se
	serial := copySerial.Add(1)
	out := make(map[string][]byte, len(labels))
	for _, l := range labels {
		if cl, ok := c.copy(l, copyLabel(serial, l)); ok {
			out[string(l)] = cl
		}
	}
	return c, out, nil
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
func (c *sessionCopies) copy(of, as []byte) ([]byte, bool) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, of),
	}
	if err := c.p.FindObjectsInit(c.se, tmpl); err != nil {
		return nil, false
	}
	found, _, err := c.p.FindObjects(c.se, 2)
	if ferr := c.p.FindObjectsFinal(c.se); err == nil {
		err = ferr
	}
	if err != nil || len(found) != 1 {
		return nil, false
	}
	_, err = c.p.CopyObject(c.se, found[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, as),
	})
	return as, err == nil
}

// close destroys the copies (by closing the session that owns them; after crypto11 finalised the module
// they are gone already and the call fails harmlessly) and releases the context without finalising the
// module, which is crypto11's to finalise. It may be called on nil.
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
