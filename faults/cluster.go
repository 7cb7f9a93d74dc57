package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cluster is what the chaos run does to the processes of `make cluster` (scripts/cluster.sh): it finds
// them by the pid files under run/, kills them, starts them again by their recorded command line (and
// records the new pid, so that the cluster's stop ends them too), and asks haproxy and Patroni what
// they see.
type cluster struct {
	dir     string // .local/cluster
	stats   string // haproxy's status page, CSV export
	patroni []string
	client  *http.Client
}

func newCluster(dir string) *cluster {
	return &cluster{dir: dir, stats: "http://127.0.0.1:8404/;csv",
		patroni: []string{"http://127.0.0.1:8008", "http://127.0.0.1:8009"}, client: &http.Client{Timeout: 2 * time.Second}}
}

func (c *cluster) pid(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "run", name+".pid"))
	if err != nil {
		return 0, fmt.Errorf("%s: not started by make cluster? %w", name, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// kill sends SIGKILL to the process named name (as a power cut or the OOM killer would end it).
func (c *cluster) kill(name string) error {
	pid, err := c.pid(name)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// restart starts name again with its recorded command line, its output appended to its log, in a
// process group of its own (a Ctrl-C of the run is the cluster's stop to handle).
func (c *cluster) restart(name string) error {
	line, err := os.ReadFile(filepath.Join(c.dir, "run", name+".cmd"))
	if err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(c.dir, "logs", name+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("bash", "-c", "exec "+string(line))
	cmd.Dir = filepath.Dir(filepath.Dir(c.dir)) // the project folder: the command lines are relative to it
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return os.WriteFile(filepath.Join(c.dir, "run", name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)
}

// serverStatus is haproxy's view of a server of a backend (UP, DOWN, "UP 1/2", ...).
func (c *cluster) serverStatus(backend, server string) (string, error) {
	resp, err := c.client.Get(c.stats)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("# ")))).ReadAll()
	if err != nil || len(rows) < 2 {
		return "", fmt.Errorf("haproxy's status page: %v", err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "status" {
			col = i
		}
	}
	for _, r := range rows[1:] {
		if len(r) > col && col >= 0 && r[0] == backend && r[1] == server {
			return r[col], nil
		}
	}
	return "", fmt.Errorf("haproxy has no server %s/%s", backend, server)
}

// waitStatus polls haproxy every 100 ms until the server's status starts with want; it returns when
// that was seen.
func (c *cluster) waitStatus(backend, server, want string, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		st, err := c.serverStatus(backend, server)
		if err == nil && strings.HasPrefix(st, want) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("haproxy's %s/%s not %s within %s (%s %v)", backend, server, want, limit, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// member is a PostgreSQL server as Patroni lists it.
type member struct {
	Name  string `json:"name"`
	Role  string `json:"role"`  // leader, sync_standby, replica
	State string `json:"state"` // running, streaming, starting, stopped, ...
	Lag   any    `json:"lag"`
}

// members asks the Patroni REST APIs in turn (one of them may be down) for the cluster's members.
func (c *cluster) members() ([]member, error) {
	var last error
	for _, base := range c.patroni {
		resp, err := c.client.Get(base + "/cluster")
		if err != nil {
			last = err
			continue
		}
		var out struct {
			Members []member `json:"members"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err == nil {
			return out.Members, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no Patroni REST API answered: %w", last)
}

// leader is the member holding the leader lock, and the other one ("" when none is listed: a member
// whose Patroni died drops out once its key expires).
func (c *cluster) leader() (leader, other string, err error) {
	ms, err := c.members()
	if err != nil {
		return "", "", err
	}
	for _, m := range ms {
		if m.Role == "leader" && m.State == "running" {
			leader = m.Name
		} else {
			other = m.Name
		}
	}
	if leader == "" {
		return "", "", fmt.Errorf("no running leader: %+v", ms)
	}
	return leader, other, nil
}

// pair is the leader and its standby; both must be there.
func (c *cluster) pair() (leader, standby string, err error) {
	leader, standby, err = c.leader()
	if err == nil && standby == "" {
		err = fmt.Errorf("%s has no standby", leader)
	}
	return leader, standby, err
}

// waitLeader polls Patroni until a running leader other than old is there.
func (c *cluster) waitLeader(old string, limit time.Duration) (string, time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		if l, _, err := c.leader(); err == nil && l != old {
			return l, time.Now(), nil
		}
		if time.Now().After(deadline) {
			return "", time.Time{}, fmt.Errorf("no new leader within %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStandby polls Patroni until name is a standby that streams from the leader.
func (c *cluster) waitStandby(name string, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		if ms, err := c.members(); err == nil {
			for _, m := range ms {
				if m.Name == name && m.Role != "leader" && (m.State == "streaming" || m.State == "running") {
					return time.Now(), nil
				}
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s not a standby again within %s", name, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// switchover asks Patroni to hand the primary from leader to candidate (a planned failover: Patroni
// stops the primary cleanly, the standby is promoted, the old primary follows it).
func (c *cluster) switchover(ctx context.Context, leader, candidate string) error {
	var last error
	// Patroni 3 names the field "leader"; older ones "master".
	for _, field := range []string{"leader", "master"} {
		body, _ := json.Marshal(map[string]string{field: leader, "candidate": candidate})
		for _, base := range c.patroni {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/switchover", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				last = err
				continue
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("switchover: HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		}
	}
	return last
}

// killServer ends member name as a machine's crash would: its Patroni and its PostgreSQL (the
// postmaster, whose backends then end) with SIGKILL; nothing is shut down cleanly.
func (c *cluster) killServer(name string) error {
	patroni := "patroni" + strings.TrimPrefix(name, "pg")
	root, err := os.ReadFile(filepath.Join(c.dir, "run", "pgroot"))
	if err != nil {
		return err
	}
	pm, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), name, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("%s's postmaster: %w", name, err)
	}
	pmPID, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pm), "\n", 2)[0]))
	if err != nil {
		return fmt.Errorf("%s's postmaster.pid: %w", name, err)
	}
	if err := c.kill(patroni); err != nil {
		return err
	}
	if err := syscall.Kill(pmPID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
