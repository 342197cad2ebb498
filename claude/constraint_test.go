package claude

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
	"github.com/pensieve-llm/pensieve/core"
)

// Tool schemas in the style Claude Code sends (zod-generated).
var claudeCodeTools = []any{
	map[string]any{"name": "Bash", "description": "Run a shell command", "input_schema": map[string]any{
		"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": false,
		"properties": map[string]any{"command": map[string]any{"type": "string"}, "timeout": map[string]any{"type": "number"},
			"description": map[string]any{"type": "string"}, "run_in_background": map[string]any{"type": "boolean"}},
		"required": []any{"command"}}},
	map[string]any{"name": "Edit", "description": "Edit a file", "input_schema": map[string]any{
		"type": "object", "additionalProperties": false,
		"properties": map[string]any{"file_path": map[string]any{"type": "string"}, "old_string": map[string]any{"type": "string"},
			"new_string": map[string]any{"type": "string"}, "replace_all": map[string]any{"type": "boolean", "default": false}},
		"required": []any{"file_path", "old_string", "new_string"}}},
	map[string]any{"name": "TodoWrite", "description": "Update the todo list", "input_schema": map[string]any{
		"type": "object", "additionalProperties": false,
		"properties": map[string]any{"todos": map[string]any{"type": "array", "items": map[string]any{
			"type": "object", "additionalProperties": false,
			"properties": map[string]any{"content": map[string]any{"type": "string", "minLength": 1},
				"status":     map[string]any{"type": "string", "enum": []any{"pending", "in_progress", "completed"}},
				"activeForm": map[string]any{"type": "string", "minLength": 1}},
			"required": []any{"content", "status", "activeForm"}}}},
		"required": []any{"todos"}}},
	map[string]any{"name": "Glob", "description": "Find files", "input_schema": map[string]any{
		"type": "object", "properties": map[string]any{"pattern": map[string]any{"type": "string"},
			"path": map[string]any{"anyOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "null"}}}},
		"required": []any{"pattern"}}},
}

// schemaOf returns the input_schema of a tool in tools by name.
func schemaOf(t testing.TB, tools []any, name string) []byte {
	t.Helper()
	for _, tool := range tools {
		m := tool.(map[string]any)
		if m["name"] == name {
			b, _ := json.Marshal(m["input_schema"])
			return b
		}
	}
	t.Fatalf("no tool %s", name)
	return nil
}

// TestForcedToolUseRandomModel is the acceptance test: with
// tool_choice any or tool, a random-weight model over the fixture byte
// vocabulary returns a schema-valid tool_use, streamed and not, and
// stop_reason is tool_use.
func TestForcedToolUseRandomModel(t *testing.T) {
	tests := []struct {
		name      string
		tmpl      core.ChatTemplate
		choice    map[string]any
		maxTokens int
		temp      float64
	}{
		{"any generic greedy", testmodel.Llama3{}, map[string]any{"type": "any"}, 400, 0},
		{"any generic sampled", testmodel.Llama3{}, map[string]any{"type": "any"}, 400, 1},
		{"named generic", testmodel.Llama3{}, map[string]any{"type": "tool", "name": "TodoWrite"}, 300, 1},
		{"named tight budget", testmodel.Llama3{}, map[string]any{"type": "tool", "name": "Edit"}, 110, 1},
		{"any hermes", testmodel.Hermes{}, map[string]any{"type": "any", "disable_parallel_tool_use": true}, 300, 1},
		{"any llama3.1", testmodel.Llama3{Tools: true}, map[string]any{"type": "any"}, 300, 1},
		{"any mistral", testmodel.Mistral{}, map[string]any{"type": "any"}, 300, 1},
		{"any after an opened reasoning block", testmodel.Hermes{OpenThink: true}, map[string]any{"type": "any"}, 300, 1},
	}
	for _, tt := range tests {
		for seed := uint64(1); seed <= 6; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", tt.name, seed), func(t *testing.T) {
				p := profile(t, tt.tmpl)
				req := map[string]any{"max_tokens": tt.maxTokens, "tools": claudeCodeTools, "tool_choice": tt.choice,
					"messages": msgs(user("Do something useful."))}
				gen := testmodel.Random{Tok: testmodel.ByteTokenizer{}, Seed: seed, Temperature: tt.temp}

				pr := prepare(t, p, req)
				ch, err := gen.Generate(context.Background(), &pr.Request)
				if err != nil {
					t.Fatal(err)
				}
				var events []StreamEvent
				s := pr.NewStream(StreamOptions{MessageID: "msg_test", NewToolID: toolIDs()})
				for ev := range ch {
					if ev.Err != nil {
						t.Fatal(ev.Err)
					}
					events = append(events, s.Feed(ev)...)
				}
				checkGrammar(t, events)
				var acc Accumulator
				for _, e := range events {
					if err := acc.Add(e); err != nil {
						t.Fatal(err)
					}
				}
				streamed, err := acc.Message()
				if err != nil {
					t.Fatal(err)
				}

				pr2 := prepare(t, p, req)
				ch2, _ := gen.Generate(context.Background(), &pr2.Request)
				collected, err := Collect(context.Background(), ch2, pr2.NewStream(StreamOptions{MessageID: "msg_test", NewToolID: toolIDs()}))
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range []*Message{streamed, collected} {
					checkForcedCall(t, m, tt.choice)
				}
				if a, b := mustJSON(t, streamed), mustJSON(t, collected); a != b {
					t.Errorf("stream and non-stream differ:\n%s\n%s", a, b)
				}
				if streamed.Usage.OutputTokens > tt.maxTokens {
					t.Errorf("output_tokens %d > max_tokens %d", streamed.Usage.OutputTokens, tt.maxTokens)
				}
			})
		}
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkForcedCall checks that m is exactly one schema-valid call of an
// allowed tool with stop_reason tool_use.
func checkForcedCall(t testing.TB, m *Message, choice map[string]any) {
	t.Helper()
	if m.StopReason != StopToolUse || len(m.Content) != 1 {
		t.Fatalf("stop %q, content %s", m.StopReason, mustJSON(t, m.Content))
	}
	tu, ok := m.Content[0].(ToolUseBlock)
	if !ok {
		t.Fatalf("block %T, want tool_use", m.Content[0])
	}
	if want, named := choice["name"].(string); named && tu.Name != want {
		t.Errorf("called %s, want %s", tu.Name, want)
	}
	if err := testmodel.Validate(schemaOf(t, claudeCodeTools, tu.Name), tu.Input); err != nil {
		t.Errorf("%s input %s: %v", tu.Name, tu.Input, err)
	}
}

// TestOutputFormatRandomModel checks output_config.format: the text is
// JSON valid against the schema.
func TestOutputFormatRandomModel(t *testing.T) {
	schema := map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string", "maxLength": 20},
		"tags":  map[string]any{"type": "array", "items": map[string]any{"enum": []any{"a", "b"}}, "maxItems": 4},
		"score": map[string]any{"type": "integer"}}, "required": []any{"name", "score"}}
	raw, _ := json.Marshal(schema)
	for seed := uint64(1); seed <= 5; seed++ {
		p := profile(t, testmodel.Llama3{})
		pr := prepare(t, p, map[string]any{"max_tokens": 200, "output_config": map[string]any{"format": map[string]any{"type": "json_schema", "schema": schema}}})
		ch, _ := testmodel.Random{Tok: testmodel.ByteTokenizer{}, Seed: seed, Temperature: 1}.Generate(context.Background(), &pr.Request)
		m, err := Collect(context.Background(), ch, pr.NewStream(StreamOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Content) != 1 {
			t.Fatalf("content %s", mustJSON(t, m.Content))
		}
		if err := testmodel.Validate(raw, []byte(m.Content[0].(TextBlock).Text)); err != nil {
			t.Errorf("seed %d: %v", seed, err)
		}
	}
}

