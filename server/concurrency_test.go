package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/server"
)

// holdTokens is the max_tokens that makes gateGenerator hold a generation.
const holdTokens = 7

// gateGenerator answers "ok" at once, except that a request with
// max_tokens holdTokens sends its first token and then waits until the
// gate is opened (or its context ends).
type gateGenerator struct {
	gate chan struct{} // closed by open

	once sync.Once
}

func newGateGenerator() *gateGenerator { return &gateGenerator{gate: make(chan struct{})} }

func (g *gateGenerator) open() { g.once.Do(func() { close(g.gate) }) }

func (g *gateGenerator) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	ch := make(chan core.Event)
	go func() {
		defer close(ch)
		usage := core.Usage{PromptTokens: len(req.Prompt), GeneratedTokens: 1}
		select {
		case ch <- core.Event{Text: "o", Tokens: []core.TokenID{'o'}, Usage: usage}:
		case <-ctx.Done():
			ch <- core.Event{Done: true, Usage: usage, Err: core.E(core.KindCanceled, "gate", ctx.Err())}
			return
		}
		if req.MaxTokens == holdTokens {
			select {
			case <-g.gate:
			case <-ctx.Done():
				ch <- core.Event{Done: true, Usage: usage, Err: core.E(core.KindCanceled, "gate", ctx.Err())}
				return
			}
		}
		usage.GeneratedTokens++
		if ctx.Err() == nil {
			select {
			case ch <- core.Event{Text: "k", Tokens: []core.TokenID{'k'}, Usage: usage}:
			case <-ctx.Done():
			}
		}
		ch <- core.Event{Done: true, StopReason: core.StopEndTurn, Usage: usage}
	}()
	return ch, nil
}

// heldStream is a streaming request whose response has begun.
type heldStream struct {
	res    *http.Response
	cancel context.CancelFunc
}

// hold starts a streaming request that the gate holds and returns once
// its response has begun (the server has taken its concurrency slot).
func (f *fixture) hold(t *testing.T, path, body string, header map[string]string) *heldStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		t.Fatalf("held stream: status %d: %s", res.StatusCode, b)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "event: ") && !strings.HasPrefix(line, "data: ") {
		t.Fatalf("held stream: first line %q, %v", line, err)
	}
	h := &heldStream{res: res, cancel: cancel}
	t.Cleanup(h.close)
	return h
}

// close hangs up (or, after the gate opened, reads the stream to its end).
func (h *heldStream) close() {
	h.cancel()
	h.res.Body.Close()
}

func (h *heldStream) finish(t *testing.T) string {
	t.Helper()
	b, err := io.ReadAll(h.res.Body)
	if err != nil {
		t.Fatalf("reading the held stream: %v", err)
	}
	h.close()
	return string(b)
}

func heldBody() string { return streamBody("m", "hi", holdTokens, "") }

