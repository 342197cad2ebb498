package soak

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// frame renders events as an SSE body, deriving each event name from the
// JSON type.
func frame(datas ...string) string {
	var b strings.Builder
	for _, d := range datas {
		var head struct{ Type string }
		if err := json.Unmarshal([]byte(d), &head); err != nil {
			panic(fmt.Sprintf("test data %q: %v", d, err))
		}
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", head.Type, d)
	}
	return b.String()
}

const (
	evStart      = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}`
	evTextStart0 = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	evTextDelta0 = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`
	evStop0      = `{"type":"content_block_stop","index":0}`
	evToolStart1 = `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`
	evStop1      = `{"type":"content_block_stop","index":1}`
	evDeltaEnd   = `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}`
	evDeltaTool  = `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}`
	evMsgStop    = `{"type":"message_stop"}`
	evPing       = `{"type":"ping"}`
)

func partial(index int, s string) string {
	return fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%s}}`, index, quote(s))
}

func TestCheckStreamAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Message
	}{
		{"text", frame(evStart, evTextStart0, evTextDelta0, evTextDelta0, evStop0, evDeltaEnd, evMsgStop),
			Message{ID: "msg_1", Model: "m", Blocks: []Block{{Type: "text", Text: "HiHi"}}, StopReason: "end_turn", InputTokens: 5, OutputTokens: 3}},
		{"no blocks, pings and comments", ": hello\n\n" + frame(evStart, evPing, evDeltaEnd) + ": x\n" + frame(evMsgStop),
			Message{ID: "msg_1", Model: "m", StopReason: "end_turn", InputTokens: 5, OutputTokens: 3}},
		{"text then tool split mid-string", frame(evStart, evTextStart0, evTextDelta0, evStop0, evToolStart1,
			partial(1, ""), partial(1, `{"pa`), partial(1, `th":"a\"b"}`), evStop1, evDeltaTool, evMsgStop),
			Message{ID: "msg_1", Model: "m", Blocks: []Block{{Type: "text", Text: "Hi"}, {Type: "tool_use", Input: json.RawMessage(`{"path":"a\"b"}`)}},
				StopReason: "tool_use", InputTokens: 5, OutputTokens: 9}},
		{"tool without fragments is {}", frame(evStart, strings.Replace(evToolStart1, `"index":1`, `"index":0`, 1), evStop0, evDeltaTool, evMsgStop),
			Message{ID: "msg_1", Model: "m", Blocks: []Block{{Type: "tool_use", Input: json.RawMessage(`{}`)}}, StopReason: "tool_use", InputTokens: 5, OutputTokens: 9}},
		{"thinking then text", frame(evStart,
			`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`,
			evStop0, strings.Replace(evTextStart0, `"index":0`, `"index":1`, 1), evStop1, evDeltaEnd, evMsgStop),
			Message{ID: "msg_1", Model: "m", Blocks: []Block{{Type: "thinking", Text: "hmm"}, {Type: "text"}}, StopReason: "end_turn", InputTokens: 5, OutputTokens: 3}},
		{"stop sequence and CRLF", strings.ReplaceAll(frame(evStart,
			`{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"input_tokens":6,"output_tokens":2}}`, evMsgStop), "\n", "\r\n"),
			Message{ID: "msg_1", Model: "m", StopReason: "stop_sequence", InputTokens: 6, OutputTokens: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckStream(strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("CheckStream: %v", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("message (-want +got):\n%s", d)
			}
		})
	}
}

func TestCheckStreamRejects(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", "without message_stop"},
		{"no message_stop", frame(evStart, evTextStart0, evStop0, evDeltaEnd), "without message_stop"},
		{"last blank line missing", strings.TrimSuffix(frame(evStart, evDeltaEnd, evMsgStop), "\n"), "inside an event"},
		{"cut mid-line", frame(evStart) + "event: mess", "mid-line"},
		{"ping first", frame(evPing, evStart), "want message_start"},
		{"name differs from type", "event: message_delta\ndata: " + evStart + "\n\n", "does not equal the event name"},
		{"no event line", "data: " + evStart + "\n\n", "without an event line"},
		{"no data line", "event: ping\n\n", "without a data line"},
		{"two data lines", "event: ping\ndata: {\"type\":\"ping\"}\ndata: {}\n\n", "second data line"},
		{"unknown field", "id: 1\nevent: ping\ndata: {}\n\n", "unexpected field"},
		{"data not JSON", "event: ping\ndata: nope\n\n", "not a JSON object"},
		{"second message_start", frame(evStart, evStart), "second message_start"},
		{"message_start with content", frame(strings.Replace(evStart, `"content":[]`, `"content":[{}]`, 1)), "want []"},
		{"message_start without stop_reason", frame(strings.Replace(evStart, `"stop_reason":null,`, ``, 1)), "stop_reason is missing"},
		{"message_start bad id", frame(strings.Replace(evStart, `msg_1`, `m1`, 1)), "msg_"},
		{"block index gap", frame(evStart, strings.Replace(evTextStart0, `"index":0`, `"index":1`, 1)), "want 0"},
		{"blocks interleaved", frame(evStart, evTextStart0, strings.Replace(evTextStart0, `"index":0`, `"index":1`, 1)), "while block 0 is open"},
		{"delta to closed block", frame(evStart, evTextStart0, evStop0, evTextDelta0), "open block -1"},
		{"delta wrong index", frame(evStart, evTextStart0, strings.Replace(evTextDelta0, `"index":0`, `"index":1`, 1)), "open block 0"},
		{"delta of wrong type", frame(evStart, evTextStart0, partial(0, "{}")), `"input_json_delta" delta in a text block`},
		{"stop of other block", frame(evStart, evTextStart0, evStop1), "open block 0"},
		{"text block without text", frame(evStart, `{"type":"content_block_start","index":0,"content_block":{"type":"text"}}`), "text missing"},
		{"tool input not {}", frame(evStart, strings.Replace(strings.Replace(evToolStart1, `"index":1`, `"index":0`, 1), `"input":{}`, `"input":"x"`, 1)), "want {}"},
		{"tool input fragments not an object", frame(evStart, strings.Replace(evToolStart1, `"index":1`, `"index":0`, 1), partial(0, `{"a":`), evStop0), "do not form a JSON object"},
		{"tool input array", frame(evStart, strings.Replace(evToolStart1, `"index":1`, `"index":0`, 1), partial(0, `[1]`), evStop0), "do not form a JSON object"},
		{"unknown block type", frame(evStart, `{"type":"content_block_start","index":0,"content_block":{"type":"image"}}`), "unexpected block type"},
		{"thinking after signature", frame(evStart,
			`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}}`), "after signature_delta"},
		{"message_delta with open block", frame(evStart, evTextStart0, evDeltaEnd), "while block 0 is open"},
		{"null stop_reason", frame(evStart, strings.Replace(evDeltaEnd, `"end_turn"`, `null`, 1)), "want a string"},
		{"unknown stop_reason", frame(evStart, strings.Replace(evDeltaEnd, `"end_turn"`, `"done"`, 1)), "unknown stop_reason"},
		{"stop_sequence missing", frame(evStart, strings.Replace(evDeltaEnd, `,"stop_sequence":null`, ``, 1)), "stop_sequence missing"},
		{"stop_sequence null for stop_sequence", frame(evStart, strings.Replace(evDeltaEnd, `"end_turn"`, `"stop_sequence"`, 1)), "stop_sequence null"},
		{"tool_use without tool", frame(evStart, evDeltaTool), "without a tool_use block"},
		{"output_tokens missing", frame(evStart, strings.Replace(evDeltaEnd, `"output_tokens":3`, `"x":3`, 1)), "output_tokens missing"},
		{"two message_delta", frame(evStart, evDeltaEnd, evDeltaEnd), "second message_delta"},
		{"block after message_delta", frame(evStart, evDeltaEnd, evTextStart0), "after message_delta"},
		{"message_stop early", frame(evStart, evMsgStop), "before message_delta"},
		{"event after message_stop", frame(evStart, evDeltaEnd, evMsgStop, evPing), "after message_stop"},
		{"unknown event", frame(evStart, `{"type":"message_pause"}`), "unknown event"},
		{"event after error", frame(evStart, `{"type":"error","error":{"type":"api_error","message":"boom"}}`, evPing), "after an error event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckStream(strings.NewReader(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckStream error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckStreamErrorEvent(t *testing.T) {
	body := frame(evStart, evTextStart0, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	_, err := CheckStream(strings.NewReader(body))
	var se *StreamError
	if !errors.As(err, &se) {
		t.Fatalf("CheckStream error %v, want a *StreamError", err)
	}
	if d := cmp.Diff(&StreamError{Type: "overloaded_error", Message: "Overloaded"}, se); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestCheckMessage(t *testing.T) {
	ok := `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hi"},` +
		`{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","stop_sequence":null,` +
		`"usage":{"input_tokens":4,"output_tokens":7}}`
	got, err := CheckMessage([]byte(ok))
	if err != nil {
		t.Fatalf("CheckMessage: %v", err)
	}
	want := Message{ID: "msg_1", Model: "m", StopReason: "tool_use", InputTokens: 4, OutputTokens: 7,
		Blocks: []Block{{Type: "text", Text: "Hi"}, {Type: "tool_use", Input: json.RawMessage(`{"a":1}`)}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	bad := []struct{ name, old, new, want string }{
		{"not a message", `"type":"message"`, `"type":"error"`, `"error"`},
		{"bad role", `"role":"assistant"`, `"role":"user"`, "role"},
		{"content not array", `"stop_sequence":null,`, `"stop_sequence":null,"content":"x",`, "want an array"},
		{"null stop_reason", `"stop_reason":"tool_use"`, `"stop_reason":null`, "want a string"},
		{"tool input string", `"input":{"a":1}`, `"input":"{}"`, "not an object"},
		{"usage missing", `"usage":{"input_tokens":4,"output_tokens":7}`, `"u":1`, "usage missing"},
		{"unknown block", `"type":"text","text":"Hi"`, `"type":"image"`, "unexpected block type"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(ok, tt.old, tt.new, 1)
			if body == ok {
				t.Fatalf("replacement %q not found", tt.old)
			}
			if _, err := CheckMessage([]byte(body)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckMessage error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzCheckStream feeds arbitrary bytes to the strict stream reader and
// checker: they must never panic, and a stream they accept must have ended
// with message_stop after a valid stop reason.
func FuzzCheckStream(f *testing.F) {
	f.Add(frame(evStart, evTextStart0, evTextDelta0, evStop0, evDeltaEnd, evMsgStop))
	f.Add(frame(evStart, evTextStart0, evStop0, evToolStart1, partial(1, `{"a":`), partial(1, `1}`), evStop1, evDeltaTool, evMsgStop))
	f.Add(frame(evStart, evPing, `{"type":"error","error":{"type":"api_error","message":"x"}}`))
	f.Add("event: ping\r\ndata: {}\r\n\r\n: c\n")
	f.Fuzz(func(t *testing.T, body string) {
		m, err := CheckStream(strings.NewReader(body))
		if err != nil {
			return
		}
		if !stopReasons[m.StopReason] {
			t.Fatalf("accepted a stream with stop reason %q", m.StopReason)
		}
		for i, b := range m.Blocks {
			if b.Type == "tool_use" && !json.Valid(b.Input) {
				t.Fatalf("block %d: accepted tool input %q", i, b.Input)
			}
		}
	})
}
