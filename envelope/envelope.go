// Package envelope owns the encryption of stored secrets: Tink AEAD keysets that live in PostgreSQL
// wrapped by the HSM's key-encryption key, the associated data that binds every ciphertext to its table,
// column and row, and key rotation with re-encryption of old rows.
//
// Why envelopes: the HSM does a few tens of thousands of operations a second and holds few keys; Tink in
// process does millions. The HSM unwraps a keyset once at start and after each rotation.
package envelope

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"

	"example.com/acs/store"
)

// AD names where a ciphertext is stored. A ciphertext copied to another row or column fails to decrypt.
type AD struct {
	Table, Column, Row string
}

// ErrNoAssociatedData is returned for an AD with an empty or malformed part.
var ErrNoAssociatedData = errors.New("envelope: associated data must name table, column and row")

// ErrDecrypt is returned when a ciphertext does not authenticate: tampered, truncated, or stored under
// other associated data.
var ErrDecrypt = errors.New("envelope: ciphertext does not authenticate")

func (a AD) bytes() ([]byte, error) {
	parts := []string{a.Table, a.Column, a.Row}
	for _, p := range parts {
		// "|" separates the parts; allowing it inside one would let two different ADs encode alike.
		if p == "" || strings.ContainsAny(p, "|\x00") {
			return nil, ErrNoAssociatedData
		}
	}
	return []byte("acs.v1|" + strings.Join(parts, "|")), nil
}

// Keyring is one named Tink AEAD keyset, unwrapped in memory. It is safe for concurrent use.
type Keyring struct {
	pool *pgxpool.Pool
	kek  tink.AEAD
	name string

	mu        sync.RWMutex
	primitive tink.AEAD
	primary   uint32
	keyIDs    map[uint32]bool
}

func wrapAD(name string) []byte { return []byte("data_keysets|wrapped|" + name) }

// Open loads the keyset called name, creating it on first use. Concurrent first opens agree on one
// keyset: the insert that loses the race is discarded and the winner's keyset is read back.
func Open(ctx context.Context, pool *pgxpool.Pool, kek tink.AEAD, name string) (*Keyring, error) {
	k := &Keyring{pool: pool, kek: kek, name: name}
	if err := ensureKeyset(ctx, pool, kek, name, aead.AES256GCMKeyTemplate()); err != nil {
		return nil, err
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// ensureKeyset stores a new keyset of the template under name unless one is stored already.
func ensureKeyset(ctx context.Context, pool *pgxpool.Pool, kek tink.AEAD, name string, tmpl *tinkpb.KeyTemplate) error {
	h, err := keyset.NewHandle(tmpl)
	if err != nil {
		return fmt.Errorf("envelope: new keyset: %w", err)
	}
	wrapped, err := wrapKeyset(kek, name, h)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO data_keysets (name, wrapped, primary_key_id) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, wrapped, int64(h.KeysetInfo().GetPrimaryKeyId())); err != nil {
		return fmt.Errorf("envelope: store keyset %s: %w", name, err)
	}
	return nil
}

// loadKeyset reads and unwraps the keyset called name.
func loadKeyset(ctx context.Context, pool *pgxpool.Pool, kek tink.AEAD, name string) (*keyset.Handle, error) {
	var wrapped []byte
	if err := pool.QueryRow(ctx, `SELECT wrapped FROM data_keysets WHERE name = $1`, name).Scan(&wrapped); err != nil {
		return nil, fmt.Errorf("envelope: load keyset %s: %w", name, err)
	}
	return unwrapKeyset(kek, name, wrapped)
}

func (k *Keyring) wrap(h *keyset.Handle) ([]byte, error) { return wrapKeyset(k.kek, k.name, h) }

func (k *Keyring) unwrap(wrapped []byte) (*keyset.Handle, error) {
	return unwrapKeyset(k.kek, k.name, wrapped)
}

func wrapKeyset(kek tink.AEAD, name string, h *keyset.Handle) ([]byte, error) {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), kek, wrapAD(name)); err != nil {
		return nil, fmt.Errorf("envelope: wrap keyset %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

func unwrapKeyset(kek tink.AEAD, name string, wrapped []byte) (*keyset.Handle, error) {
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), kek, wrapAD(name))
	if err != nil {
		return nil, fmt.Errorf("envelope: unwrap keyset %s: %w", name, err)
	}
	return h, nil
}

// Reload reads the keyset from the database again, picking up a rotation made by another process.
func (k *Keyring) Reload(ctx context.Context) error {
	h, err := loadKeyset(ctx, k.pool, k.kek, k.name)
	if err != nil {
		return err
	}
	p, err := aead.New(h)
	if err != nil {
		return fmt.Errorf("envelope: keyset %s: %w", k.name, err)
	}
	ids := map[uint32]bool{}
	for _, ki := range h.KeysetInfo().GetKeyInfo() {
		ids[ki.GetKeyId()] = true
	}
	k.mu.Lock()
	k.primitive, k.primary, k.keyIDs = p, h.KeysetInfo().GetPrimaryKeyId(), ids
	k.mu.Unlock()
	return nil
}

func (k *Keyring) current() (tink.AEAD, uint32) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primitive, k.primary
}

// Encrypt seals plaintext under the primary key, bound to ad.
func (k *Keyring) Encrypt(ad AD, plaintext []byte) ([]byte, error) {
	adb, err := ad.bytes()
	if err != nil {
		return nil, err
	}
	p, _ := k.current()
	ct, err := p.Encrypt(plaintext, adb)
	if err != nil {
		return nil, fmt.Errorf("envelope: encrypt %s.%s: %w", ad.Table, ad.Column, err)
	}
	return ct, nil
}

