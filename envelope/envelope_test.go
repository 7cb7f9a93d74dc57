package envelope_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"example.com/acs/envelope"
	"example.com/acs/internal/testenv"
)

func TestRoundTripAndAssociatedData(t *testing.T) {
	ctx := context.Background()
	k, err := envelope.Open(ctx, testenv.DB(t), testenv.HSM(t).KEK(), "pii")
	if err != nil {
		t.Fatal(err)
	}
	ad := envelope.AD{Table: "issuer_cards", Column: "pan_enc", Row: "9b2c"}
	secret := []byte("5555555555554444")
	ct, err := k.Encrypt(ad, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, secret) {
		t.Fatal("ciphertext holds the plaintext")
	}
	pt, err := k.Decrypt(ctx, ad, ct)
	if err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("round trip: %q %v", pt, err)
	}

	for name, other := range map[string]envelope.AD{
		"other row":    {Table: "issuer_cards", Column: "pan_enc", Row: "9b2d"},
		"other column": {Table: "issuer_cards", Column: "holder_enc", Row: "9b2c"},
		"other table":  {Table: "registrations", Column: "pan_enc", Row: "9b2c"},
	} {
		if _, err := k.Decrypt(ctx, other, ct); !errors.Is(err, envelope.ErrDecrypt) {
			t.Errorf("%s: got %v, want ErrDecrypt", name, err)
		}
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 0x80
	if _, err := k.Decrypt(ctx, ad, bad); !errors.Is(err, envelope.ErrDecrypt) {
		t.Errorf("tampered: got %v, want ErrDecrypt", err)
	}
	if _, err := k.Decrypt(ctx, ad, ct[:8]); !errors.Is(err, envelope.ErrDecrypt) {
		t.Errorf("truncated: got %v, want ErrDecrypt", err)
	}

	for name, bad := range map[string]envelope.AD{
		"empty":          {},
		"no row":         {Table: "t", Column: "c"},
		"no table":       {Column: "c", Row: "1"},
		"separator":      {Table: "t|c", Column: "c", Row: "1"},
		"NUL in the row": {Table: "t", Column: "c", Row: "1\x00"},
	} {
		if _, err := k.Encrypt(bad, secret); !errors.Is(err, envelope.ErrNoAssociatedData) {
			t.Errorf("encrypt, %s: got %v, want ErrNoAssociatedData", name, err)
		}
		if _, err := k.Decrypt(ctx, bad, ct); !errors.Is(err, envelope.ErrNoAssociatedData) {
			t.Errorf("decrypt, %s: got %v, want ErrNoAssociatedData", name, err)
		}
	}
}

func TestKeysetIsStoredWrapped(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	h := testenv.HSM(t)
	if _, err := envelope.Open(ctx, pool, h.KEK(), "pii"); err != nil {
		t.Fatal(err)
	}
	var wrapped []byte
	if err := pool.QueryRow(ctx, `SELECT wrapped FROM data_keysets WHERE name = 'pii'`).Scan(&wrapped); err != nil {
		t.Fatal(err)
	}
	if _, err := keyset.NewBinaryReader(bytes.NewReader(wrapped)).Read(); err == nil {
		if _, err := keyset.ReadWithNoSecrets(keyset.NewBinaryReader(bytes.NewReader(wrapped))); err == nil {
			t.Fatal("the stored keyset reads as a clear keyset")
		}
	}
	// Another HSM key (another bank's token, a test token) cannot unwrap it.
	if _, err := envelope.Open(ctx, pool, testenv.HSM(t).KEK(), "pii"); err == nil {
		t.Fatal("keyset unwrapped with a foreign KEK")
	}
}

