package claude

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
	"github.com/pensieve-llm/pensieve/core"
)

// recorder is a ChatTemplate that remembers the last request it rendered.
type recorder struct {
	core.ChatTemplate
	mu   sync.Mutex
	last core.ChatRequest
}

func (r *recorder) Render(req core.ChatRequest) (string, error) {
	r.mu.Lock()
	r.last = req
	r.mu.Unlock()
	return r.ChatTemplate.Render(req)
}

func profile(t testing.TB, tmpl core.ChatTemplate, opts ...func(*ModelSpec)) *Profile {
	t.Helper()
	spec := ModelSpec{ID: "fx-llama", Template: tmpl, Tokenizer: testmodel.ByteTokenizer{}, ContextLength: 16384, MaxOutputTokens: 8192}
	for _, o := range opts {
		o(&spec)
	}
	p, err := NewProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decoded(t testing.TB, overrides map[string]any) *MessageRequest {
	t.Helper()
	req, err := DecodeRequest(body(t, overrides), Version20230601)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func prepare(t testing.TB, p *Profile, overrides map[string]any) *Prepared {
	t.Helper()
	pr, err := p.Prepare(decoded(t, overrides))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func TestProfileDetection(t *testing.T) {
	tests := []struct {
		name        string
		tmpl        core.ChatTemplate
		format      ToolFormat
		thinks      bool
		systemFirst bool
		systemMid   bool
	}{
		{"llama3 fixture", testmodel.Llama3{}, ToolFormatGeneric, false, true, true},
		{"llama3.1 tools", testmodel.Llama3{Tools: true}, ToolFormatLlama3, false, true, true},
		{"hermes", testmodel.Hermes{}, ToolFormatHermes, true, true, true},
		{"qwen3 coder", testmodel.Hermes{XML: true}, ToolFormatQwenXML, true, true, false},
		{"mistral", testmodel.Mistral{}, ToolFormatMistral, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := profile(t, tt.tmpl)
			got := []any{p.format, p.thinks, p.systemFirst, p.systemMid}
			want := []any{tt.format, tt.thinks, tt.systemFirst, tt.systemMid}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPromptLlama3 pins the whole prompt for a conversation with a system
// prompt, merged turns, a system-role turn and a prefill.
func TestPromptLlama3(t *testing.T) {
	p := profile(t, testmodel.Llama3{})
	pr := prepare(t, p, map[string]any{
		"system": "Be brief.",
		"messages": msgs(user("Hi"), user([]any{text("there")}), assistant("Hello!"),
			map[string]any{"role": "system", "content": "The user is tired."},
			user("What is 2+2?"), assistant("The answer is")),
	})
	want := "<|begin_of_text|>" +
		"<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nHi\n\nthere<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>" +
		"<|start_header_id|>system<|end_header_id|>\n\nThe user is tired.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is"
	if pr.Prompt != want {
		t.Errorf("prompt:\n got %q\nwant %q", pr.Prompt, want)
	}
	if pr.Request.Prompt[0] != testmodel.BOS || pr.Request.Prompt[1] == testmodel.BOS {
		t.Errorf("prompt should start with exactly one BOS: %v", pr.Request.Prompt[:2])
	}
}

// TestPromptEquivalentForms checks items 14 and 15 at the token level.
func TestPromptEquivalentForms(t *testing.T) {
	p := profile(t, testmodel.Llama3{})
	pairs := [][2]map[string]any{
		{{"messages": msgs(user("Hello"))}, {"messages": msgs(user([]any{text("Hello")}))}},
		{{"system": "Be brief."}, {"system": []any{text("Be brief.")}}},
	}
	for _, pair := range pairs {
		a, b := prepare(t, p, pair[0]), prepare(t, p, pair[1])
		if diff := cmp.Diff(a.Request.Prompt, b.Request.Prompt); diff != "" {
			t.Errorf("prompts differ (-a +b):\n%s", diff)
		}
	}
}

func TestPromptSystemFolding(t *testing.T) {
	rec := &recorder{ChatTemplate: testmodel.Hermes{XML: true}}
	p := profile(t, rec)
	prepare(t, p, map[string]any{"messages": msgs(user("a"), assistant("b"),
		map[string]any{"role": "system", "content": "reminder"}, user("c"))})
	want := []core.ChatMessage{
		{Role: core.RoleUser, Content: "a"}, {Role: core.RoleAssistant, Content: "b"},
		{Role: core.RoleUser, Content: "reminder\n\nc"},
	}
	if diff := cmp.Diff(want, rec.last.Messages); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestPromptNativeTools(t *testing.T) {
	rec := &recorder{ChatTemplate: testmodel.Hermes{}}
	p := profile(t, rec)
	prepare(t, p, map[string]any{
		"tools": []any{readTool},
		"messages": msgs(user("read go.mod"),
			assistant([]any{map[string]any{"type": "thinking", "thinking": "Need the file.", "signature": "x"}, text("Reading."), toolUse("toolu_1", "read_file")}),
			user([]any{toolResult("toolu_1"), map[string]any{"type": "tool_result", "tool_use_id": "toolu_1x", "is_error": true, "content": "boom"}, text("and?")}[:1]),
			assistant("It is module x."), user([]any{text("thanks")})),
	})
	want := []core.ChatMessage{
		{Role: core.RoleUser, Content: "read go.mod"},
		{Role: core.RoleAssistant, Content: "Reading.", Reasoning: "Need the file.",
			ToolCalls: []core.ToolCall{{ID: "toolu_1", Name: "read_file", Arguments: []byte(`{"path":"go.mod"}`)}}},
		{Role: core.RoleTool, ToolCallID: "toolu_1", Name: "read_file", Content: "module x"},
		{Role: core.RoleAssistant, Content: "It is module x."},
		{Role: core.RoleUser, Content: "thanks"},
	}
	if diff := cmp.Diff(want, rec.last.Messages); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if len(rec.last.Tools) != 1 || rec.last.Tools[0].Name != "read_file" || !rec.last.AddGenerationPrompt {
		t.Errorf("tools = %+v, generation prompt %v", rec.last.Tools, rec.last.AddGenerationPrompt)
	}
}

func TestPromptGenericTools(t *testing.T) {
	rec := &recorder{ChatTemplate: testmodel.Llama3{}}
	p := profile(t, rec)
	prepare(t, p, map[string]any{
		"system": "Be brief.", "tools": []any{readTool}, "tool_choice": map[string]any{"type": "tool", "name": "read_file"},
		"messages": msgs(user("read go.mod"), assistant([]any{toolUse("toolu_1", "read_file")}),
			user([]any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true, "content": "no such file"}})),
	})
	msgs := rec.last.Messages
	if len(msgs) != 4 || msgs[0].Role != core.RoleSystem {
		t.Fatalf("messages = %+v", msgs)
	}
	for _, want := range []string{"Be brief.\n\n# Tools", `{"name":"read_file","description":"Read a file","parameters":{"properties":{"path":{"type":"string"}},"required":["path"],"type":"object"}}`,
		"<tool_call>\n{\"name\": \"<tool name>\"", "You must call the tool \"read_file\" now"} {
		if !strings.Contains(msgs[0].Content, want) {
			t.Errorf("system prompt lacks %q:\n%s", want, msgs[0].Content)
		}
	}
	if want := "<tool_call>\n{\"name\":\"read_file\",\"arguments\":{\"path\":\"go.mod\"}}\n</tool_call>"; msgs[2].Content != want {
		t.Errorf("assistant call = %q, want %q", msgs[2].Content, want)
	}
	if want := "<tool_response>\nError: no such file\n</tool_response>"; msgs[3].Role != core.RoleUser || msgs[3].Content != want {
		t.Errorf("tool result = %+v, want user %q", msgs[3], want)
	}
	if len(rec.last.Tools) != 0 {
		t.Errorf("tools passed to a template without tool support: %+v", rec.last.Tools)
	}
}

// TestPromptToolChoiceNone checks that tools are not described with
// tool_choice none.
func TestPromptToolChoiceNone(t *testing.T) {
	for _, tmpl := range []core.ChatTemplate{testmodel.Llama3{}, testmodel.Hermes{}} {
		rec := &recorder{ChatTemplate: tmpl}
		p := profile(t, rec)
		pr := prepare(t, p, map[string]any{"tools": []any{readTool}, "tool_choice": map[string]any{"type": "none"}})
		if len(rec.last.Tools) != 0 || strings.Contains(pr.Prompt, "read_file") {
			t.Errorf("%T: tools described with tool_choice none: %q", tmpl, pr.Prompt)
		}
	}
}

func TestPromptRejectsUnreadable(t *testing.T) {
	p := profile(t, testmodel.Llama3{})
	image := map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
	pdf := map[string]any{"type": "document", "source": map[string]any{"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
	tests := []struct {
		name    string
		content []any
		want    string
	}{
		{"image", []any{text("what is this?"), image}, "model fx-llama cannot read images: it is a text-only model"},
		{"image in tool result", nil, "model fx-llama cannot read images: it is a text-only model"},
		{"pdf", []any{pdf}, "model fx-llama cannot read PDF documents: it is a text-only model; send plain-text documents instead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := msgs(user(tt.content))
			if tt.content == nil {
				m = msgs(user("x"), assistant([]any{toolUse("toolu_1", "shot")}),
					user([]any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "content": []any{image}}}))
			}
			_, err := p.Prepare(decoded(t, map[string]any{"messages": m}))
			if !errors.Is(err, core.KindInvalid) || ErrorMessage(err) != tt.want {
				t.Errorf("err = %v, want invalid %q", err, tt.want)
			}
			if _, err := p.CountTokens(decoded(t, map[string]any{"messages": m})); !errors.Is(err, core.KindInvalid) {
				t.Errorf("CountTokens err = %v", err)
			}
		})
	}
	pr := prepare(t, p, map[string]any{"messages": msgs(user([]any{map[string]any{"type": "document", "title": "notes",
		"source": map[string]any{"type": "text", "media_type": "text/plain", "data": "line one"}}, text("summarise")}))})
	if !strings.Contains(pr.Prompt, "<document title=\"notes\">\nline one\n</document>\n\nsummarise") {
		t.Errorf("text document not rendered: %q", pr.Prompt)
	}
}

// TestPrepareLimits covers items 10 and 12.
func TestPrepareLimits(t *testing.T) {
	p := profile(t, testmodel.Llama3{}, func(s *ModelSpec) { s.ContextLength, s.MaxOutputTokens = 256, 128 })
	_, err := p.Prepare(decoded(t, map[string]any{"max_tokens": 129}))
	if want := "max_tokens: 129 > 128, which is the maximum allowed number of output tokens for fx-llama"; ErrorMessage(err) != want || !errors.Is(err, core.KindInvalid) {
		t.Errorf("over cap: %v, want %q", err, want)
	}
	long := strings.Repeat("x", 300)
	_, err = p.Prepare(decoded(t, map[string]any{"max_tokens": 10, "messages": msgs(user(long))}))
	n, _ := p.CountTokens(decoded(t, map[string]any{"messages": msgs(user(long))}))
	if want := "prompt is too long: " + strconv.Itoa(n) + " tokens > 255 maximum"; ErrorMessage(err) != want || !errors.Is(err, core.KindContextLength) {
		t.Errorf("long prompt: %v, want %q", err, want)
	}
	// A prompt that fits but leaves less room than max_tokens is clamped.
	pr := prepare(t, p, map[string]any{"max_tokens": 128, "messages": msgs(user(strings.Repeat("y", 180)))})
	if pr.Request.MaxTokens != 256-pr.InputTokens() || pr.MaxTokens != 128 {
		t.Errorf("clamped max tokens = %d (prompt %d)", pr.Request.MaxTokens, pr.InputTokens())
	}
}

// TestCountTokensMatchesPrepare checks item 38 on the prompt side: the
// count equals the prompt Prepare builds, for varied requests.
func TestCountTokensMatchesPrepare(t *testing.T) {
	reqs := []map[string]any{
		{},
		{"system": "s", "messages": msgs(user("a"), assistant("b"), user("c"))},
		{"tools": []any{readTool}, "messages": msgs(user("x"), assistant([]any{toolUse("toolu_1", "read_file")}), user([]any{toolResult("toolu_1")}))},
		{"tools": []any{readTool}, "tool_choice": map[string]any{"type": "any"}},
		{"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}},
		{"messages": msgs(user("x"), assistant("prefill"))},
	}
	for _, tmpl := range []core.ChatTemplate{testmodel.Llama3{}, testmodel.Hermes{}, testmodel.Mistral{}} {
		p := profile(t, tmpl)
		for i, r := range reqs {
			pr := prepare(t, p, r)
			b := body(t, r)
			creq, err := DecodeCountTokensRequest(b, Version20230601)
			if err != nil {
				t.Fatal(err)
			}
			n, err := p.CountTokens(creq)
			if err != nil || n != pr.InputTokens() {
				t.Errorf("%T request %d: count %d, %v; prompt %d", tmpl, i, n, err, pr.InputTokens())
			}
		}
	}
}