// Decrypt opens a ciphertext made by Encrypt with the same ad. When no key of the keyset matches, the
// keyset is read again once: another process may have rotated it since this one loaded it.
func (k *Keyring) Decrypt(ctx context.Context, ad AD, ciphertext []byte) ([]byte, error) {
	adb, err := ad.bytes()
	if err != nil {
		return nil, err
	}
	p, _ := k.current()
	pt, err := p.Decrypt(ciphertext, adb)
	if err == nil {
		return pt, nil
	}
	if id, ok := keyID(ciphertext); ok && !k.hasKey(id) {
		if rerr := k.Reload(ctx); rerr != nil {
			return nil, rerr
		}
		p, _ = k.current()
		if pt, err = p.Decrypt(ciphertext, adb); err == nil {
			return pt, nil
		}
	}
	// Tink's error says only that no key matched; it never carries plaintext.
	return nil, fmt.Errorf("%w (%s.%s)", ErrDecrypt, ad.Table, ad.Column)
}

// keyID reads the key id from a Tink ciphertext's output prefix (version byte 0x01, then 4 bytes).
func keyID(ct []byte) (uint32, bool) {
	if len(ct) < 5 || ct[0] != 0x01 {
		return 0, false
	}
	return binary.BigEndian.Uint32(ct[1:5]), true
}

func (k *Keyring) hasKey(id uint32) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keyIDs[id]
}

// Stale reports whether a ciphertext was made under a key other than the current primary.
func (k *Keyring) Stale(ciphertext []byte) bool {
	id, ok := keyID(ciphertext)
	_, primary := k.current()
	return !ok || id != primary
}

// Rotate adds a new AES-256-GCM key to the keyset and makes it primary. Old keys stay, so old
// ciphertexts still decrypt; ReencryptColumn moves rows to the new key. The row lock serialises
// rotations from several processes.
func (k *Keyring) Rotate(ctx context.Context, now time.Time) (uint32, error) {
	var id uint32
	err := store.WithTx(ctx, k.pool, func(tx pgx.Tx) error {
		var wrapped []byte
		if err := tx.QueryRow(ctx, `SELECT wrapped FROM data_keysets WHERE name = $1 FOR UPDATE`, k.name).Scan(&wrapped); err != nil {
			return fmt.Errorf("envelope: lock keyset %s: %w", k.name, err)
		}
		h, err := k.unwrap(wrapped)
		if err != nil {
			return err
		}
		m := keyset.NewManagerFromHandle(h)
		if id, err = m.Add(aead.AES256GCMKeyTemplate()); err != nil {
			return fmt.Errorf("envelope: add key: %w", err)
		}
		if err := m.SetPrimary(id); err != nil {
			return fmt.Errorf("envelope: set primary: %w", err)
		}
		nh, err := m.Handle()
		if err != nil {
			return fmt.Errorf("envelope: keyset handle: %w", err)
		}
		nw, err := k.wrap(nh)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE data_keysets SET wrapped = $2, primary_key_id = $3, rotated_at = $4 WHERE name = $1`,
			k.name, nw, int64(id), now)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, k.Reload(ctx)
}

// Column names an encrypted column and the key column whose value is the row part of its AD.
type Column struct {
	Table, Column, IDColumn string
}

// ReencryptColumn rewrites every ciphertext of col that is not under the primary key, in batches of one
// transaction each, and returns how many rows it rewrote. Rows are locked while rewritten, so a
// concurrent update is not lost; running it again after an interruption continues where it stopped.
func (k *Keyring) ReencryptColumn(ctx context.Context, col Column) (int, error) {
	for _, ident := range []string{col.Table, col.Column, col.IDColumn} {
		if ident == "" || strings.Trim(ident, "abcdefghijklmnopqrstuvwxyz_0123456789") != "" {
			return 0, fmt.Errorf("envelope: bad identifier %q", ident)
		}
	}
	sel := fmt.Sprintf(`SELECT %[3]s::text, %[2]s FROM %[1]s WHERE %[3]s::text > $1 AND %[2]s IS NOT NULL
		ORDER BY %[3]s::text LIMIT 200 FOR UPDATE`,
		col.Table, col.Column, col.IDColumn)
	upd := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = $2 WHERE %[3]s::text = $1`, col.Table, col.Column, col.IDColumn)
	_, primary := k.current()
	after, total := "", 0
	for {
		n, last, err := k.reencryptBatch(ctx, col, sel, upd, after, primary)
		total += n
		if err != nil || last == "" {
			return total, err
		}
		after = last
	}
}

func (k *Keyring) reencryptBatch(ctx context.Context, col Column, sel, upd, after string, primary uint32) (n int, last string, err error) {
	err = store.WithTx(ctx, k.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sel, after)
		if err != nil {
			return err
		}
		type row struct {
			id string
			ct []byte
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.ct)
		})
		if err != nil {
			return err
		}
		for _, r := range batch {
			last = r.id
			if id, ok := keyID(r.ct); ok && id == primary {
				continue
			}
			ad := AD{col.Table, col.Column, r.id}
			pt, err := k.Decrypt(ctx, ad, r.ct)
			if err != nil {
				return fmt.Errorf("row %s: %w", r.id, err)
			}
			ct, err := k.Encrypt(ad, pt)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, upd, r.id, ct); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("envelope: re-encrypt %s.%s: %w", col.Table, col.Column, err)
	}
	return n, last, nil
}
