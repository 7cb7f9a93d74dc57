package hsm

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Config says which PKCS#11 module, token and key labels to use.
type Config struct {
	// Module is the path of the PKCS#11 shared library.
	Module string `yaml:"module" validate:"required"`
	// TokenLabel selects the token (slot) by its label.
	TokenLabel string `yaml:"token_label" validate:"required"`
	// Pin is the user PIN; in production it comes from the environment (ACS_HSM_PIN), not a file.
	Pin string `yaml:"pin" env:"ACS_HSM_PIN" validate:"required"`
	// KeyPrefix starts every key label, so one token can hold the keys of several environments.
	KeyPrefix string `yaml:"key_prefix" validate:"required,max=32,excludesall= "`
	// MaxSessions bounds the session pool.
	MaxSessions int `yaml:"max_sessions" validate:"min=2,max=1024"`
	// PoolWaitTimeout bounds how long a call waits for a free session; crypto11 would wait forever.
	PoolWaitTimeout time.Duration `yaml:"pool_wait_timeout" validate:"min=1ms"`
}

// ErrUnavailable wraps every failure of the token itself (removed, logged out, out of sessions).
var ErrUnavailable = errors.New("hsm: unavailable")

// ErrDecrypt is returned when a ciphertext does not open. SoftHSM reports a wrong tag or associated data
// as a general error, so the two cannot be told apart from a token fault; callers treat both as "does not
// authenticate".
var ErrDecrypt = errors.New("hsm: ciphertext does not authenticate")

// ErrMissingKeys means the token lacks a key that `acs hsm init` creates.
var ErrMissingKeys = errors.New("hsm: key missing on token (run `acs hsm init`)")

// keyName names each key by purpose; its label on the token is KeyPrefix + "-" + name.
type keyName string

const (
	keyKEK      keyName = "kek"       // AES-256, wraps Tink keysets
	keyIndex    keyName = "index"     // HMAC-SHA256, lookup hashes (PAN index)
	keyVerifier keyName = "verifier"  // HMAC-SHA256, verifiers of ID codes, answers, PINs
	keySigner   keyName = "signer"    // ECDSA P-256
	keyDSClient keyName = "ds-client" // ECDSA P-256, the ACS's TLS client key towards the Directory Servers
)

// keyPairs are the ECDSA P-256 key pairs `acs hsm init` creates.
var keyPairs = []keyName{keySigner, keyDSClient}

var secretKeys = []struct {
	name   keyName
	cipher *crypto11.SymmetricCipher
}{
	{keyKEK, crypto11.CipherAES},
	// CipherHMACSHA256 is refused by SoftHSM (CKR_MECHANISM_INVALID); a generic secret signs with
	// CKM_SHA256_HMAC on every module we know.
	{keyIndex, crypto11.CipherGeneric},
	{keyVerifier, crypto11.CipherGeneric},
}

func label(prefix string, n keyName) []byte { return []byte(prefix + "-" + string(n)) }

// closeContext closes a context opened for one operation (init, listing keys), its error becoming the
// operation's if it had none.
func closeContext(c *crypto11.Context, err *error) {
	moduleMu.Lock()
	defer moduleMu.Unlock()
	if cerr := c.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("%w: close: %v", ErrUnavailable, cerr)
	}
}

func configure(cfg Config) (*crypto11.Context, error) {
	moduleMu.Lock()
	defer moduleMu.Unlock()
	c, err := crypto11.Configure(&crypto11.Config{
		Path:            cfg.Module,
		TokenLabel:      cfg.TokenLabel,
		Pin:             cfg.Pin,
		MaxSessions:     cfg.MaxSessions,
		PoolWaitTimeout: cfg.PoolWaitTimeout,
		// crypto11 defaults to a 16-byte GCM IV; 12 bytes is the standard size and the one SoftHSM expects.
		GCMIVLength: 12,
	})
	if err != nil {
		// crypto11's message names the module and token, never the PIN.
		return nil, fmt.Errorf("%w: open token %q: %v", ErrUnavailable, cfg.TokenLabel, err)
	}
	return c, nil
}

