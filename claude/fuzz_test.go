package claude

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
	"github.com/pensieve-llm/pensieve/core"
)

// claudeCodeBody is shaped like a Claude Code 2.1 request: system blocks
// with cache_control, a system-role turn, tools, thinking, tool history.
const claudeCodeBody = `{"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true,
"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Working directory: /repo"}],
"messages":[{"role":"system","content":"<system-reminder>Plan mode is off.</system-reminder>"},
{"role":"user","content":[{"type":"text","text":"<system-reminder>As you answer, use TodoWrite.</system-reminder>"},{"type":"text","text":"Fix the failing test","cache_control":{"type":"ephemeral"}}]},
{"role":"assistant","content":[{"type":"thinking","thinking":"Look at the test first.","signature":"EqQBCkYIBRgCKkB"},{"type":"text","text":"Let me look."},{"type":"tool_use","id":"toolu_01A","name":"Bash","input":{"command":"go test ./...","description":"Run tests"}}]},
{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01A","content":[{"type":"text","text":"--- FAIL: TestX"}],"is_error":true}]}],
"tools":[{"name":"Bash","description":"Executes a bash command","input_schema":{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"number"},"description":{"type":"string"}},"required":["command"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}},
{"name":"TodoWrite","description":"Todo list","input_schema":{"type":"object","properties":{"todos":{"type":"array","items":{"type":"object","properties":{"content":{"type":"string","minLength":1},"status":{"type":"string","enum":["pending","in_progress","completed"]}},"required":["content","status"]}}},"required":["todos"]},"cache_control":{"type":"ephemeral"}}],
"tool_choice":{"type":"auto"},"thinking":{"type":"enabled","budget_tokens":31999},"metadata":{"user_id":"user_abc_account_def_session_1"},
"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]}}`

func fuzzSeeds(f *testing.F) {
	f.Add([]byte(claudeCodeBody), true)
	f.Add([]byte(`{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}`), false)
	f.Add([]byte(`{"model":"m","max_tokens":0,"temperature":0.2,"top_k":3,"stop_sequences":["END"],"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"pre"}]}`), false)
	f.Add([]byte(`{"model":"m","max_tokens":64,"tools":[{"name":"t","input_schema":{"type":"object"}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"}},{"type":"search_result","source":"s","title":"t","content":[{"type":"text","text":"r"}]}]}]}`), true)
	f.Add([]byte(`{"model":"m","max_tokens":8,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}},"messages":[{"role":"user","content":"x"}]}`), false)
	f.Add([]byte(`{"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}`), true)
	f.Add([]byte(`{"model":1}`), false)
	f.Add([]byte(`[]`), true)
}

