package claude

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"github.com/pensieve-llm/pensieve/core"
)

// streamConfig is what a Stream needs to know about its request.
type streamConfig struct {
	model           string
	tools           []Tool // callable tools; none: calls are not parsed
	thinkingOn      bool   // thinking blocks are shown
	omitThinking    bool   // display "omitted": empty thinking text, signature kept
	startsInside    bool   // the prompt opened a reasoning block
	prefill         bool   // the output continues an assistant prefill
	think           thinkTags
	disableParallel bool
	maxTokens       int
	sigKey          []byte
}

// StreamOptions configures a Stream.
type StreamOptions struct {
	// MessageID is the response id; "" means a new "msg_…" id.
	MessageID string
	// NewToolID returns the id of each tool_use block; nil means new
	// "toolu_…" ids.
	NewToolID func() string
}

// block kinds of the open content block
const (
	openNone = iota
	openText
	openThinking
	openTool
)

// Stream converts the engine's events for one request into Messages
// stream events (§6): text deltas, thinking blocks with signatures, and
// tool_use blocks whose input streams as input_json_delta. It is a pure
// state machine: no I/O, no goroutines. A Stream serves one response and
// is not safe for concurrent use.
type Stream struct {
	cfg        streamConfig
	pr         *Prepared
	id         string
	newToolID  func() string
	parser     *outputParser
	started    bool
	finished   bool
	index      int // index of the next block
	open       int // kind of the open block
	thinkBuf   []byte
	calls      int  // tool calls emitted
	callEnded  bool // the output's last block is a complete tool call
	tokens     int  // tokens seen, for usage when the engine sends none
	usage      core.Usage
	out        []StreamEvent
	stopReason StopReason
}

// NewStream returns the Stream of one response to pr.
func (pr *Prepared) NewStream(o StreamOptions) *Stream {
	s := &Stream{cfg: pr.cfg, pr: pr, id: o.MessageID, newToolID: o.NewToolID}
	if s.id == "" {
		s.id = NewID("msg_")
	}
	if s.newToolID == nil {
		s.newToolID = func() string { return NewID("toolu_") }
	}
	s.parser = newOutputParser(pr.cfg.tools, pr.cfg.startsInside, pr.cfg.prefill, pr.cfg.think)
	s.usage.PromptTokens = pr.InputTokens()
	return s
}

// Start returns message_start, the first event of the stream, or nothing
// when it was already returned. A server may send it as soon as the
// prompt is prepared; otherwise the first Feed returns it.
func (s *Stream) Start() []StreamEvent {
	if s.started {
		return nil
	}
	s.started = true
	u := s.promptUsage()
	return []StreamEvent{MessageStartEvent{Message: Message{ID: s.id, Model: s.cfg.model, Content: []Block{},
		Usage: Usage{InputTokens: u.InputTokens, CacheReadInputTokens: u.CacheReadInputTokens,
			CacheCreation: &CacheCreation{}, OutputTokens: s.tokens, ServiceTier: "standard"}}}}
}

// promptUsage splits the prompt tokens into cached and fresh (§10).
func (s *Stream) promptUsage() DeltaUsage {
	cached := min(s.usage.CachedTokens, s.usage.PromptTokens)
	return DeltaUsage{InputTokens: s.usage.PromptTokens - cached, CacheReadInputTokens: cached}
}

// Finished reports whether the stream has ended: message_stop or an error
// event was returned. A Stream can finish before the engine does (one
// tool call with disable_parallel_tool_use); the caller must then cancel
// the generation's context.
func (s *Stream) Finished() bool { return s.finished }

// Feed takes one engine event and returns the stream events it completes.
// A failed generation (Err set) yields one ErrorEvent and finishes the
// stream without message_stop; if nothing was returned before it, the
// server answers with a plain HTTP error instead (§6.1).
func (s *Stream) Feed(ev core.Event) []StreamEvent {
	if s.finished {
		return nil
	}
	s.out = s.out[:0]
	if ev.Err != nil {
		s.finished = true
		return append(s.out, ErrorEvent{Error: errorDetailOf(ev.Err)})
	}
	s.tokens += len(ev.Tokens)
	if ev.Usage.PromptTokens > 0 {
		s.usage = ev.Usage
	}
	s.out = append(s.out, s.Start()...)
	if ev.Text != "" {
		s.segments(s.parser.push(ev.Text))
	}
	if ev.Done && !s.finished {
		s.segments(s.parser.finish())
		s.finish(ev)
	}
	return s.out
}

