package claude

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
	"github.com/pensieve-llm/pensieve/core"
)

// toolIDs returns deterministic tool ids.
func toolIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("toolu_%02d", n) }
}

// stream runs a scripted generation through a Stream and returns its
// events and the accumulated message.
func stream(t testing.TB, pr *Prepared, script testmodel.Script) ([]StreamEvent, *Message) {
	t.Helper()
	ch, err := script.Generate(context.Background(), &pr.Request)
	if err != nil {
		t.Fatal(err)
	}
	s := pr.NewStream(StreamOptions{MessageID: "msg_test", NewToolID: toolIDs()})
	events := s.Start()
	for ev := range ch {
		events = append(events, s.Feed(ev)...)
		if s.Finished() {
			break
		}
	}
	var acc Accumulator
	for _, e := range events {
		if err := acc.Add(e); err != nil {
			t.Fatalf("accumulate %T: %v", e, err)
		}
	}
	m, err := acc.Message()
	if err != nil {
		t.Fatal(err)
	}
	checkGrammar(t, events)
	return events, m
}

// checkGrammar checks the event order of §6.2 (items 42, 43, 45, 46, 49,
// 50): message_start first, blocks started in index order without gaps,
// each start → deltas → stop, a thinking block's signature just before
// its stop, one message_delta, then message_stop.
func checkGrammar(t testing.TB, events []StreamEvent) {
	t.Helper()
	if len(events) < 3 {
		t.Fatalf("only %d events", len(events))
	}
	start, ok := events[0].(MessageStartEvent)
	if !ok || len(start.Message.Content) != 0 || start.Message.StopReason != "" || start.Message.StopSequence != nil {
		t.Fatalf("first event %#v is not an empty message_start", events[0])
	}
	next, open := 0, -1
	var openBlock Block
	lastDelta := Delta(nil)
	for i, e := range events[1 : len(events)-2] {
		switch ev := e.(type) {
		case ContentBlockStartEvent:
			if open >= 0 || ev.Index != next {
				t.Fatalf("event %d: start of block %d (open %d, next %d)", i+1, ev.Index, open, next)
			}
			switch b := ev.ContentBlock.(type) {
			case TextBlock:
				if b.Text != "" {
					t.Errorf("text block starts with text %q", b.Text)
				}
			case ToolUseBlock:
				if string(b.Input) != "{}" || !strings.HasPrefix(b.ID, "toolu_") {
					t.Errorf("tool_use start %+v", b)
				}
			case ThinkingBlock:
				if b.Thinking != "" || b.Signature != "" {
					t.Errorf("thinking start %+v", b)
				}
			}
			open, openBlock, lastDelta = ev.Index, ev.ContentBlock, nil
			next++
		case ContentBlockDeltaEvent:
			if ev.Index != open {
				t.Fatalf("event %d: delta for %d, open %d", i+1, ev.Index, open)
			}
			lastDelta = ev.Delta
		case ContentBlockStopEvent:
			if ev.Index != open {
				t.Fatalf("event %d: stop of %d, open %d", i+1, ev.Index, open)
			}
			if _, thinking := openBlock.(ThinkingBlock); thinking {
				if sig, ok := lastDelta.(SignatureDelta); !ok || sig.Signature == "" {
					t.Errorf("thinking block %d ends without a signature_delta", ev.Index)
				}
			}
			open = -1
		default:
			t.Fatalf("event %d: unexpected %T inside the message", i+1, e)
		}
	}
	if open >= 0 {
		t.Fatalf("block %d never stopped", open)
	}
	md, ok := events[len(events)-2].(MessageDeltaEvent)
	if !ok || md.Delta.StopReason == "" {
		t.Fatalf("second-to-last event %#v is not a message_delta with a stop reason", events[len(events)-2])
	}
	if _, ok := events[len(events)-1].(MessageStopEvent); !ok {
		t.Fatalf("last event %#v is not message_stop", events[len(events)-1])
	}
}

var weatherTool = map[string]any{"name": "get_weather", "description": "Weather of a city",
	"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"},
		"days": map[string]any{"type": "integer"}}, "required": []any{"city"}}}

