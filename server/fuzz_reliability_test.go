package server

import (
	"encoding/json"
	"testing"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// FuzzChatRequest feeds arbitrary bodies to the OpenAI-compatible
// endpoint's translation (POST /v1/chat/completions): a body that decodes
// as a chat request either fails as invalid, or becomes a valid Messages
// body whose decoding fails only as invalid and keeps the model and token
// limit. Nothing may panic.
func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","max_tokens":5,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
		`{"model":"m","max_completion_tokens":9,"temperature":1.5,"top_p":0.9,"seed":3,"stop":["x","y"],"messages":[{"role":"developer","content":"d"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`,
		`{"model":"m","tools":[{"type":"function","function":{"name":"get","description":"d","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}}],"tool_choice":"required","parallel_tool_calls":false,"messages":[{"role":"user","content":"q"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"q\":\"x\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"42"}],"tool_choice":{"type":"function","function":{"name":"get"}}}`,
		`{"model":"m","response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"}}},"messages":[{"role":"user","content":"json"}],"stop":"END","n":1}`,
		`{"model":"m","response_format":{"type":"json_object"},"n":2,"messages":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in chatRequest
		if json.Unmarshal(body, &in) != nil {
			return
		}
		anth, _, err := toMessagesBody(&in, 64)
		if err != nil {
			if k := core.KindOf(err); k != core.KindInvalid {
				t.Fatalf("translation failed as %v, want invalid: %v", k, err)
			}
			return
		}
		if !json.Valid(anth) {
			t.Fatalf("translation is not JSON: %q", anth)
		}
		req, err := claude.DecodeRequest(anth, claude.Version20230601)
		if err != nil {
			if k := core.KindOf(err); k != core.KindInvalid {
				t.Fatalf("decoding the translation failed as %v, want invalid: %v\n%s", k, err, anth)
			}
			return
		}
		want := 64
		switch {
		case in.MaxCompletionTokens != nil:
			want = *in.MaxCompletionTokens
		case in.MaxTokens != nil:
			want = *in.MaxTokens
		}
		if req.Model != in.Model || req.MaxTokens != want || req.Stream != in.Stream {
			t.Fatalf("model, max_tokens, stream = %q, %d, %v; want %q, %d, %v", req.Model, req.MaxTokens, req.Stream, in.Model, want, in.Stream)
		}
	})
}
