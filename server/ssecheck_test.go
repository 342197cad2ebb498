package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// sseEvent is one parsed event of a raw stream.
type sseEvent struct {
	Name string
	Data json.RawMessage
}

// parseSSE splits a raw body into events, enforcing spec §6.1's framing:
// an "event:" line, exactly one "data:" line, a blank line; nothing else.
func parseSSE(body []byte) ([]sseEvent, error) {
	if !bytes.HasSuffix(body, []byte("\n\n")) {
		return nil, fmt.Errorf("stream does not end with a blank line: %q", tail(body))
	}
	var events []sseEvent
	var cur sseEvent
	var lines int
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 32<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if lines != 2 || cur.Name == "" || cur.Data == nil {
				return nil, fmt.Errorf("event %d: want one event line and one data line, got %d lines", len(events), lines)
			}
			events = append(events, cur)
			cur, lines = sseEvent{}, 0
		case strings.HasPrefix(line, "event: ") && lines == 0:
			cur.Name = strings.TrimPrefix(line, "event: ")
			lines++
		case strings.HasPrefix(line, "data: ") && lines == 1:
			cur.Data = json.RawMessage(strings.TrimPrefix(line, "data: "))
			lines++
		default:
			return nil, fmt.Errorf("event %d: unexpected line %q", len(events), line)
		}
	}
	return events, sc.Err()
}

func tail(b []byte) []byte { return b[max(0, len(b)-40):] }

// streamSummary is what a grammatical stream says.
type streamSummary struct {
	Text         string            // concatenated text deltas
	ToolInputs   []json.RawMessage // per tool_use block, concatenated partial_json
	StopReason   string
	StopSequence *string
	InputTokens  int
	OutputTokens int
	Pings        int
	ErrorType    string // set when the stream ended with an error event
	MessageID    string
	Model        string
}

