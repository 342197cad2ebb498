package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/cli/internal/ggufedit"
	"github.com/pensieve-llm/pensieve/proxy"
)

// startProxyFor runs pensieve-proxy in-process in front of upstreams.
func startProxyFor(t *testing.T, cfg proxy.Config) string {
	t.Helper()
	cfg.HealthCheck.Interval = -1
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func rawPost(t *testing.T, url, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestProxyInFrontOfPensieve puts pensieve-proxy in front of a real
// `pensieve-cli serve` with a fixture model: as an anthropic-kind upstream
// (answers equal the server's), with a second upstream down (every request
// still succeeds), and as an openai-kind upstream through Pensieve's own
// /v1/chat/completions (valid Anthropic JSON and SSE, tools included).
func TestProxyInFrontOfPensieve(t *testing.T) {
	isolateLocal(t)
	// The fixture's 256-position context cannot hold a tool prompt in its
	// byte vocabulary; random weights run at any length, so widen it.
	model := filepath.Join(t.TempDir(), "fx-llama-f32.gguf")
	if err := ggufedit.WidenContext(fixtureModel(t, "fx-llama-f32.gguf"), model, 4096); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--model", model, "--threads", "1", "--slots", "2")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()

	const body = `{"model":"fx-llama-f32","max_tokens":12,"temperature":0,"messages":[{"role":"user","content":"Say hi"}]%s}`
	t.Run("anthropic passthrough with one upstream down", func(t *testing.T) {
		url := startProxyFor(t, proxy.Config{Upstreams: []proxy.Upstream{{Name: "down", URL: deadURL}, {Name: "pensieve", URL: s.url}}})
		for _, stream := range []string{"", `,"stream":true`} {
			// Ask twice directly: the second answer, like every proxied one,
			// reuses the prompt from the prefix cache, so usage agrees too.
			rawPost(t, s.url, strings.Replace(body, "%s", stream, 1))
			wantStatus, wantType, want := rawPost(t, s.url, strings.Replace(body, "%s", stream, 1))
			if stream != "" {
				want = streamSummary(t, want)
			}
			for i := 0; i < 4; i++ {
				status, ctype, got := rawPost(t, url, strings.Replace(body, "%s", stream, 1))
				if status != 200 || wantStatus != 200 || ctype != wantType {
					t.Fatalf("status %d %q (direct %d %q): %s", status, ctype, wantStatus, wantType, got)
				}
				// The server may coalesce text deltas differently from run to
				// run, so streams compare by their event sequence's content.
				if stream != "" {
					got = streamSummary(t, got)
				}
				if diff := cmp.Diff(normalizeIDs(want), normalizeIDs(got)); diff != "" {
					t.Errorf("stream=%q: proxied answer differs (-direct +proxy):\n%s", stream, diff)
				}
			}
		}
	})

	t.Run("openai-kind upstream", func(t *testing.T) {
		url := startProxyFor(t, proxy.Config{Upstreams: []proxy.Upstream{{Name: "pensieve-openai", URL: s.url, Kind: proxy.KindOpenAI}}})
		client := anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey("k"), option.WithMaxRetries(0))
		params := anthropic.MessageNewParams{
			Model:     "fx-llama-f32",
			MaxTokens: 24,
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather in Paris?"))},
			Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
				Name:        "get_weather",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
			}}},
		}
		msg, err := client.Messages.New(context.Background(), params)
		if err != nil {
			t.Fatalf("messages.new through the proxy: %v", err)
		}
		if msg.Role != "assistant" || msg.StopReason == "" || msg.Usage.InputTokens == 0 {
			t.Errorf("message = %+v", msg)
		}
		stream := client.Messages.NewStreaming(context.Background(), params)
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream through the proxy: %v", err)
		}
		if acc.StopReason == "" || acc.Usage.OutputTokens == 0 {
			t.Errorf("streamed message = %+v", acc)
		}
		for _, b := range append(msg.Content, acc.Content...) {
			if b.Type == "tool_use" && (b.Name != "get_weather" || !strings.HasPrefix(b.ID, "toolu_")) {
				t.Errorf("tool_use block %+v", b)
			}
		}
	})

	t.Run("openai-kind upstream forced tool", func(t *testing.T) {
		url := startProxyFor(t, proxy.Config{Upstreams: []proxy.Upstream{{Name: "pensieve-openai", URL: s.url, Kind: proxy.KindOpenAI}}})
		client := anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey("k"), option.WithMaxRetries(0))
		msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
			Model:      "fx-llama-f32",
			MaxTokens:  256,
			Messages:   []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Weather?"))},
			ToolChoice: anthropic.ToolChoiceUnionParam{OfTool: &anthropic.ToolChoiceToolParam{Name: "get_weather"}},
			Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
				Name:        "get_weather",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
			}}},
		})
		if err != nil {
			t.Fatalf("messages.new: %v", err)
		}
		var found bool
		for _, b := range msg.Content {
			if b.Type == "tool_use" && b.Name == "get_weather" && strings.Contains(string(b.Input), `"city"`) {
				found = true
			}
		}
		if !found || msg.StopReason != "tool_use" {
			t.Errorf("forced tool call through the openai translation: %+v", msg)
		}
	})
}

// streamSummary reduces an SSE body to its event names (runs of text
// deltas collapsed into one) and its concatenated text.
func streamSummary(t *testing.T, body string) string {
	t.Helper()
	r := proxy.NewSSEReader(strings.NewReader(body))
	var names []string
	var text strings.Builder
	for r.Next() {
		ev := r.Event()
		var d struct {
			Delta struct {
				Text string `json:"text"`
			} `json:"delta"`
		}
		if ev.Name == "content_block_delta" {
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatalf("bad delta %s: %v", ev.Data, err)
			}
			text.WriteString(d.Delta.Text)
			if len(names) > 0 && names[len(names)-1] == ev.Name {
				continue
			}
		}
		names = append(names, ev.Name)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, ",") + "\n" + text.String()
}

// normalizeIDs blanks the random ids (msg_…, toolu_…) so two answers of
// the same greedy generation compare equal.
func normalizeIDs(s string) string {
	for _, prefix := range []string{`"msg_`, `"toolu_`} {
		for i := strings.Index(s, prefix); i >= 0; {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				break
			}
			s = s[:i+len(prefix)] + "X" + s[i+1+end:]
			next := strings.Index(s[i+len(prefix):], prefix)
			if next < 0 {
				break
			}
			i += len(prefix) + next
		}
	}
	return s
}
