package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/pensieve-llm/pensieve/claude"
)

// oaStream converts Chat Completions stream chunks into Anthropic stream
// events with correct block indices. Text streams as it comes. Tool calls
// are collected and sent as blocks of their own when the upstream stream
// ends: OpenAI may interleave the argument fragments of parallel calls,
// while Anthropic blocks are opened and closed one after another.
type oaStream struct {
	sw      *sseWriter
	model   string
	next    int                  // index of the next block
	open    int                  // index of the open text block, or -1
	calls   map[int]*pendingCall // OpenAI tool-call index → the call so far
	order   []int                // OpenAI tool-call indices in order of first appearance
	stop    claude.StopReason
	in, out int
	err     error // first write error: the client is gone
}

// pendingCall is a tool call being received.
type pendingCall struct {
	id, name string
	args     strings.Builder
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

func (s *oaStream) openBlock(b claude.Block) {
	s.closeBlock()
	s.open = s.next
	s.next++
	s.emit(claude.ContentBlockStartEvent{Index: s.open, ContentBlock: b})
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
		if s.open < 0 {
			s.openBlock(claude.TextBlock{})
		}
		s.emit(claude.ContentBlockDeltaEvent{Index: s.open, Delta: claude.TextDelta{Text: *d.Content}})
	}
	for _, tc := range d.ToolCalls {
		c, ok := s.calls[tc.Index]
		if !ok {
			c = &pendingCall{}
			s.calls[tc.Index] = c
			s.order = append(s.order, tc.Index)
		}
		if c.id == "" {
			c.id = tc.ID
		}
		if c.name == "" {
			c.name = tc.Function.Name
		}
		c.args.WriteString(tc.Function.Arguments)
	}
	if f := c.Choices[0].FinishReason; f != nil && *f != "" {
		s.stop = stopReason(*f)
	}
}

// streamFromOpenAI relays an OpenAI stream as an Anthropic one.
func (p *Proxy) streamFromOpenAI(w http.ResponseWriter, body io.Reader, model string) attempt {
	s := &oaStream{sw: newSSEWriter(w), model: model, open: -1, calls: map[int]*pendingCall{}, stop: claude.StopEndTurn}
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
	for _, i := range s.order {
		c := s.calls[i]
		s.openBlock(claude.ToolUseBlock{ID: toolUseID(c.id), Name: c.name, Input: json.RawMessage("{}")})
		if c.args.Len() > 0 {
			s.emit(claude.ContentBlockDeltaEvent{Index: s.open, Delta: claude.InputJSONDelta{PartialJSON: c.args.String()}})
		}
		s.closeBlock()
	}
	if len(s.order) > 0 {
		s.stop = claude.StopToolUse
	}
	s.emit(claude.MessageDeltaEvent{Delta: claude.MessageDelta{StopReason: s.stop}, Usage: claude.DeltaUsage{InputTokens: s.in, OutputTokens: s.out}})
	s.emit(claude.MessageStopEvent{})
	return attempt{committed: true, ok: true, status: 200, in: s.in, out: s.out, err: s.err}
}
