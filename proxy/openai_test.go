package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"
)

// fakeOpenAI is a test double of a Chat Completions server: it records the
// last request and answers with a text or a tool call, as JSON or chunks.
type fakeOpenAI struct {
	mu   sync.Mutex
	last oaRequest
	auth string
}

func (f *fakeOpenAI) request() oaRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/models" {
		io.WriteString(w, `{"data":[]}`)
		return
	}
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	var req oaRequest
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &req); err != nil {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"message":%q}}`, err.Error())
		return
	}
	f.mu.Lock()
	f.last, f.auth = req, r.Header.Get("Authorization")
	f.mu.Unlock()
	tool := len(req.Tools) > 0 && req.ToolChoice != nil && req.ToolChoice != "auto"
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		if tool {
			io.WriteString(w, `{"id":"chatcmpl-1","choices":[{"message":{"content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":11,"completion_tokens":6}}`)
			return
		}
		io.WriteString(w, `{"id":"chatcmpl-1","choices":[{"message":{"content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":2}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunks := []string{
		`{"id":"c","choices":[{"delta":{"role":"assistant","content":"Hel"}}]}`,
		`{"id":"c","choices":[{"delta":{"content":"lo there"}}]}`,
	}
	finish := `{"id":"c","choices":[{"delta":{},"finish_reason":"stop"}]}`
	if tool {
		chunks = append(chunks,
			`{"id":"c","choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}`,
			`{"id":"c","choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`,
			`{"id":"c","choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}`)
		finish = `{"id":"c","choices":[{"delta":{},"finish_reason":"tool_calls"}]}`
	}
	chunks = append(chunks, finish, `{"id":"c","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":6}}`)
	for _, c := range chunks {
		fmt.Fprintf(w, "data: %s\n\n", c)
		w.(http.Flusher).Flush()
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

func sdkClient(url string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
}

var weatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Weather for a city"),
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
}}

func TestOpenAIUpstreamText(t *testing.T) {
	up := &fakeOpenAI{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "oa", URL: srv.URL, Kind: KindOpenAI, APIKey: "sk-up", Model: "gpt-local"}}})
	client := sdkClient(url)
	params := anthropic.MessageNewParams{
		Model:     "local",
		MaxTokens: 64,
		System:    []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("Hi")),
			anthropic.NewAssistantMessage(anthropic.NewTextBlock("Hello!")),
			anthropic.NewUserMessage(anthropic.NewTextBlock("Again")),
		},
		StopSequences: []string{"END"},
	}
	msg, err := client.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Hello there" || msg.StopReason != "end_turn" || msg.Usage.InputTokens != 11 || msg.Usage.OutputTokens != 2 {
		t.Errorf("message = %+v", msg)
	}
	got := up.request()
	want := []oaMessage{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello!"}, {Role: "user", Content: "Again"}}
	if diff := cmp.Diff(want, got.Messages); diff != "" {
		t.Errorf("translated messages (-want +got)\n%s", diff)
	}
	if got.Model != "gpt-local" || got.MaxTokens != 64 || !cmp.Equal(got.Stop, []string{"END"}) {
		t.Errorf("translated request = %+v", got)
	}
	if up.auth != "Bearer sk-up" {
		t.Errorf("upstream auth = %q", up.auth)
	}

	stream := client.Messages.NewStreaming(context.Background(), params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].Text != "Hello there" || acc.StopReason != "end_turn" || acc.Usage.OutputTokens != 6 {
		t.Errorf("streamed message = %+v", acc)
	}
}