// Init creates every key the ACS needs that the token does not hold yet, and returns the labels it
// created. Keys are made sensitive and non-extractable. It is the one place keys are created: two
// processes racing to "find or create" could otherwise leave duplicate labels on the token.
func Init(cfg Config, scheme ...SchemeKey) (created []string, err error) {
	c, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	defer closeContext(c, &err)
	for _, k := range secretKeys {
		l := label(cfg.KeyPrefix, k.name)
		found, err := c.FindKey(nil, l)
		if err != nil {
			return created, fmt.Errorf("%w: find %s: %v", ErrUnavailable, l, err)
		}
		if found != nil {
			continue
		}
		if _, err := c.GenerateSecretKeyWithLabel(l, l, 256, k.cipher); err != nil {
			return created, fmt.Errorf("%w: generate %s: %v", ErrUnavailable, l, err)
		}
		created = append(created, string(l))
	}
	for _, n := range keyPairs {
		l := label(cfg.KeyPrefix, n)
		found, err := c.FindKeyPair(nil, l)
		if err != nil {
			return created, fmt.Errorf("%w: find %s: %v", ErrUnavailable, l, err)
		}
		if found != nil {
			continue
		}
		if _, err := c.GenerateECDSAKeyPairWithLabel(l, l, elliptic.P256()); err != nil {
			return created, fmt.Errorf("%w: generate %s: %v", ErrUnavailable, l, err)
		}
		created = append(created, string(l))
	}
	more, err := initScheme(c, cfg.KeyPrefix, scheme)
	return append(created, more...), err
}

// HSM holds an open token and the handles of the ACS keys. It is safe for concurrent use. When the
// token fails (removed and put back, a restarted HSM, sessions gone: CKR_OBJECT_HANDLE_INVALID and
// the like), the failing call returns ErrUnavailable and the HSM logs in again and finds its keys
// again, so the service recovers without a restart (issue 12).
type HSM struct {
	cfg    Config
	scheme []SchemeKey
	copies bool // the secret keys used as session copies (copies.go)
	k      atomic.Pointer[session]

	mu         sync.Mutex // serialises reopening
	lastReopen time.Time
	closed     bool

	closeOnce sync.Once
	closeErr  error
}

// session is one login to the token with the handles of the ACS keys found in it.
type session struct {
	ctx      *crypto11.Context
	kek      cipher.AEAD
	index    *crypto11.SecretKey
	verifier *crypto11.SecretKey
	// indexToken is the lookup key's token object, which Ping uses where index is its session copy.
	indexToken *crypto11.SecretKey
	signer     crypto11.Signer
	dsClient   crypto11.Signer
	scheme     map[string]schemeHandle // the scheme keys Open was given, by name
	// schemeSigners are the RSA scheme keys Open was given, by name.
	schemeSigners map[string]crypto11.Signer
	// copies owns the session copies of the secret keys above (copies.go); nil where none could be made.
	copies  *sessionCopies
	copied  []string // the copies' labels
	copyErr error    // why no copies could be made, if so

	closeOnce sync.Once
	closeErr  error
}

// close closes the session's crypto11 context and then its session copies, once: a second close of a
// crypto11 context would count it out of the module's users twice.
func (h *session) close() error {
	h.closeOnce.Do(func() {
		moduleMu.Lock()
		defer moduleMu.Unlock()
		h.closeErr = guard("close", h.ctx.Close)
		h.copies.close()
	})
	return h.closeErr
}

// Open logs in to the token and finds the ACS keys and the scheme keys named. It fails with
// ErrMissingKeys when `acs hsm init` has not run (or ran with another configuration).
func Open(cfg Config, scheme ...SchemeKey) (*HSM, error) {
	return open(cfg, scheme, true)
}