// checkStream validates the event sequence of spec §6.2–6.3 (checklist
// 42–46, 49, 52) and summarises it.
func checkStream(events []sseEvent) (streamSummary, error) {
	var sum streamSummary
	type head struct {
		Type    string          `json:"type"`
		Index   *int            `json:"index"`
		Message json.RawMessage `json:"message"`
		Block   json.RawMessage `json:"content_block"`
		Delta   json.RawMessage `json:"delta"`
		Usage   json.RawMessage `json:"usage"`
		Error   *struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	open, next := -1, 0 // the open block index, the next expected index
	var blockType string
	var partial strings.Builder
	deltas := 0
	for i, ev := range events {
		var h head
		if err := json.Unmarshal(ev.Data, &h); err != nil {
			return sum, fmt.Errorf("event %d: data is not JSON: %v", i, err)
		}
		if h.Type != ev.Name {
			return sum, fmt.Errorf("event %d: name %q but type %q", i, ev.Name, h.Type)
		}
		if i == 0 && h.Type != "message_start" {
			return sum, fmt.Errorf("stream starts with %q", h.Type)
		}
		if sum.ErrorType != "" {
			return sum, fmt.Errorf("event %d (%s) after the error event", i, h.Type)
		}
		switch h.Type {
		case "message_start":
			if i != 0 {
				return sum, fmt.Errorf("message_start at %d", i)
			}
			var m struct {
				ID           string            `json:"id"`
				Type         string            `json:"type"`
				Role         string            `json:"role"`
				Model        string            `json:"model"`
				Content      []json.RawMessage `json:"content"`
				StopReason   *string           `json:"stop_reason"`
				StopSequence *string           `json:"stop_sequence"`
				Usage        map[string]any    `json:"usage"`
			}
			if err := json.Unmarshal(h.Message, &m); err != nil {
				return sum, err
			}
			raw := string(h.Message)
			if m.Type != "message" || m.Role != "assistant" || !strings.HasPrefix(m.ID, "msg_") ||
				m.Content == nil || len(m.Content) != 0 || m.StopReason != nil || m.StopSequence != nil ||
				!strings.Contains(raw, `"stop_reason":null`) || !strings.Contains(raw, `"stop_sequence":null`) {
				return sum, fmt.Errorf("bad message_start: %s", raw)
			}
			if _, ok := m.Usage["input_tokens"]; !ok {
				return sum, fmt.Errorf("message_start without input_tokens: %s", raw)
			}
			sum.MessageID, sum.Model = m.ID, m.Model
		case "content_block_start":
			if h.Index == nil || *h.Index != next || open != -1 {
				return sum, fmt.Errorf("event %d: block start index %v, want %d with no block open", i, h.Index, next)
			}
			var b map[string]any
			if err := json.Unmarshal(h.Block, &b); err != nil {
				return sum, err
			}
			blockType, _ = b["type"].(string)
			switch blockType {
			case "text":
				if _, ok := b["text"]; !ok {
					return sum, fmt.Errorf("text block start without text: %s", h.Block)
				}
			case "tool_use":
				if in, ok := b["input"].(map[string]any); !ok || len(in) != 0 {
					return sum, fmt.Errorf("tool_use block start without input {}: %s", h.Block)
				}
				partial.Reset()
			}
			open = *h.Index
		case "content_block_delta":
			if h.Index == nil || *h.Index != open {
				return sum, fmt.Errorf("event %d: delta for block %v, open %d", i, h.Index, open)
			}
			var d struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			}
			if err := json.Unmarshal(h.Delta, &d); err != nil {
				return sum, err
			}
			switch d.Type {
			case "text_delta":
				sum.Text += d.Text
			case "input_json_delta":
				partial.WriteString(d.PartialJSON)
			}
		case "content_block_stop":
			if h.Index == nil || *h.Index != open {
				return sum, fmt.Errorf("event %d: stop for block %v, open %d", i, h.Index, open)
			}
			if blockType == "tool_use" {
				in := partial.String()
				if in == "" {
					in = "{}"
				}
				sum.ToolInputs = append(sum.ToolInputs, json.RawMessage(in))
			}
			open, next = -1, next+1
		case "message_delta":
			deltas++
			if open != -1 || deltas > 1 {
				return sum, fmt.Errorf("event %d: message_delta with block open or repeated", i)
			}
			var d struct {
				StopReason   *string `json:"stop_reason"`
				StopSequence *string `json:"stop_sequence"`
			}
			if err := json.Unmarshal(h.Delta, &d); err != nil {
				return sum, err
			}
			if d.StopReason == nil || !strings.Contains(string(h.Delta), `"stop_sequence"`) {
				return sum, fmt.Errorf("bad message_delta: %s", ev.Data)
			}
			var u struct {
				InputTokens  int  `json:"input_tokens"`
				OutputTokens *int `json:"output_tokens"`
			}
			if err := json.Unmarshal(h.Usage, &u); err != nil || u.OutputTokens == nil {
				return sum, fmt.Errorf("message_delta usage without output_tokens: %s", ev.Data)
			}
			sum.StopReason, sum.StopSequence = *d.StopReason, d.StopSequence
			sum.InputTokens, sum.OutputTokens = u.InputTokens, *u.OutputTokens
		case "message_stop":
			if deltas != 1 || i != len(events)-1 {
				return sum, fmt.Errorf("message_stop at %d of %d after %d message_delta", i, len(events), deltas)
			}
		case "ping":
			sum.Pings++
		case "error":
			if h.Error == nil || h.Error.Type == "" {
				return sum, fmt.Errorf("error event without error.type: %s", ev.Data)
			}
			sum.ErrorType = h.Error.Type
		default:
			return sum, fmt.Errorf("unknown event %q", h.Type)
		}
	}
	if sum.ErrorType == "" && (len(events) == 0 || events[len(events)-1].Name != "message_stop") {
		return sum, fmt.Errorf("stream ends without message_stop or error")
	}
	return sum, nil
}