// TestOutputFormatAfterThinking checks that with thinking on, a model
// whose template thinks is made to open and close its reasoning block
// before the constrained JSON.
func TestOutputFormatAfterThinking(t *testing.T) {
	p := profile(t, testmodel.Hermes{})
	schema := `{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`
	var sch any
	_ = json.Unmarshal([]byte(schema), &sch)
	pr := prepare(t, p, map[string]any{"max_tokens": 1100, "thinking": map[string]any{"type": "enabled", "budget_tokens": 1024},
		"output_config": map[string]any{"format": map[string]any{"type": "json_schema", "schema": sch}}})
	ch, _ := testmodel.Random{Tok: noEOG{testmodel.ByteTokenizer{}}, Seed: 9, Temperature: 1}.Generate(context.Background(), &pr.Request)
	m, err := Collect(context.Background(), ch, pr.NewStream(StreamOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 2 {
		t.Fatalf("content %s", mustJSON(t, m.Content))
	}
	if _, ok := m.Content[0].(ThinkingBlock); !ok {
		t.Errorf("first block %T", m.Content[0])
	}
	if err := testmodel.Validate([]byte(schema), []byte(m.Content[1].(TextBlock).Text)); err != nil {
		t.Error(err)
	}
}

// TestThinkingBudgetRandomModel checks budget_tokens: a model that never
// stops thinking on its own is made to close its reasoning block once the
// budget is spent.
func TestThinkingBudgetRandomModel(t *testing.T) {
	p := profile(t, testmodel.Hermes{OpenThink: true})
	const budget = 1024
	pr := prepare(t, p, map[string]any{"max_tokens": budget + 60, "thinking": map[string]any{"type": "enabled", "budget_tokens": budget}})
	var gen []core.TokenID
	ch, _ := testmodel.Random{Tok: noEOG{testmodel.ByteTokenizer{}}, Seed: 3, Temperature: 1}.Generate(context.Background(), &pr.Request)
	s := pr.NewStream(StreamOptions{})
	var acc Accumulator
	for ev := range ch {
		gen = append(gen, ev.Tokens...)
		for _, e := range s.Feed(ev) {
			if err := acc.Add(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	closed := -1 // tokens up to the end of the close tag
	for i := range gen {
		if strings.HasSuffix(string(decodeAll(gen[:i+1])), "</think>") {
			closed = i + 1
			break
		}
	}
	if closed < 0 {
		t.Fatalf("reasoning never closed: %q", decodeAll(gen))
	}
	if max := budget + len("</think>"); closed > max {
		t.Errorf("thinking took %d tokens, budget %d allows %d", closed, budget, max)
	}
	m, err := acc.Message()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Content[0].(ThinkingBlock); !ok {
		t.Errorf("first block %T, want thinking", m.Content[0])
	}

	// With thinking off, the block the prompt opened is closed at once.
	pr = prepare(t, p, map[string]any{"max_tokens": 30})
	ch, _ = testmodel.Random{Tok: noEOG{testmodel.ByteTokenizer{}}, Seed: 4, Temperature: 1}.Generate(context.Background(), &pr.Request)
	gen = gen[:0]
	m, err = Collect(context.Background(), teeTokens(ch, &gen), pr.NewStream(StreamOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(decodeAll(gen)); !strings.HasPrefix(got, "</think>") {
		t.Errorf("output %q does not start by closing the reasoning block", got)
	}
	for _, b := range m.Content {
		if _, ok := b.(ThinkingBlock); ok {
			t.Errorf("thinking block with thinking off")
		}
	}
}

// noEOG hides end-of-generation tokens so a random model never stops.
type noEOG struct{ testmodel.ByteTokenizer }

func (n noEOG) Vocab() core.Vocab {
	v := n.ByteTokenizer.Vocab()
	v.EOG = nil
	return v
}

func decodeAll(ids []core.TokenID) []byte {
	var out []byte
	for _, id := range ids {
		out = testmodel.ByteTokenizer{}.Decode(out, id)
	}
	return out
}

// teeTokens records the tokens of the events passing through.
func teeTokens(in <-chan core.Event, into *[]core.TokenID) <-chan core.Event {
	out := make(chan core.Event, cap(in))
	for ev := range in {
		*into = append(*into, ev.Tokens...)
		out <- ev
	}
	close(out)
	return out
}

// TestConstraintResync checks that a constraint follows a generation that
// restarts (shorter generated slice) and reports breaking tokens.
func TestConstraintResync(t *testing.T) {
	p := profile(t, testmodel.Llama3{})
	pr := prepare(t, p, map[string]any{"tools": claudeCodeTools, "tool_choice": map[string]any{"type": "tool", "name": "Bash"}})
	c := pr.Request.Constraint
	logits := make([]float32, 261)
	toks, _ := testmodel.ByteTokenizer{}.Encode(nil, "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\":\"ls\"}}\n</tool_call>", false)
	for i := range toks {
		if err := c.Mask(toks[:i], logits); err != nil {
			t.Fatalf("at %d: %v", i, err)
		}
	}
	if !c.Done(toks) || c.Done(toks[:5]) || !c.Done(toks) {
		t.Error("Done does not follow the generated tokens")
	}
	bad := append(append([]core.TokenID{}, toks[:3]...), 'x')
	if err := c.Mask(bad, logits); core.KindOf(err) != core.KindInternal {
		t.Errorf("breaking token: err = %v", err)
	}
}