// open is Open, with the session copies (copies.go) or, for the tests that compare them with the token
// objects, without.
func open(cfg Config, scheme []SchemeKey, copies bool) (*HSM, error) {
	s, err := openSession(cfg, scheme, copies)
	if err != nil {
		return nil, err
	}
	h := &HSM{cfg: cfg, scheme: scheme, copies: copies}
	h.k.Store(s)
	return h, nil
}

func openSession(cfg Config, scheme []SchemeKey, copies bool) (*session, error) {
	c, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	h := &session{ctx: c}
	err = h.load(cfg.KeyPrefix)
	if err == nil {
		err = h.loadScheme(cfg.KeyPrefix, scheme)
	}
	if err == nil && copies {
		err = h.useCopies(cfg)
	}
	if err != nil {
		_ = h.close()
		return nil, err
	}
	return h, nil
}

// useCopies makes session copies of the secret keys that requests use (not the KEK, which unwraps
// keysets at start) and uses each copy the token made instead of its token object.
func (h *session) useCopies(cfg Config) error {
	keys := map[string]func(*crypto11.SecretKey){
		string(label(cfg.KeyPrefix, keyIndex)):    func(k *crypto11.SecretKey) { h.index = k },
		string(label(cfg.KeyPrefix, keyVerifier)): func(k *crypto11.SecretKey) { h.verifier = k },
	}
	for name, sk := range h.scheme {
		keys[string(label(cfg.KeyPrefix, keyName(name)))] = func(k *crypto11.SecretKey) { h.scheme[name] = schemeHandle{k, sk.typ} }
	}
	labels := make([][]byte, 0, len(keys))
	for l := range keys {
		labels = append(labels, []byte(l))
	}
	moduleMu.Lock()
	c, made, err := copyKeys(cfg, labels)
	moduleMu.Unlock()
	if err != nil {
		h.copyErr = err // the token objects serve, as they did before the copies
		return nil
	}
	h.copies = c
	for of, as := range made {
		k, err := findCopy(h.ctx, as)
		if err != nil {
			return fmt.Errorf("%w: find %s: %v", ErrUnavailable, as, err)
		}
		keys[of](k)
		h.copied = append(h.copied, string(as))
	}
	return nil
}

// reopenEvery bounds how often a failing token is logged in to again.
const reopenEvery = time.Second

// failed is called with the session a call failed on: unless another call has reopened meanwhile (or
// did so less than reopenEvery ago), the session is closed and a new one opened. A failure to reopen is
// left for the next failing call.
func (h *HSM) failed(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.k.Load() != s || time.Since(h.lastReopen) < reopenEvery {
		return
	}
	h.lastReopen = time.Now()
	// Closing a context whose sessions are gone may fail or panic in crypto11: either way it is gone.
	_ = s.close()
	ns, err := openSession(h.cfg, h.scheme, h.copies)
	if err != nil {
		return
	}
	h.k.Store(ns)
}

// check passes err on, reopening the session when it is the token's failure.
func (h *HSM) check(s *session, err error) error {
	if errors.Is(err, ErrUnavailable) {
		h.failed(s)
	}
	return err
}

func (h *session) load(prefix string) error {
	find := func(n keyName) (*crypto11.SecretKey, error) {
		k, err := h.ctx.FindKey(nil, label(prefix, n))
		if err != nil {
			return nil, fmt.Errorf("%w: find %s: %v", ErrUnavailable, label(prefix, n), err)
		}
		if k == nil {
			return nil, fmt.Errorf("%w: %s", ErrMissingKeys, label(prefix, n))
		}
		return k, nil
	}
	kek, err := find(keyKEK)
	if err != nil {
		return err
	}
	if h.kek, err = kek.NewGCM(); err != nil {
		return fmt.Errorf("%w: GCM: %v", ErrUnavailable, err)
	}
	if h.index, err = find(keyIndex); err != nil {
		return err
	}
	h.indexToken = h.index
	if h.verifier, err = find(keyVerifier); err != nil {
		return err
	}
	pair := func(n keyName) (crypto11.Signer, error) {
		s, err := h.ctx.FindKeyPair(nil, label(prefix, n))
		if err != nil {
			return nil, fmt.Errorf("%w: find %s: %v", ErrUnavailable, label(prefix, n), err)
		}
		if s == nil {
			return nil, fmt.Errorf("%w: %s", ErrMissingKeys, label(prefix, n))
		}
		if _, ok := s.Public().(*ecdsa.PublicKey); !ok {
			return nil, fmt.Errorf("hsm: %s is not an ECDSA key", label(prefix, n))
		}
		return s, nil
	}
	if h.signer, err = pair(keySigner); err != nil {
		return err
	}
	h.dsClient, err = pair(keyDSClient)
	return err
}