// segments turns parsed segments into block events.
func (s *Stream) segments(segs []segment) {
	for _, sg := range segs {
		if s.finished {
			return
		}
		switch sg.kind {
		case segText:
			s.openBlock(openText)
			s.emitDelta(TextDelta{Text: sg.text})
			s.callEnded = false
		case segThinking:
			if !s.cfg.thinkingOn {
				continue // thinking was not asked for: it is dropped
			}
			s.openBlock(openThinking)
			s.thinkBuf = append(s.thinkBuf, sg.text...)
			if !s.cfg.omitThinking {
				s.emitDelta(ThinkingDelta{Thinking: sg.text})
			}
		case segThinkingEnd:
			if s.open == openThinking {
				s.closeBlock()
			}
		case segToolStart:
			s.closeBlock()
			s.out = append(s.out, ContentBlockStartEvent{Index: s.index,
				ContentBlock: ToolUseBlock{ID: s.newToolID(), Name: sg.text, Input: json.RawMessage("{}")}})
			s.open = openTool
		case segToolArgs:
			s.emitDelta(InputJSONDelta{PartialJSON: sg.text})
		case segToolEnd:
			s.closeBlock()
			s.calls++
			s.callEnded = sg.complete
			if s.cfg.disableParallel {
				s.finish(core.Event{StopReason: core.StopEndTurn})
			}
		}
	}
}

// openBlock makes a block of kind the open one.
func (s *Stream) openBlock(kind int) {
	if s.open == kind {
		return
	}
	s.closeBlock()
	var b Block = TextBlock{}
	if kind == openThinking {
		b = ThinkingBlock{}
		s.thinkBuf = s.thinkBuf[:0]
	}
	s.out = append(s.out, ContentBlockStartEvent{Index: s.index, ContentBlock: b})
	s.open = kind
}

func (s *Stream) emitDelta(d Delta) {
	s.out = append(s.out, ContentBlockDeltaEvent{Index: s.index, Delta: d})
}

// closeBlock ends the open block; a thinking block gets its signature
// first (§6.4).
func (s *Stream) closeBlock() {
	if s.open == openNone {
		return
	}
	if s.open == openThinking {
		s.emitDelta(SignatureDelta{Signature: signature(s.cfg.sigKey, s.thinkBuf)})
	}
	s.out = append(s.out, ContentBlockStopEvent{Index: s.index})
	s.index++
	s.open = openNone
}

