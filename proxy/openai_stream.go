package proxy

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/pensieve-llm/pensieve/claude"
)

// oaStream converts Chat Completions stream chunks into Anthropic stream
// events with correct block indices: text and each tool call get blocks of
// their own, opened and closed in order.
type oaStream struct {
	sw      *sseWriter
	model   string
	next    int         // index of the next block
	open    int         // index of the open block, or -1
	isText  bool        // the open block is text
	tools   map[int]int // OpenAI tool-call index → block index
	stop    claude.StopReason
	in, out int
	err     error // first write error: the client is gone
}

func (s *oaStream) emit(ev claude.StreamEvent) {
	if s.err != nil {
		return
	}
	data, err := claude.MarshalEvent(ev)
	if err == nil {
		err = s.sw.write(string(ev.EventType()), data)
	}
	s.err = err
}

func (s *oaStream) closeBlock() {
	if s.open >= 0 {
		s.emit(claude.ContentBlockStopEvent{Index: s.open})
		s.open = -1
	}
}

func (s *oaStream) openBlock(b claude.Block, text bool) int {
	s.closeBlock()
	s.open, s.isText = s.next, text
	s.next++
	s.emit(claude.ContentBlockStartEvent{Index: s.open, ContentBlock: b})
	return s.open
}

// chunk applies one Chat Completions chunk.
func (s *oaStream) chunk(c *oaResponse) {
	if c.Usage != nil {
		s.in, s.out = c.Usage.PromptTokens, c.Usage.CompletionTokens
	}
	if len(c.Choices) == 0 {
		return
	}
	d := c.Choices[0].Delta
	if d.Content != nil && *d.Content != "" {
		if s.open < 0 || !s.isText {
			s.openBlock(claude.TextBlock{}, true)
		}
		s.emit(claude.ContentBlockDeltaEvent{Index: s.open, Delta: claude.TextDelta{Text: *d.Content}})
	}
	for _, tc := range d.ToolCalls {
		idx, ok := s.tools[tc.Index]
		if !ok {
			idx = s.openBlock(claude.ToolUseBlock{ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: json.RawMessage("{}")}, false)
			s.tools[tc.Index] = idx
		}
		if tc.Function.Arguments != "" {
			s.emit(claude.ContentBlockDeltaEvent{Index: idx, Delta: claude.InputJSONDelta{PartialJSON: tc.Function.Arguments}})
		}
	}
	if f := c.Choices[0].FinishReason; f != nil && *f != "" {
		s.stop = stopReason(*f)
	}
}

// streamFromOpenAI relays an OpenAI stream as an Anthropic one.
func (p *Proxy) streamFromOpenAI(w http.ResponseWriter, body io.Reader, model string) attempt {
	s := &oaStream{sw: newSSEWriter(w), model: model, open: -1, tools: map[int]int{}, stop: claude.StopEndTurn}
	s.sw.start()
	s.emit(claude.MessageStartEvent{Message: claude.Message{ID: claude.NewID("msg_"), Model: model}})
	sr := NewSSEReader(body)
	for s.err == nil && sr.Next() {
		data := sr.Event().Data
		if string(data) == "[DONE]" {
			break
		}
		var c oaResponse
		if json.Unmarshal(data, &c) != nil {
			continue
		}
		s.chunk(&c)
	}
	if err := sr.Err(); err != nil && s.err == nil {
		s.emit(claude.ErrorEvent{Error: claude.ErrorDetail{Type: claude.ErrorType("api_error"), Message: "upstream stream failed: " + err.Error()}})
		return attempt{committed: true, status: 200, in: s.in, out: s.out, err: err}
	}
	s.closeBlock()
	if len(s.tools) > 0 {
		s.stop = claude.StopToolUse
	}
	s.emit(claude.MessageDeltaEvent{Delta: claude.MessageDelta{StopReason: s.stop}, Usage: claude.DeltaUsage{InputTokens: s.in, OutputTokens: s.out}})
	s.emit(claude.MessageStopEvent{})
	return attempt{committed: true, ok: true, status: 200, in: s.in, out: s.out, err: s.err}
}
