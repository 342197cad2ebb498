package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// byteTokenizer is a test double: one token per byte, 256 = end of turn.
type byteTokenizer struct{}

const tokEOT core.TokenID = 256

func (byteTokenizer) Encode(dst []core.TokenID, text string, special bool) ([]core.TokenID, error) {
	for i := 0; i < len(text); i++ {
		if special && strings.HasPrefix(text[i:], "<eot>") {
			dst = append(dst, tokEOT)
			i += len("<eot>") - 1
			continue
		}
		dst = append(dst, core.TokenID(text[i]))
	}
	return dst, nil
}

func (byteTokenizer) Decode(dst []byte, id core.TokenID) []byte {
	if id < 0 || id > 255 {
		return dst
	}
	return append(dst, byte(id))
}

func (byteTokenizer) Vocab() core.Vocab {
	return core.Vocab{Size: 257, BOS: core.NoToken, EOS: tokEOT, EOG: []core.TokenID{tokEOT}}
}

// lineTemplate is a test double chat template: "role: content<eot>" per turn.
type lineTemplate struct{}

func (lineTemplate) Render(req core.ChatRequest) (string, error) {
	var sb strings.Builder
	for _, t := range req.Tools {
		sb.WriteString("tool " + t.Name + "<eot>")
	}
	for _, m := range req.Messages {
		sb.WriteString(m.Role + ": " + m.Content)
		for _, tc := range m.ToolCalls {
			sb.WriteString(" call " + tc.Name + string(tc.Arguments))
		}
		sb.WriteString("<eot>")
	}
	if req.AddGenerationPrompt {
		sb.WriteString("assistant: ")
	}
	return sb.String(), nil
}

func (lineTemplate) SupportsTools() bool { return true }

// scriptGenerator is a deterministic test double for the engine: it
// "generates" reply one byte-token per event, honouring MaxTokens, stop
// sequences and cancellation.
type scriptGenerator struct {
	reply string        // what every generation says
	delay time.Duration // before each token
	first time.Duration // extra delay before the first token (queueing, prefill)
	err   error         // returned by Generate when set

	mu       sync.Mutex // guards canceled and calls
	canceled int
	calls    int
}

func (g *scriptGenerator) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	if g.err != nil {
		return nil, g.err
	}
	if req.MaxTokens <= 0 {
		return nil, core.Errorf(core.KindInvalid, "script.Generate", "max_tokens must be positive")
	}
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	ch := make(chan core.Event)
	go g.run(ctx, req, ch)
	return ch, nil
}

func (g *scriptGenerator) run(ctx context.Context, req *core.Request, ch chan<- core.Event) {
	defer close(ch)
	usage := core.Usage{PromptTokens: len(req.Prompt)}
	send := func(ev core.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	cancel := func() {
		g.mu.Lock()
		g.canceled++
		g.mu.Unlock()
		ch <- core.Event{Done: true, Usage: usage, Err: core.E(core.KindCanceled, "script", ctx.Err())}
	}
	if !sleep(ctx, g.first) {
		cancel()
		return
	}
	var text string
	for i := 0; i < len(g.reply); i++ {
		if usage.GeneratedTokens == req.MaxTokens {
			send(core.Event{Done: true, StopReason: core.StopMaxTokens, Usage: usage})
			return
		}
		if !sleep(ctx, g.delay) {
			cancel()
			return
		}
		text += g.reply[i : i+1]
		usage.GeneratedTokens++
		for _, s := range req.Stop {
			if strings.HasSuffix(text, s) {
				send(core.Event{Done: true, StopReason: core.StopSequence, StopSequence: s, Usage: usage})
				return
			}
		}
		if !send(core.Event{Text: g.reply[i : i+1], Tokens: []core.TokenID{core.TokenID(g.reply[i])}, Usage: usage}) {
			cancel()
			return
		}
	}
	send(core.Event{Done: true, StopReason: core.StopEndTurn, Usage: usage})
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (g *scriptGenerator) canceledCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.canceled
}

// testModel returns a served model backed by the doubles.
func testModel(id string, gen core.Generator, aliases ...string) server.Model {
	return server.Model{
		ID: id, DisplayName: strings.ToUpper(id), Aliases: aliases,
		Generator: gen, Tokenizer: byteTokenizer{}, Template: lineTemplate{},
		ContextLength: 4096, MaxOutputTokens: 1024,
	}
}

// fixture is a running server with its HTTP front.
type fixture struct {
	srv *server.Server
	ts  *httptest.Server
}

// start runs a Server over real HTTP; cleanup closes both.
func start(t *testing.T, cfg server.Config, models []server.Model, opts ...server.Option) *fixture {
	t.Helper()
	opts = append([]server.Option{server.WithLogger(zaptest.NewLogger(t))}, opts...)
	s, err := server.New(cfg, models, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &fixture{srv: s, ts: ts}
}

// client returns an SDK client for the fixture without retries, so status
// codes reach the test.
func (f *fixture) client(opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{
		option.WithBaseURL(f.ts.URL), option.WithAPIKey("test-key"), option.WithMaxRetries(0),
	}, opts...)...)
}

// do sends a raw request and returns the response with its body read.
func (f *fixture) do(t *testing.T, method, path, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// envelope is the decoded error body.
type envelope struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// checkError asserts an Anthropic error response of status and type whose
// message starts with prefix, carrying the request id header in the body.
func checkError(t *testing.T, res *http.Response, body []byte, status int, typ, prefix string) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body %q is not an envelope: %v", body, err)
	}
	if env.Type != "error" || env.Error.Type != typ {
		t.Errorf("envelope types = %q/%q, want error/%q", env.Type, env.Error.Type, typ)
	}
	if !strings.HasPrefix(env.Error.Message, prefix) {
		t.Errorf("message = %q, want prefix %q", env.Error.Message, prefix)
	}
	id := res.Header.Get("request-id")
	if !strings.HasPrefix(id, "req_") || env.RequestID != id {
		t.Errorf("request-id header %q, body request_id %q", id, env.RequestID)
	}
}