func TestConcurrencyLimitPerKey(t *testing.T) {
	gen := newGateGenerator()
	defer gen.open()
	f := start(t, server.Config{APIKeys: []string{"key-a", "key-b"}, MaxConcurrentPerKey: 2}, []server.Model{testModel("m", gen)})
	a, b := map[string]string{"x-api-key": "key-a"}, map[string]string{"Authorization": "Bearer key-b"}
	quick := func(key map[string]string) (*http.Response, []byte) {
		return f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`, key)
	}

	s1 := f.hold(t, "/v1/messages", heldBody(), a)
	// The OpenAI route shares the count.
	s2 := f.hold(t, "/v1/chat/completions", `{"model":"m","max_tokens":7,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer key-a"})

	for _, path := range []string{"/v1/messages", "/v1/chat/completions"} {
		res, body := f.do(t, http.MethodPost, path, `{"model":"m","max_tokens":4,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, a)
		if path == "/v1/messages" {
			checkError(t, res, body, http.StatusTooManyRequests, "rate_limit_error", "Number of concurrent requests has exceeded your limit (2)")
		} else if res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s over the limit: status %d, want 429: %s", path, res.StatusCode, body)
		}
		if res.Header.Get("retry-after") == "" || res.Header.Get("x-should-retry") != "true" {
			t.Errorf("%s: retry-after %q, x-should-retry %q", path, res.Header.Get("retry-after"), res.Header.Get("x-should-retry"))
		}
	}
	// Counting tokens and listing models are not generations.
	if res, body := f.do(t, http.MethodPost, "/v1/messages/count_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, a); res.StatusCode != 200 {
		t.Errorf("count_tokens while at the limit: %d %s", res.StatusCode, body)
	}
	// A WebSocket request is refused with an error event; the socket stays.
	conn, _, err := websocket.Dial(context.Background(), strings.Replace(f.ts.URL, "http", "ws", 1)+"/v1/messages/ws",
		&websocket.DialOptions{HTTPClient: f.ts.Client(), HTTPHeader: http.Header{"X-Api-Key": {"key-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if steps := wsSteps(t, conn, streamBody("m", "hi", 4, "")); len(steps) != 1 || !strings.Contains(steps[0].Text, `"type":"rate_limit_error"`) {
		t.Errorf("WebSocket request over the limit: %+v, want a rate_limit_error event", steps)
	}
	// Another key has its own slots.
	if res, body := quick(b); res.StatusCode != 200 {
		t.Errorf("another key while key-a is at its limit: %d %s", res.StatusCode, body)
	}
	_, metrics := f.do(t, http.MethodGet, "/metrics", "", a)
	if want := `pensieve_rejected_requests_total{reason="concurrency"} 3`; !strings.Contains(string(metrics), want) {
		t.Errorf("metrics lack %q:\n%s", want, grep(string(metrics), "pensieve_rejected"))
	}

	gen.open()
	if out := s1.finish(t); !strings.Contains(out, "event: message_stop") {
		t.Errorf("held stream did not finish: %s", out)
	}
	if out := s2.finish(t); !strings.Contains(out, "data: [DONE]") {
		t.Errorf("held OpenAI stream did not finish: %s", out)
	}
	for i := range 3 { // slots freed: the next requests, sequential, pass
		if res, body := quick(a); res.StatusCode != 200 {
			t.Errorf("request %d after the streams ended: %d %s", i, res.StatusCode, body)
		}
	}
	// The socket survives its refusal and is served now.
	if steps := wsSteps(t, conn, streamBody("m", "hi", 4, "")); steps[len(steps)-1].Type != "message_stop" {
		t.Errorf("WebSocket request after the streams ended: %+v", steps)
	}
}

// TestConcurrencySlotFreedOnHangUp checks that a client that hangs up
// mid-stream (or mid-way through a non-streaming request) gives its slot
// back.
func TestConcurrencySlotFreedOnHangUp(t *testing.T) {
	gen := newGateGenerator()
	defer gen.open()
	f := start(t, server.Config{APIKeys: []string{"k"}, MaxConcurrentPerKey: 1}, []server.Model{testModel("m", gen)})
	key := map[string]string{"x-api-key": "k"}
	quick := func() int {
		res, _ := f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`, key)
		return res.StatusCode
	}
	for round := range 3 {
		h := f.hold(t, "/v1/messages", heldBody(), key)
		if got := quick(); got != http.StatusTooManyRequests {
			t.Fatalf("round %d: a second request while the stream is held: %d, want 429", round, got)
		}
		h.close() // the client hangs up mid-stream
		waitFor(t, fmt.Sprintf("round %d: the slot is freed after the hang-up", round), func() bool { return quick() == http.StatusOK })
	}
}

// TestConcurrencyLimitPerIP checks the limit on a server without API keys:
// it counts per client address, which headers cannot change.
func TestConcurrencyLimitPerIP(t *testing.T) {
	gen := newGateGenerator()
	defer gen.open()
	f := start(t, server.Config{MaxConcurrentPerKey: 1}, []server.Model{testModel("m", gen)})
	h := f.hold(t, "/v1/messages", heldBody(), nil)
	for _, spoof := range []map[string]string{nil, {"X-Forwarded-For": "203.0.113.9"}, {"X-Real-Ip": "203.0.113.10"}} {
		res, body := f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`, spoof)
		checkError(t, res, body, http.StatusTooManyRequests, "rate_limit_error", "Number of concurrent requests")
	}
	gen.open()
	h.finish(t)
	if res, body := f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`, nil); res.StatusCode != 200 {
		t.Errorf("after the stream ended: %d %s", res.StatusCode, body)
	}
}