// FuzzDecodeRequest decodes arbitrary bodies: decoding never panics, every
// rejection is a classified error with a client message, and an accepted
// request re-encodes to JSON that decodes to the same value and prepares
// into a prompt whose length CountTokens reproduces.
func FuzzDecodeRequest(f *testing.F) {
	fuzzSeeds(f)
	p, err := NewProfile(ModelSpec{ID: "fx", Template: testmodel.Hermes{}, Tokenizer: testmodel.ByteTokenizer{}, ContextLength: 1 << 20, MaxOutputTokens: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, strict bool) {
		v := Version20230601
		if strict {
			v = Version20261021
		}
		req, err := DecodeRequest(body, v)
		if err != nil {
			var ae *APIError
			if !errors.Is(err, core.KindInvalid) || !errors.As(err, &ae) {
				t.Fatalf("unclassified rejection: %v", err)
			}
			return
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := DecodeRequest(enc, v)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if diff := cmp.Diff(req, again, cmp.Comparer(jsonEqual)); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		pr, err := p.Prepare(req)
		if err != nil {
			if k := core.KindOf(err); k != core.KindInvalid && k != core.KindContextLength {
				t.Fatalf("Prepare: %v", err)
			}
			return
		}
		if n, err := p.CountTokens(req); err != nil || n != pr.InputTokens() {
			t.Fatalf("CountTokens %d, %v; prompt %d", n, err, pr.InputTokens())
		}
	})
}

// FuzzStreamParse feeds arbitrary model output, cut at arbitrary points,
// through a Stream with tools: the event grammar holds, every tool input
// is a JSON object, and the same output in one piece gives the same
// message.
func FuzzStreamParse(f *testing.F) {
	for _, s := range []string{
		"Hello", "<think>a</think>b", "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n</tool_call>",
		"<tool_call><function=get_weather>\n<parameter=city>\nX\n</parameter>\n</function></tool_call>",
		`{"name": "get_weather", "parameters": {"city": "O`, `[TOOL_CALLS][{"name": "read_file", "arguments": {}}]`,
		`[TOOL_CALLS]get_weather[ARGS]{"city": 1e5}`, "<|python_tag|>{\"name\": \"read_file\", \"parameters\": {\"path\": \"\\u00e9\"}};",
		"text <tool_call>{\"arguments\": {\"path\": [1, {\"x\": null}]}, \"name\": \"read_file\"", "<tool_call>oops</tool_call>",
	} {
		f.Add(s, uint8(3))
	}
	p, err := NewProfile(ModelSpec{ID: "fx", Template: testmodel.Hermes{}, Tokenizer: testmodel.ByteTokenizer{}})
	if err != nil {
		f.Fatal(err)
	}
	req, err := DecodeRequest([]byte(`{"model":"m","max_tokens":100,"thinking":{"type":"adaptive"},"tools":[
		{"name":"read_file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}},
		{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}],
		"messages":[{"role":"user","content":"x"}]}`), Version20230601)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, output string, cut uint8) {
		output = strings.ToValidUTF8(output, "\uFFFD")
		run := func(chunks []string) *Message {
			pr, err := p.Prepare(req)
			if err != nil {
				t.Fatal(err)
			}
			s := pr.NewStream(StreamOptions{MessageID: "msg_f", NewToolID: toolIDs()})
			events := s.Start()
			for _, c := range chunks {
				events = append(events, s.Feed(core.Event{Text: c, Tokens: []core.TokenID{1}})...)
			}
			events = append(events, s.Feed(core.Event{Done: true, StopReason: core.StopEndTurn})...)
			checkGrammar(t, events)
			var acc Accumulator
			for _, e := range events {
				if err := acc.Add(e); err != nil {
					t.Fatal(err)
				}
			}
			m, err := acc.Message()
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range m.Content {
				if tu, ok := b.(ToolUseBlock); ok {
					var obj map[string]any
					if err := json.Unmarshal(tu.Input, &obj); err != nil {
						t.Fatalf("output %q: tool input %s: %v", output, tu.Input, err)
					}
				}
			}
			return m
		}
		whole := run([]string{output})
		var pieces []string
		step := int(cut%7) + 1
		rs := []rune(output)
		for i := 0; i < len(rs); i += step {
			pieces = append(pieces, string(rs[i:min(i+step, len(rs))]))
		}
		split := run(pieces)
		if diff := cmp.Diff(mustJSON(t, whole.Content), mustJSON(t, split.Content)); diff != "" || whole.StopReason != split.StopReason {
			t.Fatalf("output %q: whole vs pieces of %d:\n%s", output, step, diff)
		}
	})
}

// FuzzDecodeStreamEvent decodes arbitrary event data: no panic, and a
// decoded event re-encodes to data that decodes to the same event.
func FuzzDecodeStreamEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"x","input":{}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"c2ln"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":5}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, `{"type":"ping"}`, `{"type":"message_stop"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeStreamEvent(data)
		if err != nil {
			return
		}
		enc, err := MarshalEvent(ev)
		if err != nil {
			t.Fatalf("marshal %#v: %v", ev, err)
		}
		again, err := DecodeStreamEvent(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if diff := cmp.Diff(mustJSON(t, ev), mustJSON(t, again)); diff != "" {
			t.Fatalf("round trip:\n%s", diff)
		}
	})
}

// FuzzDecodeBatchCreate decodes arbitrary batch bodies without panicking.
func FuzzDecodeBatchCreate(f *testing.F) {
	f.Add([]byte(`{"requests":[{"custom_id":"q-1","params":{"model":"m","max_tokens":1,"messages":[]}}]}`))
	f.Add([]byte(`{"requests":[{"custom_id":"a","params":{}},{"custom_id":"a","params":{}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeBatchCreate(body)
		if err != nil {
			if !errors.Is(err, core.KindInvalid) {
				t.Fatalf("unclassified: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range b.Requests {
			if seen[r.CustomID] || !customIDPattern.MatchString(r.CustomID) || !json.Valid(r.Params) {
				t.Fatalf("accepted bad request %+v", r)
			}
			seen[r.CustomID] = true
		}
	})
}
