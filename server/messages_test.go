package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
	"github.com/pensieve-llm/pensieve/server"
)

const reply = "Hello from Pensieve, a local model."

// greedy makes SDK requests deterministic: the 2023-06-01 API still has
// temperature, and 0 is greedy decoding.
var greedy = []option.RequestOption{
	option.WithHeader("anthropic-version", "2023-06-01"), option.WithJSONSet("temperature", 0),
}

func userParams(model, text string, maxTokens int64) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model: model, MaxTokens: maxTokens,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
	}
}

func textOf(m *anthropic.Message) string {
	var sb strings.Builder
	for _, b := range m.Content {
		if b.Type == "text" {
			sb.WriteString(b.Text)
		}
	}
	return sb.String()
}

func TestMessagesStreamedEqualsNonStreamed(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{engineModel(t, "m", reply, enginetest.ModelConfig{})})
	c := f.client()
	ctx := context.Background()
	params := userParams("m", "Say hello.", 256)

	var res *http.Response
	msg, err := c.Messages.New(ctx, params, append(greedy, option.WithResponseInto(&res))...)
	if err != nil {
		t.Fatal(err)
	}
	if got := textOf(msg); got != reply {
		t.Errorf("text = %q, want %q", got, reply)
	}
	if !strings.HasPrefix(msg.ID, "msg_") || msg.Role != "assistant" || msg.StopReason != "end_turn" || msg.Model != "m" {
		t.Errorf("message = %+v", msg)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(res.Header.Get("request-id"), "req_") {
		t.Errorf("request-id = %q", res.Header.Get("request-id"))
	}
	if msg.Usage.OutputTokens < int64(len(reply)) {
		t.Errorf("output_tokens = %d, want ≥ %d", msg.Usage.OutputTokens, len(reply))
	}

	count, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
		Model: "m", Messages: params.Messages,
	})
	if err != nil {
		t.Fatal(err)
	}
	u := msg.Usage
	if got := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens; got != count.InputTokens || got == 0 {
		t.Errorf("usage prompt tokens %d, count_tokens %d", got, count.InputTokens)
	}

	stream := c.Messages.NewStreaming(ctx, params, greedy...)
	defer stream.Close()
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := textOf(&acc); got != reply {
		t.Errorf("streamed text = %q, want %q", got, reply)
	}
	if acc.StopReason != msg.StopReason || acc.Usage.OutputTokens != msg.Usage.OutputTokens {
		t.Errorf("streamed stop %q/%d, non-streamed %q/%d", acc.StopReason, acc.Usage.OutputTokens, msg.StopReason, msg.Usage.OutputTokens)
	}
}

