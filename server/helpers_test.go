package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
	"github.com/pensieve-llm/pensieve/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The turn separator of lineTemplate: enginetest.ByteTokenizer's
// end-of-generation token, spelled as its special text.
const eot = "</s>"

// newTokenizer is the vocabulary of every test model: bytes plus "</s>".
func newTokenizer() *enginetest.Tokenizer { return enginetest.ByteTokenizer(258) }

// lineTemplate is a test double chat template: "role: content</s>" per
// turn, ending with "assistant: " when a reply is wanted. It leaves tools
// to the caller (claude describes them in the prompt).
type lineTemplate struct{}

func (lineTemplate) Render(req core.ChatRequest) (string, error) {
	var sb strings.Builder
	for _, m := range req.Messages {
		sb.WriteString(m.Role + ": " + m.Content)
		for _, tc := range m.ToolCalls {
			sb.WriteString(" call " + tc.Name + string(tc.Arguments))
		}
		sb.WriteString(eot)
	}
	if req.AddGenerationPrompt {
		sb.WriteString(genPrompt)
	}
	return sb.String(), nil
}

func (lineTemplate) SupportsTools() bool { return false }

const genPrompt = "assistant: "

// scriptGenerator is a test double for the engine when a test needs control
// the real engine does not give (failures, exact delays): it "generates"
// reply one byte-token per event, honouring MaxTokens and cancellation.
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
	for i := 0; i < len(g.reply); i++ {
		if usage.GeneratedTokens == req.MaxTokens {
			send(core.Event{Done: true, StopReason: core.StopMaxTokens, Usage: usage})
			return
		}
		if !sleep(ctx, g.delay) {
			cancel()
			return
		}
		usage.GeneratedTokens++
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
		Generator: gen, Tokenizer: newTokenizer(), Template: lineTemplate{},
		ContextLength: 4096, MaxOutputTokens: 1024,
	}
}

// scripted returns a fake model's Next function that answers reply after
// the last generation prompt, then ends the turn.
func scripted(reply string) func([]core.TokenID) core.TokenID {
	marker := []core.TokenID{}
	for i := 0; i < len(genPrompt); i++ {
		marker = append(marker, core.TokenID(genPrompt[i]))
	}
	return func(seq []core.TokenID) core.TokenID {
		at := -1
		for i := len(seq) - len(marker); i >= 0; i-- {
			if slices.Equal(seq[i:i+len(marker)], marker) {
				at = i + len(marker)
				break
			}
		}
		if n := len(seq) - at; at >= 0 && n < len(reply) {
			return core.TokenID(reply[n])
		}
		return enginetest.EOS
	}
}

// engineModel serves reply through the real engine over a scripted fake
// model; the engine is closed when the test ends (after the server).
func engineModel(t *testing.T, id, reply string, cfg enginetest.ModelConfig, opts ...engine.Option) server.Model {
	t.Helper()
	cfg.Next = scripted(reply)
	tok := newTokenizer()
	eng, err := engine.New(enginetest.NewModel(cfg), tok, append([]engine.Option{engine.WithContext(2048)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Close(ctx); err != nil {
			t.Errorf("engine Close: %v", err)
		}
	})
	return server.Model{ID: id, Generator: eng, Tokenizer: tok, Template: lineTemplate{}, MaxOutputTokens: 512}
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
		option.WithoutEnvironmentDefaults(), option.WithBaseURL(f.ts.URL), option.WithAPIKey("test-key"),
		option.WithMaxRetries(0), option.WithHTTPClient(f.ts.Client()),
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
