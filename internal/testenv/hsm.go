// Package testenv gives tests the real services they run against: a PostgreSQL database of their own and
// keys of their own on the SoftHSM2 token that `make test` prepares (scripts/devenv.sh). Nothing here is
// mocked; a test that cannot reach the services fails and says how to start them.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"example.com/acs/hsm"
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// HSMConfig returns a configuration for the test token with a key prefix no other test uses.
func HSMConfig(t testing.TB) hsm.Config {
	t.Helper()
	if os.Getenv("SOFTHSM2_CONF") == "" {
		t.Fatal("SOFTHSM2_CONF is not set: run the tests with `make test`, which prepares a SoftHSM2 token")
	}
	return hsm.Config{
		Module:          getenv("ACS_TEST_HSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so"),
		TokenLabel:      getenv("ACS_TEST_HSM_TOKEN", "acs-test"),
		Pin:             getenv("ACS_TEST_HSM_PIN", "1234"),
		KeyPrefix:       "t" + RandomHex(t, 6),
		MaxSessions:     32,
		PoolWaitTimeout: 5 * time.Second,
	}
}

// HSM creates fresh keys on the test token and opens them; the HSM is closed when the test ends.
func HSM(t testing.TB) *hsm.HSM {
	t.Helper()
	cfg := HSMConfig(t)
	if _, err := hsm.Init(cfg); err != nil {
		t.Fatalf("hsm init: %v", err)
	}
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatalf("hsm open: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// RandomHex returns n random bytes in hex, for names that must not collide between tests.
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