// streamBody is a raw streaming request at temperature 0.
func streamBody(model, text string, maxTokens int, extra string) string {
	return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"stream":true,"temperature":0,"messages":[{"role":"user","content":%q}]%s}`,
		model, maxTokens, text, extra)
}

func TestStreamGrammar(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{engineModel(t, "m", reply, enginetest.ModelConfig{})})
	for _, path := range []string{"/v1/messages", "/v1/messages?beta=true"} {
		t.Run(path, func(t *testing.T) {
			res, body := f.do(t, http.MethodPost, path, streamBody("m", "hi", 256, ""), map[string]string{
				"anthropic-beta": "prompt-caching-2024-07-31,unknown-beta", "X-Claude-Code-Session-Id": "s1",
			})
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
				t.Fatalf("status %d, Content-Type %q: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			if !strings.HasPrefix(res.Header.Get("request-id"), "req_") || res.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("headers = %v", res.Header)
			}
			events, err := parseSSE(body)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := checkStream(events)
			if err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			if sum.Text != reply || sum.StopReason != "end_turn" || sum.StopSequence != nil || sum.InputTokens == 0 {
				t.Errorf("summary = %+v", sum)
			}
		})
	}
}

func TestMessagesErrors(t *testing.T) {
	small := testModel("small", &scriptGenerator{reply: "x"})
	small.ContextLength, small.MaxOutputTokens = 64, 32
	f := start(t, server.Config{BodyLimit: 4096}, []server.Model{
		engineModel(t, "m", reply, enginetest.ModelConfig{}), small,
		testModel("busy", &scriptGenerator{err: core.Errorf(core.KindOverloaded, "engine.Generate", "queue full")}),
	})
	msg := func(model string, maxTokens int, extra string) string {
		return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"messages":[{"role":"user","content":"hi"}]%s}`, model, maxTokens, extra)
	}
	tests := []struct {
		name, path, body string
		header           map[string]string
		status           int
		typ, prefix      string
	}{
		{"invalid JSON", "/v1/messages", `{"model":`, nil, 400, "invalid_request_error", ""},
		{"missing model", "/v1/messages", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "model"},
		{"missing max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "max_tokens: Field required"},
		{"empty messages", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[]}`, nil, 400, "invalid_request_error", "messages"},
		{"wrong type", "/v1/messages", `{"model":"m","max_tokens":"five","messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "max_tokens"},
		{"unknown model", "/v1/messages", msg("llama-9", 5, ""), nil, 404, "not_found_error", "model: llama-9"},
		{"unknown model, stream", "/v1/messages", msg("llama-9", 5, `,"stream":true`), nil, 404, "not_found_error", "model: llama-9"},
		{"max_tokens over cap", "/v1/messages", msg("small", 100, ""), nil, 400, "invalid_request_error", "max_tokens: 100 > 32"},
		{"prompt too long", "/v1/messages", fmt.Sprintf(`{"model":"small","max_tokens":5,"messages":[{"role":"user","content":%q}]}`, strings.Repeat("long ", 40)),
			nil, 400, "invalid_request_error", "prompt is too long: "},
		{"temperature under 2026-10-21", "/v1/messages", msg("m", 5, `,"temperature":0.5`), map[string]string{"anthropic-version": "2026-10-21"},
			400, "invalid_request_error", "temperature"},
		{"temperature out of range", "/v1/messages", msg("m", 5, `,"temperature":1.5`), nil, 400, "invalid_request_error", "temperature"},
		{"body over limit", "/v1/messages", msg("m", 5, `,"metadata":{"user_id":"`+strings.Repeat("x", 5000)+`"}`), nil, 413, "request_too_large", "Request exceeds"},
		{"count_tokens over limit", "/v1/messages/count_tokens", msg("m", 5, `,"metadata":{"user_id":"`+strings.Repeat("x", 5000)+`"}`), nil, 413, "request_too_large", ""},
		{"overloaded", "/v1/messages", msg("busy", 5, ""), nil, 529, "overloaded_error", ""},
		{"overloaded, stream", "/v1/messages", msg("busy", 5, `,"stream":true`), nil, 529, "overloaded_error", ""},
		{"count_tokens unknown model", "/v1/messages/count_tokens", `{"model":"zz","messages":[{"role":"user","content":"hi"}]}`, nil, 404, "not_found_error", "model: zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(t, http.MethodPost, tt.path, tt.body, tt.header)
			checkError(t, res, body, tt.status, tt.typ, tt.prefix)
			if tt.status == 529 && res.Header.Get("retry-after") == "" {
				t.Error("529 without retry-after")
			}
		})
	}
	t.Run("sdk sees typed errors", func(t *testing.T) {
		c := f.client()
		_, err := c.Messages.New(context.Background(), userParams("llama-9", "hi", 5))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMessagesLimitsAndStops(t *testing.T) {
	const text = "Hello, world. Bye."
	f := start(t, server.Config{}, []server.Model{engineModel(t, "m", text, enginetest.ModelConfig{})})
	c := f.client()
	ctx := context.Background()
	t.Run("max_tokens 0", func(t *testing.T) {
		_, body := f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, nil)
		var m struct {
			Content    []json.RawMessage `json:"content"`
			StopReason string            `json:"stop_reason"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.Content == nil || len(m.Content) != 0 || m.StopReason != "max_tokens" {
			t.Errorf("body = %s", body)
		}
	})
	t.Run("max_tokens reached", func(t *testing.T) {
		msg, err := c.Messages.New(ctx, userParams("m", "hi", 5), greedy...)
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "max_tokens" || msg.Usage.OutputTokens > 5 || textOf(msg) != text[:5] {
			t.Errorf("stop %q, output_tokens %d, text %q", msg.StopReason, msg.Usage.OutputTokens, textOf(msg))
		}
	})
	t.Run("stop sequence", func(t *testing.T) {
		p := userParams("m", "hi", 100)
		p.StopSequences = []string{"world"}
		msg, err := c.Messages.New(ctx, p, greedy...)
		if err != nil {
			t.Fatal(err)
		}
		if textOf(msg) != "Hello, " || msg.StopReason != "stop_sequence" || msg.StopSequence != "world" {
			t.Errorf("text %q, stop %q %q", textOf(msg), msg.StopReason, msg.StopSequence)
		}
		_, body := f.do(t, http.MethodPost, "/v1/messages", streamBody("m", "hi", 100, `,"stop_sequences":["world"]`), nil)
		events, err := parseSSE(body)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := checkStream(events)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Text != "Hello, " || sum.StopReason != "stop_sequence" || sum.StopSequence == nil || *sum.StopSequence != "world" {
			t.Errorf("stream summary = %+v", sum)
		}
	})
}

func TestToolUse(t *testing.T) {
	const call = `<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>`
	f := start(t, server.Config{}, []server.Model{engineModel(t, "m", call, enginetest.ModelConfig{})})
	p := userParams("m", "Weather in Paris?", 200)
	p.Tools = []anthropic.ToolUnionParam{anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"},
	}, "get_weather")}
	c := f.client()
	msg, err := c.Messages.New(context.Background(), p, greedy...)
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != "tool_use" {
		t.Fatalf("stop_reason = %q, content %+v", msg.StopReason, msg.Content)
	}
	var uses []anthropic.ToolUseBlock
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			uses = append(uses, b.AsToolUse())
		}
	}
	if len(uses) != 1 || uses[0].Name != "get_weather" || !strings.HasPrefix(uses[0].ID, "toolu_") {
		t.Fatalf("tool uses = %+v", uses)
	}
	var in map[string]any
	if err := json.Unmarshal(uses[0].Input, &in); err != nil || in["city"] != "Paris" {
		t.Errorf("input = %s", uses[0].Input)
	}

	tools := `,"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	_, body := f.do(t, http.MethodPost, "/v1/messages", streamBody("m", "Weather in Paris?", 200, tools), nil)
	events, err := parseSSE(body)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := checkStream(events)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.ToolInputs) != 1 || sum.StopReason != "tool_use" {
		t.Fatalf("stream summary = %+v", sum)
	}
	var streamed map[string]any
	if err := json.Unmarshal(sum.ToolInputs[0], &streamed); err != nil {
		t.Fatalf("partial_json concatenation %q: %v", sum.ToolInputs[0], err)
	}
	if diff := cmp.Diff(in, streamed); diff != "" {
		t.Errorf("streamed input (-non-streamed +streamed):\n%s", diff)
	}
}

func TestPingsWhileWaiting(t *testing.T) {
	gen := &scriptGenerator{reply: "ok", first: 300 * time.Millisecond}
	f := start(t, server.Config{PingInterval: 40 * time.Millisecond}, []server.Model{testModel("m", gen)})
	_, body := f.do(t, http.MethodPost, "/v1/messages", streamBody("m", "hi", 16, ""), nil)
	events, err := parseSSE(body)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := checkStream(events)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Pings < 2 || sum.Text != "ok" {
		t.Errorf("pings %d, text %q", sum.Pings, sum.Text)
	}
	if events[0].Name != "message_start" || events[1].Name != "ping" {
		t.Errorf("message_start must come before the wait: %s, %s", events[0].Name, events[1].Name)
	}
}

// failingGenerator streams some text, then fails.
type failingGenerator struct{ err error }

func (g failingGenerator) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	ch := make(chan core.Event, 3)
	ch <- core.Event{Text: "par", Tokens: []core.TokenID{'p', 'a', 'r'}}
	ch <- core.Event{Done: true, Err: g.err, Usage: core.Usage{PromptTokens: len(req.Prompt), GeneratedTokens: 3}}
	close(ch)
	return ch, nil
}

func TestErrorAfterStreamStarted(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{
		testModel("m", failingGenerator{err: core.Errorf(core.KindInternal, "engine.step", "forward pass failed")}),
		testModel("o", failingGenerator{err: core.Errorf(core.KindOverloaded, "engine.step", "evicted")}),
	})
	for _, tt := range []struct{ model, typ string }{{"m", "api_error"}, {"o", "overloaded_error"}} {
		t.Run(tt.model, func(t *testing.T) {
			res, body := f.do(t, http.MethodPost, "/v1/messages", streamBody(tt.model, "hi", 16, ""), nil)
			if res.StatusCode != 200 {
				t.Fatalf("status = %d", res.StatusCode)
			}
			events, err := parseSSE(body)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := checkStream(events)
			if err != nil {
				t.Fatal(err)
			}
			if sum.ErrorType != tt.typ {
				t.Errorf("error type = %q, want %q\n%s", sum.ErrorType, tt.typ, body)
			}
			var env envelope
			if err := json.Unmarshal(events[len(events)-1].Data, &env); err != nil || env.RequestID != res.Header.Get("request-id") {
				t.Errorf("error event %s, request-id %s", events[len(events)-1].Data, res.Header.Get("request-id"))
			}
		})
	}
	t.Run("sdk", func(t *testing.T) {
		c := f.client()
		stream := c.Messages.NewStreaming(context.Background(), userParams("m", "hi", 16))
		defer stream.Close()
		for stream.Next() {
		}
		var apiErr *anthropic.Error
		if err := stream.Err(); !errors.As(err, &apiErr) {
			t.Errorf("stream error = %v, want an API error", err)
		}
	})
	t.Run("non-streaming", func(t *testing.T) {
		res, body := f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil)
		checkError(t, res, body, 500, "api_error", "Internal server error")
		if res.Header.Get("x-should-retry") != "false" {
			t.Error("500 without x-should-retry: false")
		}
	})
}

// panicGenerator panics inside the handler's goroutine.
type panicGenerator struct{}

func (panicGenerator) Generate(context.Context, *core.Request) (<-chan core.Event, error) {
	panic("boom")
}

func TestPanicBecomes500(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{testModel("m", panicGenerator{})})
	res, body := f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil)
	checkError(t, res, body, 500, "api_error", "Internal server error")
	if res, _ := f.do(t, http.MethodGet, "/health", "", nil); res.StatusCode != 200 {
		t.Error("server unhealthy after a panic")
	}
}

