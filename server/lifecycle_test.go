package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/pensieve-llm/pensieve/server"
)

// live is a Server on a real listener, run by Serve with its own timeouts.
type live struct {
	srv    *server.Server
	url    string
	client *http.Client
	cancel context.CancelFunc
	served chan error
}

func serveLive(t *testing.T, cfg server.Config, models []server.Model) *live {
	t.Helper()
	s, err := server.New(cfg, models, server.WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &live{srv: s, url: "http://" + ln.Addr().String(), cancel: cancel, served: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{}}}
	go func() { l.served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.served:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
		l.client.CloseIdleConnections()
	})
	return l
}

func (l *live) post(t *testing.T, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, l.url+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return l.client.Do(req)
}

// TestTimeoutsDoNotCutLongGenerations runs generations four times longer
// than the read and write timeouts: streamed and not, both complete.
func TestTimeoutsDoNotCutLongGenerations(t *testing.T) {
	gen := &scriptGenerator{reply: strings.Repeat("a", 20), delay: 30 * time.Millisecond}
	l := serveLive(t, server.Config{ReadTimeout: 150 * time.Millisecond, WriteTimeout: 150 * time.Millisecond,
		PingInterval: time.Hour}, []server.Model{testModel("m", gen)})
	res, err := l.post(t, streamBody("m", "hi", 64, ""))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("stream cut: %v", err)
	}
	events, err := parseSSE(body)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := checkStream(events); err != nil || sum.Text != gen.reply {
		t.Fatalf("stream %+v, %v", sum, err)
	}
	res, err = l.post(t, `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.Contains(string(body), gen.reply) {
		t.Fatalf("non-streaming: %d %s %v", res.StatusCode, body, err)
	}
}

// TestShutdownLetsStreamsFinish shuts down while a stream runs: the
// stream still ends with message_stop and Shutdown returns nil.
func TestShutdownLetsStreamsFinish(t *testing.T) {
	gen := &scriptGenerator{reply: strings.Repeat("b", 30), delay: 20 * time.Millisecond}
	l := serveLive(t, server.Config{}, []server.Model{testModel("m", gen)})
	res, err := l.post(t, streamBody("m", "hi", 64, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "event: message_start\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- l.srv.Shutdown(ctx)
	}()
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("stream cut by shutdown: %v", err)
	}
	if !strings.HasSuffix(string(rest), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Errorf("stream did not end with message_stop:\n%s", rest)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-l.served; err != nil {
		t.Errorf("Serve = %v", err)
	}
	l.served <- nil // for the cleanup
	if _, err := l.client.Get(l.url + "/health"); err == nil {
		t.Error("the server still accepts connections after Shutdown")
	}
}

// TestShutdownDeadlineCancelsGenerations: when the deadline passes, the
// remaining streams are cut, their generations canceled, and Shutdown
// reports the deadline.
func TestShutdownDeadlineCancelsGenerations(t *testing.T) {
	gen := &scriptGenerator{reply: strings.Repeat("c", 1000), delay: 10 * time.Millisecond}
	l := serveLive(t, server.Config{}, []server.Model{testModel("m", gen)})
	res, err := l.post(t, streamBody("m", "hi", 1000, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := l.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
	if gen.canceledCount() != 1 {
		t.Errorf("generations canceled = %d, want 1", gen.canceledCount())
	}
}