func withTools(extra map[string]any) map[string]any {
	m := map[string]any{"tools": []any{readTool, weatherTool}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func toolBlock(id, name, input string) ToolUseBlock {
	return ToolUseBlock{ID: id, Name: name, Input: json.RawMessage(input)}
}

// TestStreamOutputs feeds model outputs in every supported format through
// Prepare and a Stream, whole and byte by byte.
func TestStreamOutputs(t *testing.T) {
	tests := []struct {
		name   string
		tmpl   core.ChatTemplate
		req    map[string]any
		output string
		reason core.StopReason
		want   []Block
		stop   StopReason
	}{
		{"plain text", testmodel.Llama3{}, nil, "Hello there.", "", []Block{TextBlock{Text: "Hello there."}}, StopEndTurn},
		{"leading whitespace dropped", testmodel.Llama3{}, nil, "\n\n  Hi", "", []Block{TextBlock{Text: "Hi"}}, StopEndTurn},
		{"hermes call after text", testmodel.Hermes{}, withTools(nil),
			"Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>", "",
			[]Block{TextBlock{Text: "Let me check."}, toolBlock("toolu_01", "get_weather", `{"city": "Paris", "days": 2}`)}, StopToolUse},
		{"prefill keeps its leading space", testmodel.Llama3{}, map[string]any{"messages": msgs(user("2+2?"), assistant("The answer is"))},
			" 4.", "", []Block{TextBlock{Text: " 4."}}, StopEndTurn},
		{"text with inner spaces before a call", testmodel.Hermes{}, withTools(nil),
			"a  b \n\n <tool_call>{\"name\": \"read_file\", \"arguments\": {}}</tool_call>", "",
			[]Block{TextBlock{Text: "a  b"}, toolBlock("toolu_01", "read_file", `{}`)}, StopToolUse},
		{"hermes parallel calls", testmodel.Hermes{}, withTools(nil),
			"<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n</tool_call>\n<tool_call>\n{\"arguments\": {\"path\": \"b\"}, \"name\": \"read_file\"}\n</tool_call>", "",
			[]Block{toolBlock("toolu_01", "read_file", `{"path": "a"}`), toolBlock("toolu_02", "read_file", `{"path": "b"}`)}, StopToolUse},
		{"generic call on a plain template", testmodel.Llama3{}, withTools(nil),
			"<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"x \\\"q\\\" \\u00e9\"}}\n</tool_call>", "",
			[]Block{toolBlock("toolu_01", "read_file", `{"path": "x \"q\" \u00e9"}`)}, StopToolUse},
		{"arguments as a JSON string", testmodel.Hermes{}, withTools(nil),
			"<tool_call>{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"a\\\"}\"}</tool_call>", "",
			[]Block{toolBlock("toolu_01", "read_file", `{"path":"a"}`)}, StopToolUse},
		{"qwen xml call", testmodel.Hermes{XML: true}, withTools(nil),
			"<tool_call>\n<function=get_weather>\n<parameter=city>\nNew \"York\"\nCity\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>", "",
			[]Block{toolBlock("toolu_01", "get_weather", `{"city": "New \"York\"\nCity", "days": 3}`)}, StopToolUse},
		{"llama bare json", testmodel.Llama3{Tools: true}, withTools(nil),
			`{"name": "get_weather", "parameters": {"city": "Oslo"}}`, "",
			[]Block{toolBlock("toolu_01", "get_weather", `{"city": "Oslo"}`)}, StopToolUse},
		{"llama bare json of an unknown tool is text", testmodel.Llama3{Tools: true}, withTools(nil),
			`{"name": "launch", "parameters": {}}`, "",
			[]Block{TextBlock{Text: `{"name": "launch", "parameters": {}}`}}, StopEndTurn},
		{"llama json answer is text", testmodel.Llama3{Tools: true}, withTools(nil),
			`{"answer": 42}`, "", []Block{TextBlock{Text: `{"answer": 42}`}}, StopEndTurn},
		{"python tag calls", testmodel.Llama3{Tools: true}, withTools(nil),
			`<|python_tag|>{"name": "read_file", "parameters": {"path": "a"}}; {"name": "read_file", "parameters": {"path": "b"}}`, "",
			[]Block{toolBlock("toolu_01", "read_file", `{"path": "a"}`), toolBlock("toolu_02", "read_file", `{"path": "b"}`)}, StopToolUse},
		{"mistral array", testmodel.Mistral{}, withTools(nil),
			`[TOOL_CALLS][{"name": "read_file", "arguments": {"path": "a"}}, {"name": "get_weather", "arguments": {"city": "Rome"}}]`, "",
			[]Block{toolBlock("toolu_01", "read_file", `{"path": "a"}`), toolBlock("toolu_02", "get_weather", `{"city": "Rome"}`)}, StopToolUse},
		{"mistral name args", testmodel.Mistral{}, withTools(nil),
			`[TOOL_CALLS]get_weather[ARGS]{"city": "Lima"}`, "",
			[]Block{toolBlock("toolu_01", "get_weather", `{"city": "Lima"}`)}, StopToolUse},
		{"broken call falls back to text", testmodel.Hermes{}, withTools(nil),
			"<tool_call>\nnot json</tool_call> ok", "",
			[]Block{TextBlock{Text: "<tool_call>\nnot json</tool_call> ok"}}, StopEndTurn},
		{"tool_choice none keeps calls as text", testmodel.Hermes{}, withTools(map[string]any{"tool_choice": map[string]any{"type": "none"}}),
			"<tool_call>{\"name\": \"read_file\", \"arguments\": {}}</tool_call>", "",
			[]Block{TextBlock{Text: "<tool_call>{\"name\": \"read_file\", \"arguments\": {}}</tool_call>"}}, StopEndTurn},
		{"truncated call is repaired", testmodel.Hermes{}, withTools(nil),
			"<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/ma", core.StopMaxTokens,
			[]Block{toolBlock("toolu_01", "read_file", `{"path": "src/ma"}`)}, StopMaxTokens},
		{"call then end at max_tokens", testmodel.Hermes{}, withTools(nil),
			"<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}</tool_call>", core.StopMaxTokens,
			[]Block{toolBlock("toolu_01", "read_file", `{"path": "a"}`)}, StopToolUse},
		{"call without closing brace", testmodel.Hermes{}, withTools(nil),
			"<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}", "",
			[]Block{toolBlock("toolu_01", "read_file", `{"path": "a"}`)}, StopToolUse},
		{"thinking then answer", testmodel.Hermes{}, map[string]any{"max_tokens": 4096, "thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}},
			"<think>\nThe user greets.\n</think>\n\nHello!", "",
			[]Block{ThinkingBlock{Thinking: "\nThe user greets.\n"}, TextBlock{Text: "Hello!"}}, StopEndTurn},
		{"thinking dropped when off", testmodel.Hermes{}, nil,
			"<think>hmm</think>Hello!", "", []Block{TextBlock{Text: "Hello!"}}, StopEndTurn},
		{"thinking omitted", testmodel.Hermes{}, map[string]any{"max_tokens": 4096, "thinking": map[string]any{"type": "enabled", "budget_tokens": 1024, "display": "omitted"}},
			"<think>secret</think>Hi", "", []Block{ThinkingBlock{}, TextBlock{Text: "Hi"}}, StopEndTurn},
		{"prompt opens thinking", testmodel.Hermes{OpenThink: true}, map[string]any{"thinking": map[string]any{"type": "adaptive"}},
			"plan</think>Done", "", []Block{ThinkingBlock{Thinking: "plan"}, TextBlock{Text: "Done"}}, StopEndTurn},
		{"thinking then call", testmodel.Hermes{}, withTools(map[string]any{"thinking": map[string]any{"type": "adaptive"}}),
			"<think>need weather</think>\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Bern\"}}</tool_call>", "",
			[]Block{ThinkingBlock{Thinking: "need weather"}, toolBlock("toolu_01", "get_weather", `{"city": "Bern"}`)}, StopToolUse},
		{"stop sequence", testmodel.Llama3{}, map[string]any{"stop_sequences": []any{"END"}}, "one two", core.StopSequence,
			[]Block{TextBlock{Text: "one two"}}, StopSequence},
		{"max tokens", testmodel.Llama3{}, nil, "one two", core.StopMaxTokens, []Block{TextBlock{Text: "one two"}}, StopMaxTokens},
		{"context full", testmodel.Llama3{}, nil, "one", core.StopContextLimit, []Block{TextBlock{Text: "one"}}, StopContextWindow},
	}
	for _, tt := range tests {
		for _, split := range []string{"whole", "bytes", "pairs"} {
			t.Run(tt.name+"/"+split, func(t *testing.T) {
				p := profile(t, tt.tmpl)
				pr := prepare(t, p, tt.req)
				script := testmodel.Script{Chunks: chunk(tt.output, split), Reason: tt.reason}
				if tt.reason == core.StopSequence {
					script.StopSequence = "END"
				}
				_, m := stream(t, pr, script)
				want := tt.want
				for i, b := range want {
					if th, ok := b.(ThinkingBlock); ok {
						th.Signature = signature(p.sigKey, []byte(rawThinking(tt.output, th)))
						want[i] = th
					}
				}
				if diff := cmp.Diff(want, m.Content, cmp.Comparer(jsonEqual)); diff != "" {
					t.Errorf("content (-want +got):\n%s", diff)
				}
				if m.StopReason != tt.stop {
					t.Errorf("stop_reason = %q, want %q", m.StopReason, tt.stop)
				}
				if (m.StopSequence != nil) != (tt.stop == StopSequence) || m.StopSequence != nil && *m.StopSequence != "END" {
					t.Errorf("stop_sequence = %v", m.StopSequence)
				}
				for _, b := range m.Content {
					if tu, ok := b.(ToolUseBlock); ok && (!json.Valid(tu.Input) || tu.Input[0] != '{') {
						t.Errorf("tool input %s is not a JSON object", tu.Input)
					}
				}
			})
		}
	}
}

// rawThinking returns the thinking text a signature covers: the block's
// text, or for an omitted block the text between the tags.
func rawThinking(output string, th ThinkingBlock) string {
	if th.Thinking != "" {
		return th.Thinking
	}
	open, close := strings.Index(output, "<think>"), strings.Index(output, "</think>")
	return output[open+len("<think>") : close]
}

// jsonEqual compares raw JSON by value.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return cmp.Equal(x, y)
}

// chunk splits s whole, into bytes, or into pairs of bytes (keeping UTF-8
// characters whole, as the engine releases them).
func chunk(s, how string) []string {
	if s == "" {
		return nil
	}
	if how == "whole" {
		return []string{s}
	}
	size := 1
	if how == "pairs" {
		size = 2
	}
	var out []string
	rs := []rune(s)
	for i := 0; i < len(rs); i += size {
		out = append(out, string(rs[i:min(i+size, len(rs))]))
	}
	return out
}

// TestStreamDisableParallel checks that a stream ends after the first call
// with disable_parallel_tool_use (item 35).
func TestStreamDisableParallel(t *testing.T) {
	p := profile(t, testmodel.Hermes{})
	pr := prepare(t, p, withTools(map[string]any{"tool_choice": map[string]any{"type": "auto", "disable_parallel_tool_use": true}}))
	out := "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}</tool_call><tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"b\"}}</tool_call>"
	_, m := stream(t, pr, testmodel.Script{Chunks: chunk(out, "pairs")})
	if len(m.Content) != 1 || m.StopReason != StopToolUse {
		t.Errorf("content %+v, stop %q", m.Content, m.StopReason)
	}
}

// TestStreamUsage checks usage counts (items 37, 38, 39): the prompt-side
// counts sum to the prompt length, cached tokens are cache reads.
func TestStreamUsage(t *testing.T) {
	p := profile(t, testmodel.Llama3{})
	pr := prepare(t, p, nil)
	events, m := stream(t, pr, testmodel.Script{Chunks: []string{"ab", "c"}, Cached: 5})
	u := m.Usage
	if u.InputTokens+u.CacheReadInputTokens+u.CacheCreationInputTokens != pr.InputTokens() || u.CacheReadInputTokens != 5 || u.OutputTokens != 3 {
		t.Errorf("usage %+v, prompt %d", u, pr.InputTokens())
	}
	start := events[0].(MessageStartEvent).Message.Usage
	if start.InputTokens != pr.InputTokens() || start.OutputTokens != 0 || start.CacheCreation == nil {
		t.Errorf("message_start usage %+v", start)
	}
	md := events[len(events)-2].(MessageDeltaEvent)
	if md.Usage.OutputTokens != 3 || md.Usage.CacheReadInputTokens != 5 {
		t.Errorf("message_delta usage %+v", md.Usage)
	}
}

// TestStreamEmptyCompletion covers max_tokens 0 (item 10).
func TestStreamEmptyCompletion(t *testing.T) {
	p := profile(t, testmodel.Llama3{})
	pr := prepare(t, p, map[string]any{"max_tokens": 0})
	if pr.Request.MaxTokens != 0 || pr.Request.Constraint != nil {
		t.Fatalf("request %+v", pr.Request)
	}
	s := pr.NewStream(StreamOptions{})
	var acc Accumulator
	for _, e := range append(s.Start(), s.Feed(pr.EmptyCompletion())...) {
		if err := acc.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	m, err := acc.Message()
	if err != nil || len(m.Content) != 0 || m.StopReason != StopMaxTokens || !strings.HasPrefix(m.ID, "msg_") {
		t.Errorf("message %+v, %v", m, err)
	}
	if b, _ := json.Marshal(m); !strings.Contains(string(b), `"content":[]`) {
		t.Errorf("content not an empty array: %s", b)
	}
}

// TestStreamError checks that a failed generation yields one error event
// and no message_stop (item 52), and Collect returns the error.
func TestStreamError(t *testing.T) {
	p := profile(t, testmodel.Llama3{})
	pr := prepare(t, p, nil)
	s := pr.NewStream(StreamOptions{})
	events := append(s.Start(), s.Feed(core.Event{Text: "partial", Tokens: []core.TokenID{1}})...)
	events = append(events, s.Feed(core.Event{Done: true, Err: core.Errorf(core.KindOverloaded, "engine", "queue full")})...)
	last, ok := events[len(events)-1].(ErrorEvent)
	if !ok || last.Error.Type != ErrOverloaded || last.Error.Message != "Overloaded" || !s.Finished() {
		t.Fatalf("last event %#v", events[len(events)-1])
	}
	for _, e := range events {
		if _, stop := e.(MessageStopEvent); stop {
			t.Error("message_stop after an error")
		}
	}
	ch := make(chan core.Event, 1)
	ch <- core.Event{Done: true, Err: core.Errorf(core.KindOverloaded, "engine", "queue full")}
	if _, err := Collect(context.Background(), ch, pr.NewStream(StreamOptions{})); core.KindOf(err) != core.KindOverloaded {
		t.Errorf("Collect err = %v", err)
	}
}

// TestStreamMatchesCollect checks that the non-streaming message equals
// the accumulated stream (items 47, 48).
func TestStreamMatchesCollect(t *testing.T) {
	p := profile(t, testmodel.Hermes{})
	req := withTools(map[string]any{"thinking": map[string]any{"type": "adaptive"}})
	script := testmodel.Script{Chunks: chunk("<think>x</think>Checking.<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"é\"}}</tool_call>", "pairs")}
	_, streamed := stream(t, prepare(t, p, req), script)
	pr := prepare(t, p, req)
	ch, _ := script.Generate(context.Background(), &pr.Request)
	collected, err := Collect(context.Background(), ch, pr.NewStream(StreamOptions{MessageID: "msg_test", NewToolID: toolIDs()}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(streamed, collected); diff != "" {
		t.Errorf("(-streamed +collected):\n%s", diff)
	}
}