func TestClientDisconnectCancelsGeneration(t *testing.T) {
	gen := &scriptGenerator{reply: strings.Repeat("x", 500), delay: 10 * time.Millisecond}
	f := start(t, server.Config{}, []server.Model{testModel("m", gen)})
	ctx, cancel := context.WithCancel(context.Background())
	c := f.client()
	stream := c.Messages.NewStreaming(ctx, userParams("m", "hi", 500))
	for i := 0; i < 5 && stream.Next(); i++ {
	}
	cancel()
	stream.Close()
	deadline := time.Now().Add(5 * time.Second)
	for gen.canceledCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the generation was not canceled after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEngineSlotFreedOnDisconnect(t *testing.T) {
	m := engineModel(t, "m", strings.Repeat("y", 400), enginetest.ModelConfig{PerPass: 5 * time.Millisecond})
	f := start(t, server.Config{}, []server.Model{m})
	ctx, cancel := context.WithCancel(context.Background())
	c := f.client()
	stream := c.Messages.NewStreaming(ctx, userParams("m", "hi", 400), greedy...)
	for i := 0; i < 5 && stream.Next(); i++ {
	}
	cancel()
	stream.Close()
	_, body := f.do(t, http.MethodGet, "/metrics", "", nil)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(string(body), `pensieve_active_sequences{model="m"} 0`) {
		if time.Now().After(deadline) {
			t.Fatalf("slot still held:\n%s", grep(string(body), "pensieve_active"))
		}
		time.Sleep(10 * time.Millisecond)
		_, body = f.do(t, http.MethodGet, "/metrics", "", nil)
	}
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestEightParallelRequests(t *testing.T) {
	m := engineModel(t, "m", reply, enginetest.ModelConfig{PerPass: time.Millisecond})
	f := start(t, server.Config{}, []server.Model{m})
	c := f.client()
	var wg sync.WaitGroup
	texts := make([]string, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() {
			p := userParams("m", fmt.Sprintf("request %d", i), 128)
			if i%2 == 0 {
				msg, err := c.Messages.New(context.Background(), p, greedy...)
				if err == nil {
					texts[i] = textOf(msg)
				}
				errs[i] = err
				return
			}
			stream := c.Messages.NewStreaming(context.Background(), p, greedy...)
			defer stream.Close()
			var acc anthropic.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					errs[i] = err
				}
			}
			if err := stream.Err(); err != nil {
				errs[i] = err
			}
			texts[i] = textOf(&acc)
		})
	}
	wg.Wait()
	for i := range 8 {
		if errs[i] != nil || texts[i] != reply {
			t.Errorf("request %d: %q, %v", i, texts[i], errs[i])
		}
	}
	_, body := f.do(t, http.MethodGet, "/metrics", "", nil)
	for _, want := range []string{
		`pensieve_generations_total{model="m",reason="end_turn"} 8`,
		`pensieve_time_to_first_token_seconds_count{model="m"} 8`,
		`pensieve_queue_depth{model="m"} 0`,
		`pensieve_kv_slots{model="m"} 4`,
		`pensieve_prefix_cache_hit_tokens_total{model="m"} `,
		`pensieve_http_requests_total{route="/v1/messages",method="POST",status="200"} 8`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
