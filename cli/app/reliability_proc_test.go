package app

// Helpers of the reliability tests: they build the real pensieve-cli
// binary, run `serve` as a child process and talk to it over HTTP.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// relBuild builds pensieve-cli (without the race detector, as shipped) into
// t.TempDir and returns its path. It skips when no go command is found.
func relBuild(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		root := os.Getenv("GOROOT")
		if root == "" {
			t.Skip("no go command on PATH (nor GOROOT) to build pensieve-cli with")
		}
		goCmd = filepath.Join(root, "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "pensieve-cli")
	cmd := exec.Command(goCmd, "build", "-o", bin, "./cmd/pensieve-cli")
	cmd.Dir = ".." // the cli module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built pensieve-cli in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// relEnv is the child's environment: the test's, minus every PENSIEVE_*
// setting (the fixtures location excepted) and with a fresh HOME, so no
// user configuration leaks in.
func relEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PENSIEVE_") && k != "PENSIEVE_FIXTURES" || k == "HOME" || k == "XDG_CONFIG_HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "HOME="+t.TempDir()), extra...)
}

// relBuffer collects a child's output; safe for concurrent use.
type relBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *relBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *relBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// relProc is a running `pensieve-cli serve`.
type relProc struct {
	cmd  *exec.Cmd
	url  string     // http://host:port, from the "listening" log line
	out  *relBuffer // stdout and stderr
	done chan struct{}
	err  error // cmd.Wait's result, set before done closes
}

// relStartProc starts bin with args and env (see relEnv) without waiting
// for it to listen. The process is killed at cleanup if still running.
func relStartProc(t *testing.T, bin string, env []string, args ...string) *relProc {
	t.Helper()
	p := &relProc{out: &relBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(args, " "), relTail(p.out.String(), 60))
		}
	})
	return p
}

// relServe starts `bin serve --addr 127.0.0.1:0 --log-format json args…`
// and waits until it reports its address and /ready answers 200.
func relServe(t *testing.T, bin string, env []string, args ...string) *relProc {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	p := relStartProc(t, bin, env, args...)
	deadline := time.Now().Add(30 * time.Second)
	for p.url == "" {
		select {
		case <-p.done:
			t.Fatalf("serve exited early (%v)", p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not log its address within 30 s")
		}
		for _, l := range relLogLines(p.out.String()) {
			if u, _ := l["url"].(string); l["msg"] == "listening" && strings.HasPrefix(u, "http://") {
				p.url = u
			}
		}
	}
	for {
		resp, err := http.Get(p.url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve at %s not ready within 30 s (%v)", p.url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig to the process.
func (p *relProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to d for the process to exit and returns its exit code, or
// -1 with ok false when it is still running.
func (p *relProc) wait(d time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
	case <-time.After(d):
		return -1, false
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, true
	case errors.As(p.err, &ee):
		if ws, isWS := ee.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ee.ExitCode(), true
	}
	return -1, true
}

// relLogLines parses the JSON log lines of out, skipping anything else.
func relLogLines(out string) []map[string]any {
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			lines = append(lines, m)
		}
	}
	return lines
}

// relTail returns the last n lines of s.
func relTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
