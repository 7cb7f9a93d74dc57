package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// service is `acs serve` running as a child process: the fault runs watch its process id (a restart
// would hide a crash) and its exit code.
type service struct {
	cmd     *exec.Cmd
	base    string
	done    chan struct{} // closed when the process has exited
	exitErr error
	exited  time.Time
}

// startService starts `acs -config cfgPath serve`, its output appended to logPath (the service logs no
// card number, code or key; the file stays under .local/faults for reading after a failed run).
func startService(acsBin, cfgPath, logPath, base string) (*service, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(acsBin, "-config", cfgPath, "serve")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Should the harness die, the service goes too (faults/run.sh also stops it by the pid file).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	s := &service{cmd: cmd, base: base, done: make(chan struct{})}
	go func() {
		s.exitErr = cmd.Wait()
		s.exited = time.Now()
		_ = logf.Close()
		close(s.done)
	}()
	return s, nil
}

func (s *service) pid() int { return s.cmd.Process.Pid }

// running reports whether the process has not exited.
func (s *service) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// exitCode is the process's exit code once it has exited (-1 for a signal).
func (s *service) exitCode() int { return s.cmd.ProcessState.ExitCode() }

// ready asks /readyz once, bounded by timeout.
func ready(client *http.Client, base string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitReady polls /readyz until it answers 200, the process exits, or timeout passes; it returns how
// long that took.
func (s *service) waitReady(client *http.Client, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for deadline := start.Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if !s.running() {
			return time.Since(start), fmt.Errorf("acs serve exited (%v) before it was ready", s.exitErr)
		}
		if code, err := ready(client, s.base, time.Second); err == nil && code == http.StatusOK {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("acs serve was not ready within %s", timeout)
		}
	}
}

// stop sends SIGTERM and waits up to timeout for the exit; after that the process is killed.
func (s *service) stop(timeout time.Duration) error {
	if !s.running() {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("acs serve did not stop after SIGTERM: killed")
	}
}
