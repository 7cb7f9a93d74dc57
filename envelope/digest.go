package envelope

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// A Digester computes keyed digests of data that the ACS recognises again but is not card or
// cardholder secret data: the browser's characteristics and IP address the risk rules learn per card,
// and the verifier of an mTAN (a code of minutes, bound to its transaction; acs.mtanVerifier).
// Its key is a Tink HMAC-SHA256 PRF keyset wrapped by the HSM's key-encryption key, like the data
// keysets, and computed in process.
//
// Why not the HSM's keyed hash, as for the card number (hsm.HSM.Index): every such call is a PKCS#11
// C_SignInit and C_Sign, about a sixth of the service's CPU per call with SoftHSM2 and a network round
// trip with a networked HSM, and a frictionless AReq needed four. Issue 13 keeps the HSM for what must
// be keyed there (the card number's lookup hash, the authentication value).
//
// The keyset is not rotated: digests are compared with digests stored earlier, and a new key would make
// every learned browser unknown. Deleting the keyset (data_keysets row "digest") forgets them all, in
// the safe direction (the next purchase from each browser is challenged).
type Digester struct {
	prf prf.PRF
}

// digestLen is the digest's length: SHA-256's, as the HSM's keyed hash had.
const digestLen = 32

// OpenDigester loads the digest keyset called name, creating it on first use.
func OpenDigester(ctx context.Context, pool *pgxpool.Pool, kek tink.AEAD, name string) (*Digester, error) {
	if err := ensureKeyset(ctx, pool, kek, name, prf.HMACSHA256PRFKeyTemplate()); err != nil {
		return nil, err
	}
	h, err := loadKeyset(ctx, pool, kek, name)
	if err != nil {
		return nil, err
	}
	set, err := prf.NewPRFSet(h)
	if err != nil {
		return nil, fmt.Errorf("envelope: digest keyset %s: %w", name, err)
	}
	p, ok := set.PRFs[set.PrimaryID]
	if !ok {
		return nil, fmt.Errorf("envelope: digest keyset %s has no primary key", name)
	}
	return &Digester{prf: p}, nil
}

// Digest returns the keyed digest of data in a domain (for example "browser"): equal inputs in one
// domain give equal digests; the same input in two domains gives unrelated ones.
func (d *Digester) Digest(domain string, data []byte) ([]byte, error) {
	if domain == "" || strings.ContainsRune(domain, 0) {
		return nil, errors.New("envelope: a digest needs a domain without NUL")
	}
	in := make([]byte, 0, len(domain)+1+len(data))
	in = append(append(append(in, domain...), 0), data...)
	return d.prf.ComputePRF(in, digestLen)
}
