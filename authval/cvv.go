package authval

import "errors"

// blockCipher encrypts one 8-byte block with a triple-DES key that stays in the HSM (hsm.SchemeBlock),
// or, in the vector tests, with Go's own DES.
type blockCipher func(key string, in [8]byte) ([8]byte, error)

// cvv computes the three digits of the card-verification-value algorithm (Visa's CVV, which the CAVV
// and Mastercard's SPA1 AAV reuse) over digits, a string of at most 32 decimal digits (for the CAVV:
// the PAN's 16 digits, the 4 digits of the unpredictable number and the 3-digit "service code"), with
// the key pair A, B:
//
//  1. digits, padded right with zeros to 32, are two 64-bit blocks B1, B2 (one digit per nibble);
//  2. R = DES-E(A, B1); R = DES-E(A, R xor B2); R = DES-D(B, R); R = DES-E(A, R);
//  3. the result's 16 nibbles are read left to right keeping the decimal ones, then again keeping the
//     others minus 10; the first three digits are the value.
//
// The last three DES steps are one triple-DES encryption with the key A|B|A, so the pair is held as
// two triple-DES keys, keyA = A|A|A (triple DES is then DES with A) and keyABA = A|B|A: two token calls
// per value instead of four. This is the published algorithm; the vector tests check it against the
// published examples.
func cvv(do blockCipher, keyA, keyABA, digits string) (string, error) {
	if len(digits) > 32 {
		return "", errors.New("authval: CVV input longer than 32 digits")
	}
	var nib [32]byte
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", errors.New("authval: CVV input must be decimal digits")
		}
		nib[i] = digits[i] - '0'
	}
	var b1, b2 [8]byte
	for i := range 8 {
		b1[i] = nib[2*i]<<4 | nib[2*i+1]
		b2[i] = nib[16+2*i]<<4 | nib[16+2*i+1]
	}
	r, err := do(keyA, b1)
	if err != nil {
		return "", err
	}
	for i := range r {
		r[i] ^= b2[i]
	}
	if r, err = do(keyABA, r); err != nil {
		return "", err
	}
	out := make([]byte, 0, 16)
	for _, pass := range []bool{true, false} {
		for _, b := range r {
			for _, n := range []byte{b >> 4, b & 0x0f} {
				if (n < 10) == pass {
					out = append(out, '0'+n%10)
				}
			}
		}
	}
	return string(out[:3]), nil
}
