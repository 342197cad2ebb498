package claude

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

// body builds a request body from a base and overrides (nil deletes).
func body(t testing.TB, overrides map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"model":      "qwen3-coder-30b",
		"max_tokens": 2048,
		"messages":   []any{map[string]any{"role": "user", "content": "Hello"}},
	}
	for k, v := range overrides {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func msgs(list ...any) []any { return list }

func user(content any) map[string]any { return map[string]any{"role": "user", "content": content} }
func assistant(content any) map[string]any {
	return map[string]any{"role": "assistant", "content": content}
}
func text(s string) map[string]any { return map[string]any{"type": "text", "text": s} }
func toolUse(id, name string) map[string]any {
	return map[string]any{"type": "tool_use", "id": id, "name": name, "input": map[string]any{"path": "go.mod"}}
}
func toolResult(id string) map[string]any {
	return map[string]any{"type": "tool_result", "tool_use_id": id, "content": "module x"}
}

var readTool = map[string]any{"name": "read_file", "description": "Read a file",
	"input_schema": map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string"}}, "required": []any{"path"}}}

func TestDecodeRejects(t *testing.T) {
	cc := map[string]any{"type": "ephemeral"}
	ccText := func(s string) map[string]any { return map[string]any{"type": "text", "text": s, "cache_control": cc} }
	tests := []struct {
		name    string
		item    int // checklist item (§12)
		version Version
		body    []byte
		want    string // exact client message
	}{
		{"invalid json", 7, Version20230601, []byte(`{"model":`), ""},
		{"missing model", 9, Version20230601, body(t, map[string]any{"model": nil}), "model: Field required"},
		{"missing max_tokens", 9, Version20230601, body(t, map[string]any{"max_tokens": nil}), "max_tokens: Field required"},
		{"empty messages", 9, Version20230601, body(t, map[string]any{"messages": []any{}}), "messages: at least one message is required"},
		{"max_tokens wrong type", 13, Version20230601, body(t, map[string]any{"max_tokens": "10"}), "max_tokens: Input should be a valid integer"},
		{"messages wrong type", 13, Version20230601, body(t, map[string]any{"messages": "hi"}), "messages: Input should be a valid list"},
		{"nested wrong type", 13, Version20230601, body(t, map[string]any{"messages": msgs(user([]any{map[string]any{"type": "text", "text": 5}}))}), "messages.0.content.0.text.text: Input should be a valid string"},
		{"stream wrong type", 13, Version20230601, body(t, map[string]any{"stream": "yes"}), "stream: Input should be a valid boolean"},
		{"negative max_tokens", 10, Version20230601, body(t, map[string]any{"max_tokens": -1}), "max_tokens: Input should be greater than or equal to 0"},
		{"empty content mid", 17, Version20230601, body(t, map[string]any{"messages": msgs(user(""), assistant("x"), user("y"))}), "messages.0: all messages must have non-empty content except for the optional final assistant message"},
		{"empty block list", 17, Version20230601, body(t, map[string]any{"messages": msgs(user([]any{}))}), "messages.0: all messages must have non-empty content except for the optional final assistant message"},
		{"tool role", 18, Version20230601, body(t, map[string]any{"messages": msgs(map[string]any{"role": "tool", "content": "x"})}), "messages.0.role: Input should be 'user', 'assistant' or 'system'"},
		{"temperature high", 19, Version20230601, body(t, map[string]any{"temperature": 1.5}), "temperature: Input should be less than or equal to 1"},
		{"temperature low", 19, Version20230601, body(t, map[string]any{"temperature": -0.1}), "temperature: Input should be greater than or equal to 0"},
		{"top_p high", 19, Version20230601, body(t, map[string]any{"top_p": 2}), "top_p: Input should be less than or equal to 1"},
		{"top_k negative", 19, Version20230601, body(t, map[string]any{"top_k": -1}), "top_k: Input should be greater than or equal to 0"},
		{"temperature 2026", 20, Version20261021, body(t, map[string]any{"temperature": 0.5}), "temperature: Extra inputs are not permitted: sampling parameters were removed in API version 2026-10-21"},
		{"top_p 2026", 20, Version20261021, body(t, map[string]any{"top_p": 0.5}), "top_p: Extra inputs are not permitted: sampling parameters were removed in API version 2026-10-21"},
		{"top_k 2026", 20, Version20261021, body(t, map[string]any{"top_k": 5}), "top_k: Extra inputs are not permitted: sampling parameters were removed in API version 2026-10-21"},
		{"document in assistant 2026", 21, Version20261021, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{map[string]any{"type": "document", "source": map[string]any{"type": "text", "media_type": "text/plain", "data": "d"}}}))}), "messages.1.content.0.document: document blocks are not allowed in assistant messages in API version 2026-10-21"},
		{"citations on user text 2026", 0, Version20261021, body(t, map[string]any{"messages": msgs(user([]any{map[string]any{"type": "text", "text": "x", "citations": []any{map[string]any{"type": "char_location"}}}}))}), "messages.0.content.0.text.citations: citations are not allowed on text blocks in user messages in API version 2026-10-21"},
		{"budget too small", 22, Version20230601, body(t, map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 1000}}), "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"budget not below max", 22, Version20230601, body(t, map[string]any{"max_tokens": 2048, "thinking": map[string]any{"type": "enabled", "budget_tokens": 2048}}), "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"},
		{"forced tool with thinking", 23, Version20230601, body(t, map[string]any{"max_tokens": 4096, "tools": []any{readTool}, "tool_choice": map[string]any{"type": "any"}, "thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}}), "Thinking may not be enabled when tool_choice forces tool use."},
		{"named tool with adaptive thinking", 23, Version20230601, body(t, map[string]any{"tools": []any{readTool}, "tool_choice": map[string]any{"type": "tool", "name": "read_file"}, "thinking": map[string]any{"type": "adaptive"}}), "Thinking may not be enabled when tool_choice forces tool use."},
		{"unknown named tool", 24, Version20230601, body(t, map[string]any{"tools": []any{readTool}, "tool_choice": map[string]any{"type": "tool", "name": "write_file"}}), "tool_choice.tool.name: tool 'write_file' was not found in the request's tools"},
		{"forced tool without tools", 24, Version20230601, body(t, map[string]any{"tool_choice": map[string]any{"type": "any"}}), "tool_choice: tool_choice may only be specified while providing tools"},
		{"bad tool name", 25, Version20230601, body(t, map[string]any{"tools": []any{map[string]any{"name": "read file", "input_schema": map[string]any{"type": "object"}}}}), "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"},
		{"long tool name", 25, Version20230601, body(t, map[string]any{"tools": []any{map[string]any{"name": strings.Repeat("a", 65), "input_schema": map[string]any{"type": "object"}}}}), "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"},
		{"duplicate tool", 25, Version20230601, body(t, map[string]any{"tools": []any{readTool, readTool}}), "tools: Tool names must be unique."},
		{"server tool type", 0, Version20230601, body(t, map[string]any{"tools": []any{map[string]any{"type": "web_search_20250305", "name": "web_search"}}}), "tools.0.type: tool type 'web_search_20250305' is not supported by this server; only custom tools are"},
		{"schema not object", 0, Version20230601, body(t, map[string]any{"tools": []any{map[string]any{"name": "x", "input_schema": map[string]any{"type": "string"}}}}), "tools.0.custom.input_schema.type: Input should be 'object'"},
		{"tool_use unanswered", 26, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{toolUse("toolu_1", "read_file")}), user("no result"))}), "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message."},
		{"tool_result unknown", 26, Version20230601, body(t, map[string]any{"messages": msgs(user([]any{toolResult("toolu_9")}))}), "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"tool_use id reused", 26, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{toolUse("toolu_1", "a")}), user([]any{toolResult("toolu_1")}), assistant([]any{toolUse("toolu_1", "a")}), user([]any{toolResult("toolu_1")}))}), "messages.3.content.0.tool_use.id: `tool_use` ids must be unique"},
		{"five breakpoints", 27, Version20230601, body(t, map[string]any{"system": []any{ccText("a"), ccText("b")}, "messages": msgs(user([]any{ccText("c"), ccText("d"), ccText("e")}))}), "A maximum of 4 blocks with cache_control may be provided. Found 5."},
		{"image media type", 28, Version20230601, body(t, map[string]any{"messages": msgs(user([]any{map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/bmp", "data": "AAAA"}}}))}), "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"},
		{"unknown block", 0, Version20230601, body(t, map[string]any{"messages": msgs(user([]any{map[string]any{"type": "video"}}))}), "messages.0.content.0: Input tag 'video' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'search_result', 'tool_result', 'server_tool_use', 'web_search_tool_result', 'web_fetch_tool_result', 'code_execution_tool_result', 'bash_code_execution_tool_result', 'text_editor_code_execution_tool_result', 'tool_search_tool_result', 'container_upload' or 'tool_reference'"},
		{"tool_use in user turn", 0, Version20230601, body(t, map[string]any{"messages": msgs(user([]any{toolUse("toolu_1", "a")}))}), "messages.0.content.0: tool_use blocks are not allowed in user messages"},
		{"tool_use input not object", 0, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{map[string]any{"type": "tool_use", "id": "t", "name": "a", "input": "{}"}}))}), "messages.1.content.0.tool_use.input: Input should be a valid dictionary"},
		{"prefill trailing space", 0, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant("Sure "))}), "messages: final assistant content cannot end with trailing whitespace"},
		{"cache_control on thinking", 0, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{map[string]any{"type": "thinking", "thinking": "t", "signature": "s", "cache_control": cc}, text("a")}), user("y"))}), "messages.1.content.0.thinking.cache_control: cache_control cannot be set on thinking blocks"},
		{"bad ttl", 0, Version20230601, body(t, map[string]any{"cache_control": map[string]any{"type": "ephemeral", "ttl": "2h"}}), "cache_control.ttl: Input should be '5m' or '1h'"},
		{"system block type", 0, Version20230601, body(t, map[string]any{"system": []any{map[string]any{"type": "image"}}}), "system.0: image blocks are not allowed in system content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest(tt.body, tt.version)
			if err == nil {
				t.Fatalf("item %d: accepted, want %q", tt.item, tt.want)
			}
			if !errors.Is(err, core.KindInvalid) {
				t.Errorf("kind = %v, want invalid", core.KindOf(err))
			}
			got := ErrorMessage(err)
			if tt.want == "" {
				if !strings.HasPrefix(got, "request body is not valid JSON") {
					t.Errorf("message = %q", got)
				}
				return
			}
			if got != tt.want {
				t.Errorf("message:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name    string
		item    int
		version Version
		body    []byte
	}{
		{"unknown fields at every level", 13, Version20230601, body(t, map[string]any{"speed": "fast", "context_management": map[string]any{"x": 1},
			"messages": msgs(user([]any{map[string]any{"type": "text", "text": "x", "future": true, "cache_control": map[string]any{"type": "ephemeral", "scope": "global"}}}))})},
		{"consecutive same-role turns", 16, Version20230601, body(t, map[string]any{"messages": msgs(user("a"), user("b"), assistant("c"), assistant("d"), user("e"))})},
		{"system role turn", 18, Version20230601, body(t, map[string]any{"messages": msgs(map[string]any{"role": "system", "content": "be brief"}, user("a"))})},
		{"sampling on 2023", 19, Version20230601, body(t, map[string]any{"temperature": 0, "top_p": 1, "top_k": 0})},
		{"document in assistant 2023", 21, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{map[string]any{"type": "document", "source": map[string]any{"type": "text", "media_type": "text/plain", "data": "d"}}}), user("y"))})},
		{"thinking history", 41, Version20261021, body(t, map[string]any{"messages": msgs(user("x"),
			assistant([]any{map[string]any{"type": "thinking", "thinking": "hmm", "signature": "Zm9yZWlnbg=="}, map[string]any{"type": "redacted_thinking", "data": "opaque"}, text("a")}), user("y"))})},
		{"tool pairing with text after results", 26, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{text("Reading."), toolUse("toolu_1", "read_file"), toolUse("toolu_2", "read_file")}),
			user([]any{toolResult("toolu_2"), toolResult("toolu_1"), text("thanks")}))})},
		{"results split over merged user turns", 26, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{toolUse("toolu_1", "a"), toolUse("toolu_2", "a")}),
			user([]any{toolResult("toolu_1")}), map[string]any{"role": "system", "content": "reminder"}, user([]any{toolResult("toolu_2")}))})},
		{"four breakpoints", 27, Version20230601, body(t, map[string]any{"system": []any{map[string]any{"type": "text", "text": "s", "cache_control": map[string]any{"type": "ephemeral", "ttl": "1h"}}},
			"tools":         []any{map[string]any{"name": "a", "input_schema": map[string]any{"type": "object"}, "cache_control": map[string]any{"type": "ephemeral"}}},
			"cache_control": map[string]any{"type": "ephemeral"}, "messages": msgs(user([]any{map[string]any{"type": "text", "text": "c", "cache_control": map[string]any{"type": "ephemeral"}}}))})},
		{"max_tokens zero", 10, Version20230601, body(t, map[string]any{"max_tokens": 0})},
		{"final assistant empty", 36, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{}))})},
		{"server tool artefacts", 0, Version20230601, body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{map[string]any{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": map[string]any{}},
			map[string]any{"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []any{}}, text("found")}), user("ok"))})},
		{"integral float max_tokens", 0, Version20230601, body(t, map[string]any{"max_tokens": 100.0})},
		{"null optional fields", 0, Version20230601, body(t, map[string]any{"system": nil, "metadata": map[string]any{"user_id": nil}, "stop_sequences": []any{"END"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRequest(tt.body, tt.version); err != nil {
				t.Fatalf("item %d: rejected: %v", tt.item, err)
			}
		})
	}
}

// TestDecodeEquivalentForms checks that the string and block forms of
// content and system decode to the same value (items 14, 15).
func TestDecodeEquivalentForms(t *testing.T) {
	pairs := []struct {
		name string
		a, b []byte
	}{
		{"content", body(t, map[string]any{"messages": msgs(user("Hello"))}), body(t, map[string]any{"messages": msgs(user([]any{text("Hello")}))})},
		{"system", body(t, map[string]any{"system": "Be brief."}), body(t, map[string]any{"system": []any{text("Be brief.")}})},
		{"tool result", body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{toolUse("t1", "a")}), user([]any{toolResult("t1")}))}),
			body(t, map[string]any{"messages": msgs(user("x"), assistant([]any{toolUse("t1", "a")}), user([]any{map[string]any{"type": "tool_result", "tool_use_id": "t1", "content": []any{text("module x")}}}))})},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a, err := DecodeRequest(p.a, Version20230601)
			if err != nil {
				t.Fatal(err)
			}
			b, err := DecodeRequest(p.b, Version20230601)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(a, b); diff != "" {
				t.Errorf("(-string +blocks):\n%s", diff)
			}
		})
	}
}

