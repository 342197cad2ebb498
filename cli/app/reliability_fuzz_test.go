package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/cli/internal/soak"
	"github.com/pensieve-llm/pensieve/config"
	"github.com/pensieve-llm/pensieve/model/synth"
)

// relFuzzRoutes are the endpoints FuzzServeHTTP posts to.
var relFuzzRoutes = []string{"/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"}

// relErrorTypes maps the statuses a request may get to their error types
// (spec §7.2).
var relErrorTypes = map[int]string{400: "invalid_request_error", 404: "not_found_error", 413: "request_too_large", 529: "overloaded_error"}

// FuzzServeHTTP posts arbitrary bodies to the serve stack — the same
// composition as `pensieve-cli serve` (startStack), over a synthesized tiny
// llama with its real Jinja template, tokenizer and engine — over real
// HTTP. Whatever the body, the answer is a valid message, stream or token
// count, or the error envelope of a client error; never a 5xx, never an
// api_error event.
func FuzzServeHTTP(f *testing.F) {
	path := filepath.Join(f.TempDir(), "fz.gguf")
	if err := synth.Write(context.Background(), path, synth.Options{Arch: "llama", Preset: "tiny", Type: "q8_0", Seed: 1}); err != nil {
		f.Fatal(err)
	}
	cfg := config.Default()
	cfg.Device, cfg.Engine.Threads, cfg.Engine.Slots = "cpu", 1, 2
	cfg.Models = []config.Model{{ID: "fz", Path: path}}
	st, err := startStack(context.Background(), cfg, zap.NewNop())
	if err != nil {
		f.Fatal(err)
	}
	ts := httptest.NewServer(st.srv.Handler())
	f.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.srv.Shutdown(ctx); err != nil {
			f.Error(err)
		}
		st.close(time.Second, zap.NewNop())
	})
	seeds := []struct {
		route uint8
		body  string
	}{
		{0, `{"model":"fz","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"fz","max_tokens":4,"stream":true,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":"b"}]}`},
		{0, `{"model":"fz","max_tokens":6,"stream":true,"tools":[{"name":"get","description":"d","input_schema":{"type":"object","properties":{"q":{"type":"string","enum":["x","y"]}},"required":["q"]}}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"q"}]}`},
		{0, `{"model":"claude-sonnet-4-5","max_tokens":3,"stop_sequences":["a","\u00e9"],"temperature":0.2,"top_k":3,"metadata":{"user_id":"u"},"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r"}]}]}],"tools":[{"name":"get","input_schema":{"type":"object"}}]}`},
		{4, `{"model":"fz","max_tokens":2,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}},"messages":[{"role":"user","content":"json"}]}`},
		{1, `{"model":"fz","system":"s","messages":[{"role":"user","content":"count me"}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}`},
		{2, `{"model":"fz","max_tokens":3,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}`},
		{2, `{"model":"fz","max_tokens":3,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required","messages":[{"role":"user","content":"x"}]}`},
		{0, `{"model":"fz","max_tokens":0,"messages":[{"role":"user","content":"warm"}]}`},
	}
	for _, s := range seeds {
		f.Add(s.route, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := relFuzzRoutes[int(route&3)%len(relFuzzRoutes)]
		req, err := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if route&4 != 0 {
			req.Header.Set("anthropic-version", "2026-10-21")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		resp, err := ts.Client().Do(req.WithContext(ctx))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			typ, ok := relErrorTypes[resp.StatusCode]
			if !ok {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("POST %s %q: status %d: %s", path, body, resp.StatusCode, b)
			}
			if err := soak.CheckErrorResponse(resp, soak.ErrorCase{Name: path, Status: resp.StatusCode, Type: typ}); err != nil {
				t.Fatalf("POST %s %q: %v", path, body, err)
			}
			return
		}
		if err := relCheckOK(path, resp); err != nil {
			t.Fatalf("POST %s %q: %v", path, body, err)
		}
	})
}

// relCheckOK checks a 200 answer of route.
func relCheckOK(route string, resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case route == "/v1/messages" && mt == "text/event-stream":
		_, err := soak.CheckStream(resp.Body)
		var se *soak.StreamError
		if errors.As(err, &se) && se.Type == "overloaded_error" {
			return nil // a full queue may end a stream; not a bug
		}
		return err
	case route == "/v1/chat/completions" && mt == "text/event-stream":
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
			return errors.New("OpenAI stream does not end with data: [DONE]")
		}
		return nil
	case mt != "application/json":
		return errors.New("200 with content type " + mt)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch route {
	case "/v1/messages":
		_, err = soak.CheckMessage(b)
		return err
	case "/v1/messages/count_tokens":
		var c struct {
			InputTokens *int `json:"input_tokens"`
		}
		if json.Unmarshal(b, &c) != nil || c.InputTokens == nil || *c.InputTokens <= 0 {
			return errors.New("count_tokens answered " + string(b))
		}
		return nil
	}
	var cc struct {
		Object  string            `json:"object"`
		Choices []json.RawMessage `json:"choices"`
	}
	if json.Unmarshal(b, &cc) != nil || cc.Object != "chat.completion" || len(cc.Choices) != 1 {
		return errors.New("chat completion answered " + string(b))
	}
	return nil
}