// Close logs out and releases the module. It may be called more than once.
func (h *HSM) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		if err := h.k.Load().close(); err != nil {
			h.closeErr = fmt.Errorf("%w: close: %v", ErrUnavailable, err)
		}
	})
	return h.closeErr
}

// guard runs f and turns a crypto11 panic into an error wrapping ErrUnavailable.
func guard(op string, f func() error) (err error) {
	countCall(op)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrUnavailable, op, r)
		}
	}()
	return f()
}

// KEK returns the key-encryption key as a tink.AEAD: AES-256-GCM computed inside the token, with a
// random 96-bit nonce prepended to each ciphertext. It wraps data keysets, a few hundred times in the
// life of a key, far below the 2^32 random-nonce limit.
func (h *HSM) KEK() tink.AEAD { return kekAEAD{h} }

type kekAEAD struct{ h *HSM }

var _ tink.AEAD = kekAEAD{}

func (k kekAEAD) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	s := k.h.k.Load()
	out, err := k.encrypt(s, plaintext, associatedData)
	return out, k.h.check(s, err)
}

func (k kekAEAD) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	s := k.h.k.Load()
	out, err := k.decrypt(s, ciphertext, associatedData)
	return out, k.h.check(s, err)
}

func (k kekAEAD) encrypt(s *session, plaintext, associatedData []byte) ([]byte, error) {
	if len(associatedData) == 0 {
		return nil, errors.New("hsm: KEK encryption needs associated data")
	}
	nonce := make([]byte, s.kek.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("hsm: nonce: %w", err)
	}
	var out []byte
	err := guard("GCM seal", func() error {
		out = s.kek.Seal(nonce, nonce, plaintext, associatedData)
		return nil
	})
	return out, err
}

func (k kekAEAD) decrypt(s *session, ciphertext, associatedData []byte) ([]byte, error) {
	if len(associatedData) == 0 {
		return nil, errors.New("hsm: KEK decryption needs associated data")
	}
	n := s.kek.NonceSize()
	if len(ciphertext) < n+s.kek.Overhead() {
		return nil, ErrDecrypt
	}
	var out []byte
	err := guard("GCM open", func() error {
		var err error
		out, err = s.kek.Open(nil, ciphertext[:n], ciphertext[n:], associatedData)
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, ErrUnavailable):
		return nil, err
	case strings.HasPrefix(err.Error(), "C_Decrypt:"):
		// Only the decryption step itself can fail for a wrong tag or associated data; a failure before it
		// (no session, key handle gone) is the token's.
		return nil, fmt.Errorf("%w (%v)", ErrDecrypt, err)
	default:
		return nil, fmt.Errorf("%w: GCM open: %v", ErrUnavailable, err)
	}
}