func TestConcurrentOpenAgreesAndParallelUse(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	kek := testenv.HSM(t).KEK()
	rings := make([]*envelope.Keyring, 16)
	var wg sync.WaitGroup
	errs := make(chan error, 16*2)
	for i := range rings {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k, err := envelope.Open(ctx, pool, kek, "pii")
			rings[i] = k
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	for i := range rings {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				ad := envelope.AD{Table: "t", Column: "c", Row: fmt.Sprint(i, "-", j)}
				ct, err := rings[i].Encrypt(ad, []byte("x"))
				if err != nil {
					errs <- err
					return
				}
				// Any other process's keyring opens it: they all hold the same keyset.
				if _, err := rings[(i+1)%len(rings)].Decrypt(ctx, ad, ct); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM data_keysets`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("keysets stored: %d %v", n, err)
	}
}

func TestRotateAndReencrypt(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	kek := testenv.HSM(t).KEK()
	k, err := envelope.Open(ctx, pool, kek, "pii")
	if err != nil {
		t.Fatal(err)
	}
	// A second process that loaded the keyset before the rotation.
	other, err := envelope.Open(ctx, pool, kek, "pii")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE secrets (id uuid PRIMARY KEY, val bytea NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	col := envelope.Column{Table: "secrets", Column: "val", IDColumn: "id"}
	const rows = 450 // more than two batches
	want := map[string][]byte{}
	for i := 0; i < rows; i++ {
		id := uuid.NewString()
		want[id] = []byte(fmt.Sprintf("secret %d", i))
		ct, err := k.Encrypt(envelope.AD{Table: "secrets", Column: "val", Row: id}, want[id])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO secrets VALUES ($1, $2)`, id, ct); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := k.ReencryptColumn(ctx, col); err != nil || n != 0 {
		t.Fatalf("before rotation re-encrypted %d, %v; want 0", n, err)
	}
	var oldCT []byte
	var oldID string
	if err := pool.QueryRow(ctx, `SELECT id::text, val FROM secrets LIMIT 1`).Scan(&oldID, &oldCT); err != nil {
		t.Fatal(err)
	}

	if _, err := k.Rotate(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !k.Stale(oldCT) {
		t.Fatal("old ciphertext not stale after rotation")
	}
	if _, err := k.Decrypt(ctx, envelope.AD{Table: "secrets", Column: "val", Row: oldID}, oldCT); err != nil {
		t.Fatalf("old ciphertext after rotation: %v", err)
	}
	newCT, err := k.Encrypt(envelope.AD{Table: "t", Column: "c", Row: "1"}, []byte("new"))
	if err != nil || k.Stale(newCT) {
		t.Fatalf("new ciphertext not under the new primary: %v", err)
	}
	if _, err := other.Decrypt(ctx, envelope.AD{Table: "t", Column: "c", Row: "1"}, newCT); err != nil {
		t.Fatalf("a process that loaded the keyset before rotation: %v", err)
	}

	n, err := k.ReencryptColumn(ctx, col)
	if err != nil || n != rows {
		t.Fatalf("re-encrypted %d, %v; want %d", n, err, rows)
	}
	r, err := pool.Query(ctx, `SELECT id::text, val FROM secrets`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := 0
	for r.Next() {
		var id string
		var ct []byte
		if err := r.Scan(&id, &ct); err != nil {
			t.Fatal(err)
		}
		if k.Stale(ct) {
			t.Fatalf("row %s still under the old key", id)
		}
		pt, err := k.Decrypt(ctx, envelope.AD{Table: "secrets", Column: "val", Row: id}, ct)
		if err != nil || !bytes.Equal(pt, want[id]) {
			t.Fatalf("row %s: %q %v", id, pt, err)
		}
		seen++
	}
	if seen != rows {
		t.Fatalf("saw %d rows", seen)
	}
	if n, err := k.ReencryptColumn(ctx, col); err != nil || n != 0 {
		t.Fatalf("second pass re-encrypted %d, %v; want 0", n, err)
	}
	if _, err := k.ReencryptColumn(ctx, envelope.Column{Table: "secrets; DROP TABLE secrets", Column: "val", IDColumn: "id"}); err == nil {
		t.Fatal("identifier with SQL accepted")
	}
}
