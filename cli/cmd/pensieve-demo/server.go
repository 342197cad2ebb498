package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"
)

// server is a running `pensieve-cli serve` child process.
type server struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer // the child's stdout and stderr

	exited  chan struct{} // closed when the process has exited
	waitErr error         // the result of Wait; read after exited is closed
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child's
// stdout and stderr copiers.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startServer starts `cli serve args… --addr <free port>` and waits until
// it answers GET /ready. On failure the child is stopped and its log is in
// the error.
func startServer(ctx context.Context, cli string, args []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, fmt.Errorf("finding a free port: %w", err)
	}
	s := &server{url: "http://" + addr, logs: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(cli, append(append([]string{"serve"}, args...), "--addr", addr)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s serve: %w", cli, err)
	}
	go func() { // owned by s: ends when the child exits, which stop ensures
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.stop(5 * time.Second)
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.logs.String())
	}
	return s, nil
}

// waitReady polls GET /ready until it answers 200.
func (s *server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/ready", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("pensieve-cli serve exited before it was ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the server: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// stop sends SIGINT and waits up to timeout for the process to exit, then
// kills it. It reports an error unless the server exited with status 0.
func (s *server) stop(timeout time.Duration) error {
	select {
	case <-s.exited:
		return fmt.Errorf("pensieve-cli serve had already exited: %v", s.waitErr)
	default:
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		s.cmd.Process.Kill()
	}
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("pensieve-cli serve did not stop within %v of SIGINT; killed", timeout)
	}
	var exit *exec.ExitError
	if errors.As(s.waitErr, &exit) {
		return fmt.Errorf("pensieve-cli serve exited with %v after SIGINT\nserver log:\n%s", exit, s.logs.String())
	}
	return s.waitErr
}