// TestCountTokensRequest checks that count_tokens needs no max_tokens and
// ignores generation fields (item 56).
func TestCountTokensRequest(t *testing.T) {
	for _, b := range [][]byte{
		body(t, map[string]any{"max_tokens": nil}),
		body(t, map[string]any{"max_tokens": "ignored", "stream": true, "temperature": 7}),
	} {
		req, err := DecodeCountTokensRequest(b, Version20261021)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if req.MaxTokens != 0 || req.Temperature != nil || req.Stream {
			t.Errorf("generation fields kept: %+v", req)
		}
	}
	if _, err := DecodeCountTokensRequest(body(t, map[string]any{"messages": []any{}}), Version20230601); err == nil {
		t.Error("empty messages accepted")
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{"": Version20230601, "2023-06-01": Version20230601, "2026-10-21": Version20261021} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseVersion("2024-01-01"); !errors.Is(err, core.KindInvalid) {
		t.Errorf("unknown version: %v", err)
	}
}

// TestRequestRoundTrip checks that a decoded request encodes to JSON that
// decodes to the same value.
func TestRequestRoundTrip(t *testing.T) {
	b := body(t, map[string]any{
		"system": []any{map[string]any{"type": "text", "text": "sys", "cache_control": map[string]any{"type": "ephemeral", "ttl": "1h"}}},
		"tools":  []any{readTool}, "tool_choice": map[string]any{"type": "auto", "disable_parallel_tool_use": true},
		"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024, "display": "omitted"}, "stop_sequences": []any{"\n\nHuman:"},
		"metadata": map[string]any{"user_id": "u"}, "output_config": map[string]any{"effort": "high"}, "temperature": 0.5,
		"messages": msgs(user([]any{text("a"), map[string]any{"type": "document", "title": "T", "source": map[string]any{"type": "content", "content": "inner"}},
			map[string]any{"type": "search_result", "source": "https://x", "title": "X", "content": []any{text("r")}}}),
			assistant([]any{map[string]any{"type": "thinking", "thinking": "t", "signature": "s"}, toolUse("toolu_1", "read_file")}),
			user([]any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true, "content": []any{text("no")}}}),
			assistant("Done")),
	})
	req, err := DecodeRequest(b, Version20230601)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeRequest(enc, Version20230601)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", enc, err)
	}
	if diff := cmp.Diff(req, again, cmp.Comparer(jsonEqual)); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}