// mac computes HMAC-SHA256 in the token over domain || 0x00 || data. The domain separates uses of one
// key (a PAN index can never equal an ID-code verifier even for equal input).
func mac(key *crypto11.SecretKey, domain string, data []byte) (sum []byte, err error) {
	if domain == "" {
		return nil, errors.New("hsm: keyed hash needs a domain")
	}
	err = guard("HMAC", func() error {
		hm, err := key.NewHMAC(pkcs11.CKM_SHA256_HMAC, 32)
		if err != nil {
			return fmt.Errorf("%w: HMAC init: %v", ErrUnavailable, err)
		}
		// One Write, one C_SignUpdate: each PKCS#11 call is a trip through cgo and the module's session
		// lookup. Sum is always called, even after a failed Write: it is what returns the session to the pool.
		in := make([]byte, 0, len(domain)+1+len(data))
		_, werr := hm.Write(append(append(append(in, domain...), 0), data...))
		sum = hm.Sum(nil)
		if werr != nil {
			return fmt.Errorf("%w: HMAC update: %v", ErrUnavailable, werr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// Index returns the keyed lookup hash of data in a domain (for example "pan"). Equal inputs give equal
// hashes, so a column of them can be searched; without the token they cannot be computed or reversed.
func (h *HSM) Index(domain string, data []byte) ([]byte, error) {
	s := h.k.Load()
	sum, err := mac(s.index, domain, data)
	return sum, h.check(s, err)
}

// Verifier returns the keyed verifier of a secret (ID code, security answer, PIN) in a domain. Only the
// verifier is stored; the secret can then be checked with Verify but never read back.
func (h *HSM) Verifier(domain string, secret []byte) ([]byte, error) {
	s := h.k.Load()
	sum, err := mac(s.verifier, domain, secret)
	return sum, h.check(s, err)
}

// Verify reports whether secret matches a stored verifier, comparing in constant time.
func (h *HSM) Verify(domain string, secret, verifier []byte) (bool, error) {
	got, err := h.Verifier(domain, secret)
	if err != nil {
		return false, err
	}
	return hmac.Equal(got, verifier), nil
}

// SessionCopies is how many of the secret keys requests use are in use as session copies (copies.go):
// the lookup and verifier keys and the schemes' HMAC and triple-DES keys, where the token made them;
// err says why none could be made (the copies' own session could not be opened), if so.
func (h *HSM) SessionCopies() (n int, err error) {
	s := h.k.Load()
	return len(s.copied), s.copyErr
}

// Signer returns the token's ECDSA P-256 key. Signatures are ASN.1 DER, as ecdsa.VerifyASN1 expects.
func (h *HSM) Signer() crypto.Signer {
	return guardedSigner{h, func(s *session) crypto11.Signer { return s.signer }}
}

// DSClientSigner returns the private key of the ACS's TLS client certificate towards the Directory
// Servers (mutual TLS): the key never leaves the token; tls.Certificate takes it as a crypto.Signer.
func (h *HSM) DSClientSigner() crypto.Signer {
	return guardedSigner{h, func(s *session) crypto11.Signer { return s.dsClient }}
}

// guardedSigner signs with the key pick finds in the HSM's current session, so that a signer handed
// out once (a TLS certificate's key) follows a reopened session.
type guardedSigner struct {
	h    *HSM
	pick func(*session) crypto11.Signer
}

func (g guardedSigner) Public() crypto.PublicKey { return g.pick(g.h.k.Load()).Public() }

func (g guardedSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) (sig []byte, err error) {
	s := g.h.k.Load()
	err = guard("sign", func() error {
		var err error
		sig, err = g.pick(s).Sign(r, digest, opts)
		if err != nil {
			return fmt.Errorf("%w: sign: %v", ErrUnavailable, err)
		}
		return nil
	})
	return sig, g.h.check(s, err)
}

// Ping proves the token answers by computing one keyed hash, bounded by ctx. A PKCS#11 call cannot be
// interrupted, so a hung token leaves one goroutine behind until the call returns; the caller is not
// held.
func (h *HSM) Ping(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		// With the token key, not its session copy: what is proved is that the token itself answers
		// (a copy lives on in the token's memory, or in SoftHSM2's, after the token's files are gone).
		s := h.k.Load()
		_, err := mac(s.indexToken, "ping", nil)
		done <- h.check(s, err)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: ping: %v", ErrUnavailable, ctx.Err())
	}
}
