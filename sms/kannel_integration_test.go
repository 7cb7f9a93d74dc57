package sms_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"example.com/acs/internal/testenv"
	"example.com/acs/sms"
)

const (
	bearerbox = "/usr/sbin/bearerbox"
	smsbox    = "/usr/sbin/smsbox"
	fakesmsc  = "/usr/lib/kannel/test/fakesmsc"
)

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// start runs a Kannel process for the test's lifetime.
func start(t *testing.T, out *testenv.Buffer, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("port %d did not open", port)
}

// The Kannel client against a real Kannel on loopback: bearerbox, smsbox, and fakesmsc standing in for
// the operator's SMSC. The message must arrive at the SMSC with number and text intact (UTF-8 → UCS-2).
func TestKannelRealGateway(t *testing.T) {
	for _, bin := range []string{bearerbox, smsbox, fakesmsc} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s missing: install Debian packages kannel and kannel-extras (make test does)", bin)
		}
	}
	p := freePorts(t, 4)
	admin, boxPort, smscPort, sendPort := p[0], p[1], p[2], p[3]
	conf := filepath.Join(t.TempDir(), "kannel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`group = core
admin-port = %d
admin-password = test-admin
smsbox-port = %d
box-allow-ip = 127.0.0.1
log-level = 1

group = smsc
smsc = fake
smsc-id = fake
port = %d
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = %d
log-level = 1

group = sendsms-user
username = acs
password = test-secret
concatenation = true
max-messages = 3
`, admin, boxPort, smscPort, sendPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	var bbOut, sbOut, smscOut testenv.Buffer
	start(t, &bbOut, bearerbox, conf)
	waitPort(t, boxPort)
	start(t, &sbOut, smsbox, conf)
	waitPort(t, smscPort)
	start(t, &smscOut, fakesmsc, "-H", "127.0.0.1", "-r", fmt.Sprint(smscPort), "-i", "3600", "-m", "1", "100 200 text ping")
	waitPort(t, sendPort)

	k := &sms.Kannel{URL: fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/sendsms", sendPort), Username: "acs", Password: "test-secret", From: "Musterbank"}
	text := "mTAN 483920 für 49,90 EUR bei Beispiel-Shop"
	var ref string
	var err error
	// fakesmsc connects to bearerbox a moment after its port opens; until then Kannel queues or refuses.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ref, err = k.Send(context.Background(), "+4915112345678", text); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("send: %v\nbearerbox: %s\nsmsbox: %s", err, bbOut.String(), sbOut.String())
	}
	t.Logf("kannel answered %q", ref)
	if _, err := (&sms.Kannel{URL: k.URL, Username: "acs", Password: "wrong", From: "x"}).Send(context.Background(), "+4915112345678", "x"); err == nil {
		t.Fatal("a wrong password was accepted")
	}

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if got := received(smscOut.String()); got[text] == "004915112345678" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SMSC did not receive the message; it saw: %q", received(smscOut.String()))
		}
	}
}

// received decodes fakesmsc's "Got message N: <from to type data>" lines into text -> receiver.
func received(log string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		_, msg, ok := strings.Cut(sc.Text(), "Got message ")
		if !ok {
			continue
		}
		_, msg, _ = strings.Cut(msg, "<")
		f := strings.SplitN(strings.TrimSuffix(msg, ">"), " ", 4)
		if len(f) != 4 {
			continue
		}
		raw, err := url.QueryUnescape(f[3])
		if err != nil {
			continue
		}
		text := raw
		if f[2] == "ucs-2" && len(raw)%2 == 0 {
			u := make([]uint16, len(raw)/2)
			for i := range u {
				u[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
			}
			text = string(utf16.Decode(u))
		}
		out[text] = f[1]
	}
	return out
}
