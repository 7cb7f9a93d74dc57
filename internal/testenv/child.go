package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"example.com/acs/hsm"
)

const childEnv = "ACS_TESTENV_CHILD"

// InChild runs the calling test again in a child process and reports whether the caller is that child.
// The parent returns false after checking that the child passed; the child returns true and runs the
// test body. Tests that must change process-wide state (SOFTHSM2_CONF is read once, when the PKCS#11
// module is first loaded) use it to stay out of the way of the tests running beside them.
func InChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("child process output:\n%s", out)
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	return false
}

// RemovableToken initialises a token of its own in a temporary folder, creates the ACS keys on it, and
// returns its configuration and a function that removes the token's files, as an operator pulling the
// token out would. Call it only in a child process (see InChild), before anything loads the module.
func RemovableToken(t *testing.T) (hsm.Config, func()) {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "removable",
		"--so-pin", "87654321", "--pin", "1234").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v: %s", err, out)
	}
	cfg := hsm.Config{
		Module:          getenv("ACS_TEST_HSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so"),
		TokenLabel:      "removable",
		Pin:             "1234",
		KeyPrefix:       "acs",
		MaxSessions:     4,
		PoolWaitTimeout: time.Second,
	}
	if _, err := hsm.Init(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, func() {
		if err := os.RemoveAll(tokens); err != nil {
			t.Fatal(err)
		}
	}
}
