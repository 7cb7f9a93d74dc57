// Package testenv gives tests the real services they run against: a PostgreSQL database of their own and
// keys of their own on the SoftHSM2 token that `make test` prepares (scripts/devenv.sh). Nothing here is
// mocked; a test that cannot reach the services fails and says how to start them.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"example.com/acs/authval"
	"example.com/acs/hsm"
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var (
	tokenOnce sync.Once
	tokenErr  error
)

// processToken gives this test process a SoftHSM2 token directory of its own, before anything loads the
// module (SoftHSM reads SOFTHSM2_CONF once). Test binaries of several packages run at the same time, and
// SoftHSM's file store does not take concurrent writers to one token well (seen: CKR_GENERAL_ERROR at
// login while another process creates keys).
func processToken() error {
	tokenOnce.Do(func() {
		base := os.Getenv("SOFTHSM2_CONF")
		if base == "" {
			tokenErr = errors.New("SOFTHSM2_CONF is not set: run the tests with `make test`, which prepares SoftHSM2")
			return
		}
		dir := filepath.Join(filepath.Dir(base), "per-process", strconv.Itoa(os.Getpid()))
		tokens := filepath.Join(dir, "tokens")
		if tokenErr = os.MkdirAll(tokens, 0o700); tokenErr != nil {
			return
		}
		conf := filepath.Join(dir, "softhsm2.conf")
		if tokenErr = os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); tokenErr != nil {
			return
		}
		cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "acs-test", "--so-pin", "87654321", "--pin", "1234")
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			tokenErr = fmt.Errorf("softhsm2-util: %v: %s", err, out)
			return
		}
		tokenErr = os.Setenv("SOFTHSM2_CONF", conf)
	})
	return tokenErr
}

// HSMConfig returns a configuration for this process's test token with a key prefix no other test uses.
func HSMConfig(t testing.TB) hsm.Config {
	t.Helper()
	if err := processToken(); err != nil {
		t.Fatal(err)
	}
	return hsm.Config{
		Module:          getenv("ACS_TEST_HSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so"),
		TokenLabel:      "acs-test",
		Pin:             "1234",
		KeyPrefix:       "t" + RandomHex(t, 6),
		MaxSessions:     32,
		PoolWaitTimeout: 5 * time.Second,
	}
}

// HSM creates fresh keys on the test token, the scheme keys of the default authentication-value
// configuration among them, and opens them; the HSM is closed when the test ends.
func HSM(t testing.TB) *hsm.HSM {
	t.Helper()
	cfg := HSMConfig(t)
	scheme := authval.Config{}.HSMKeys()
	if _, err := hsm.Init(cfg, scheme...); err != nil {
		t.Fatalf("hsm init: %v", err)
	}
	h, err := hsm.Open(cfg, scheme...)
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