// signature is the opaque signature of a thinking text: an HMAC that
// lets Pensieve recognise its own blocks; foreign ones are accepted too.
func signature(key, thinking []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(thinking)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// finish closes the message: the last block, message_delta, message_stop.
func (s *Stream) finish(ev core.Event) {
	s.closeBlock()
	reason, seq := s.stop(ev)
	s.stopReason = reason
	if ev.Usage.PromptTokens > 0 {
		s.usage = ev.Usage
	}
	out := s.usage.GeneratedTokens
	if out == 0 {
		out = s.tokens
	}
	u := s.promptUsage()
	u.OutputTokens = out
	s.out = append(s.out, MessageDeltaEvent{Delta: MessageDelta{StopReason: reason, StopSequence: seq}, Usage: u},
		MessageStopEvent{})
	s.finished = true
}

// stop maps the engine's stop reason (§5): a cut-off output reports the
// cut, an output ending in a complete tool call reports tool_use.
func (s *Stream) stop(ev core.Event) (StopReason, *string) {
	cut := ev.StopReason == core.StopMaxTokens || ev.StopReason == core.StopContextLimit
	switch {
	case s.calls > 0 && (!cut || s.callEnded):
		return StopToolUse, nil
	case ev.StopReason == core.StopContextLimit:
		return StopContextWindow, nil
	case ev.StopReason == core.StopMaxTokens:
		if s.pr.Request.MaxTokens < s.cfg.maxTokens {
			return StopContextWindow, nil // the context, not max_tokens, ran out
		}
		return StopMaxTokens, nil
	case ev.StopReason == core.StopSequence:
		seq := ev.StopSequence
		return StopSequence, &seq
	}
	return StopEndTurn, nil
}

// Accumulator builds the non-streaming Message from stream events, so that
// a non-streamed response is exactly the sum of the streamed one.
type Accumulator struct {
	msg   Message
	input map[int][]byte // tool_use input fragments by block index
	err   error
	done  bool
}

// Add applies one event. It fails on events out of order (§6.2).
func (a *Accumulator) Add(ev StreamEvent) error {
	if a.err != nil {
		return a.err
	}
	switch e := ev.(type) {
	case MessageStartEvent:
		a.msg = e.Message
		a.msg.Content = nil
		a.input = map[int][]byte{}
	case ContentBlockStartEvent:
		if e.Index != len(a.msg.Content) {
			return a.fail("content block %d started, expected %d", e.Index, len(a.msg.Content))
		}
		a.msg.Content = append(a.msg.Content, e.ContentBlock)
	case ContentBlockDeltaEvent:
		if e.Index != len(a.msg.Content)-1 {
			return a.fail("delta for block %d, the open block is %d", e.Index, len(a.msg.Content)-1)
		}
		return a.delta(e)
	case ContentBlockStopEvent:
		if e.Index != len(a.msg.Content)-1 {
			return a.fail("stop for block %d, the open block is %d", e.Index, len(a.msg.Content)-1)
		}
		if tu, ok := a.msg.Content[e.Index].(ToolUseBlock); ok {
			if in := a.input[e.Index]; len(in) > 0 {
				tu.Input = json.RawMessage(in)
			}
			a.msg.Content[e.Index] = tu
		}
	case MessageDeltaEvent:
		a.msg.StopReason, a.msg.StopSequence = e.Delta.StopReason, e.Delta.StopSequence
		a.msg.Usage.InputTokens = e.Usage.InputTokens
		a.msg.Usage.CacheReadInputTokens = e.Usage.CacheReadInputTokens
		a.msg.Usage.CacheCreationInputTokens = e.Usage.CacheCreationInputTokens
		a.msg.Usage.OutputTokens = e.Usage.OutputTokens
	case MessageStopEvent:
		a.done = true
	case ErrorEvent:
		a.err = core.E(kindOfErrorType(e.Error.Type), "claude.Accumulator", &APIError{Reason: e.Error.Message})
		return a.err
	}
	return nil
}

func (a *Accumulator) delta(e ContentBlockDeltaEvent) error {
	switch d := e.Delta.(type) {
	case TextDelta:
		if t, ok := a.msg.Content[e.Index].(TextBlock); ok {
			t.Text += d.Text
			a.msg.Content[e.Index] = t
			return nil
		}
	case ThinkingDelta:
		if t, ok := a.msg.Content[e.Index].(ThinkingBlock); ok {
			t.Thinking += d.Thinking
			a.msg.Content[e.Index] = t
			return nil
		}
	case SignatureDelta:
		if t, ok := a.msg.Content[e.Index].(ThinkingBlock); ok {
			t.Signature += d.Signature
			a.msg.Content[e.Index] = t
			return nil
		}
	case InputJSONDelta:
		if _, ok := a.msg.Content[e.Index].(ToolUseBlock); ok {
			a.input[e.Index] = append(a.input[e.Index], d.PartialJSON...)
			return nil
		}
	case CitationsDelta:
		if t, ok := a.msg.Content[e.Index].(TextBlock); ok {
			t.Citations = append(t.Citations, d.Citation)
			a.msg.Content[e.Index] = t
			return nil
		}
	}
	return a.fail("%s does not apply to a %s block", e.Delta.DeltaType(), a.msg.Content[e.Index].Type())
}

func (a *Accumulator) fail(format string, args ...any) error {
	a.err = core.Errorf(core.KindInternal, "claude.Accumulator", format, args...)
	return a.err
}

// Message returns the complete message. It fails when the stream ended
// with an error event or has not reached message_stop.
func (a *Accumulator) Message() (*Message, error) {
	if a.err != nil {
		return nil, a.err
	}
	if !a.done {
		return nil, core.Errorf(core.KindInternal, "claude.Accumulator", "the stream has not ended")
	}
	m := a.msg
	if m.Content == nil {
		m.Content = []Block{}
	}
	return &m, nil
}

// kindOfErrorType maps an error type back to a kind.
func kindOfErrorType(t ErrorType) core.Kind {
	switch t {
	case ErrInvalidRequest:
		return core.KindInvalid
	case ErrNotFound:
		return core.KindNotFound
	case ErrOverloaded:
		return core.KindOverloaded
	case ErrRateLimit:
		return core.KindRateLimited
	case ErrAuthentication:
		return core.KindUnauthenticated
	case ErrPermission:
		return core.KindPermission
	case ErrTooLarge:
		return core.KindTooLarge
	case ErrTimeout:
		return core.KindCanceled
	}
	return core.KindInternal
}

// Collect runs a non-streaming response: it feeds events to s until the
// message is complete and returns it. It returns early when ctx ends. If
// s finishes before the engine (see Stream.Finished), the caller must
// cancel the generation's context; the channel may then still hold events.
func Collect(ctx context.Context, events <-chan core.Event, s *Stream) (*Message, error) {
	var acc Accumulator
	for _, e := range s.Start() {
		_ = acc.Add(e)
	}
	for !s.Finished() {
		select {
		case <-ctx.Done():
			return nil, core.E(core.KindCanceled, "claude.Collect", ctx.Err())
		case ev, ok := <-events:
			if !ok {
				return nil, core.Errorf(core.KindInternal, "claude.Collect", "the generation ended without a final event")
			}
			if ev.Err != nil {
				return nil, ev.Err
			}
			for _, e := range s.Feed(ev) {
				if err := acc.Add(e); err != nil {
					return nil, err
				}
			}
		}
	}
	return acc.Message()
}