func TestOpenAIUpstreamTools(t *testing.T) {
	up := &fakeOpenAI{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "oa", URL: srv.URL, Kind: KindOpenAI}}})
	client := sdkClient(url)
	params := anthropic.MessageNewParams{
		Model:      "local",
		MaxTokens:  64,
		Tools:      []anthropic.ToolUnionParam{weatherTool},
		ToolChoice: anthropic.ToolChoiceUnionParam{OfTool: &anthropic.ToolChoiceToolParam{Name: "get_weather"}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris?")),
			anthropic.NewAssistantMessage(anthropic.NewToolUseBlock("toolu_1", map[string]any{"city": "Rome"}, "get_weather")),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_1", "sunny", false), anthropic.NewTextBlock("And Paris?")),
		},
	}
	msg, err := client.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != "tool_use" || len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" || msg.Content[0].Name != "get_weather" ||
		!strings.HasPrefix(msg.Content[0].ID, "toolu_") || string(msg.Content[0].Input) != `{"city":"Paris"}` {
		t.Errorf("message = %+v", msg)
	}
	got := up.request()
	if len(got.Tools) != 1 || got.Tools[0].Function.Name != "get_weather" {
		t.Errorf("tools = %+v", got.Tools)
	}
	if tc, _ := json.Marshal(got.ToolChoice); string(tc) != `{"function":{"name":"get_weather"},"type":"function"}` {
		t.Errorf("tool_choice = %s", tc)
	}
	// History: assistant tool call, then the tool result ahead of the user's text.
	if len(got.Messages) != 4 || got.Messages[1].ToolCalls[0].ID != "toolu_1" || got.Messages[2].Role != "tool" ||
		got.Messages[2].ToolCallID != "toolu_1" || got.Messages[2].Content != "sunny" || got.Messages[3].Content != "And Paris?" {
		t.Errorf("messages = %+v", got.Messages)
	}

	stream := client.Messages.NewStreaming(context.Background(), params)
	var acc anthropic.Message
	var indices []int64
	for stream.Next() {
		ev := stream.Current()
		if ev.Type == "content_block_start" {
			indices = append(indices, ev.Index)
		}
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(indices, []int64{0, 1}) {
		t.Errorf("block indices %v, want [0 1]", indices)
	}
	if acc.StopReason != "tool_use" || len(acc.Content) != 2 || acc.Content[0].Text != "Hello there" ||
		acc.Content[1].Name != "get_weather" || string(acc.Content[1].Input) != `{"city":"Paris"}` {
		t.Errorf("streamed message = %+v", acc)
	}
}

func TestOpenAIUpstreamErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"message":"context too long"}}`)
	}))
	defer srv.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "oa", URL: srv.URL, Kind: KindOpenAI}}})
	resp, body := post(t, url, "", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "invalid_request_error") || !strings.Contains(body, "context too long") {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
	resp, body = post(t, url, "", `{"model":"m","messages":[]}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "max_tokens") {
		t.Errorf("invalid request: %d %s", resp.StatusCode, body)
	}
}

// TestOpenAIStreamInterleavedToolCalls feeds chunks whose two tool calls
// interleave their argument fragments: every delta must go to an open
// block, and each call's input must come out whole.
func TestOpenAIStreamInterleavedToolCalls(t *testing.T) {
	chunks := []string{
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\":"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"g","arguments":"{\"y\":"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]}}]}`,
		`{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}`,
	}
	var body strings.Builder
	for _, c := range chunks {
		body.WriteString("data: " + c + "\n\n")
	}
	body.WriteString("data: [DONE]\n\n")
	rec := httptest.NewRecorder()
	p := &Proxy{}
	p.streamFromOpenAI(rec, strings.NewReader(body.String()), "m")

	r := NewSSEReader(strings.NewReader(rec.Body.String()))
	open := map[int]bool{}
	inputs := map[int]string{}
	for r.Next() {
		var ev struct {
			Index int `json:"index"`
			Delta struct {
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		json.Unmarshal(r.Event().Data, &ev)
		switch r.Event().Name {
		case "content_block_start":
			if len(open) > 0 {
				t.Errorf("block %d opened while %v still open", ev.Index, open)
			}
			open[ev.Index] = true
		case "content_block_delta":
			if !open[ev.Index] {
				t.Errorf("delta for block %d, which is not open", ev.Index)
			}
			inputs[ev.Index] += ev.Delta.PartialJSON
		case "content_block_stop":
			delete(open, ev.Index)
		}
	}
	if diff := cmp.Diff(map[int]string{0: `{"x":1}`, 1: `{"y":2}`}, inputs); diff != "" {
		t.Errorf("tool inputs (-want +got)\n%s", diff)
	}
	if !strings.Contains(rec.Body.String(), `"stop_reason":"tool_use"`) {
		t.Errorf("stop reason is not tool_use:\n%s", rec.Body.String())
	}
}
