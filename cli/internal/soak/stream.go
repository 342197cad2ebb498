package soak

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Event is one Server-Sent Event as framed by the Messages API (spec §6.1):
// an "event:" line naming it and one "data:" line of JSON.
type Event struct {
	// Name is the value of the event line.
	Name string
	// Data is the JSON of the data line.
	Data []byte
}

// maxLine bounds one SSE line; the spec allows data up to 32 MiB.
const maxLine = 32 << 20

// EventReader reads events from an event-stream body strictly: every event
// needs exactly one event line and one data line and ends with a blank line;
// other fields are errors, ":" comments are skipped. It is not safe for
// concurrent use.
//
// Blank lines between events (as after a comment) dispatch nothing and are
// skipped, as the SSE standard says.
type EventReader struct {
	r    *bufio.Reader
	line int // lines read, for error positions
}

// NewEventReader returns an EventReader over r.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next event. At the clean end of the stream it returns
// io.EOF; a stream that ends inside an event (the final blank line missing)
// is an error, because clients dispatch an event only on that blank line.
func (er *EventReader) Next() (Event, error) {
	var ev Event
	var haveName, haveData, started bool
	for {
		line, err := er.readLine()
		if err == io.EOF {
			if started {
				return Event{}, core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: stream ended inside an event (no blank line after it)", er.line)
			}
			return Event{}, io.EOF
		}
		if err != nil {
			return Event{}, err
		}
		switch {
		case line == "" && !started:
			continue // nothing to dispatch, as after a comment
		case line == "":
			if !haveName {
				return Event{}, core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: event without an event line", er.line)
			}
			if !haveData {
				return Event{}, core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: event %q without a data line", er.line, ev.Name)
			}
			return ev, nil
		case strings.HasPrefix(line, ":"):
			continue // comment
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		started = true
		switch field {
		case "event":
			if haveName {
				return Event{}, core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: second event line in one event", er.line)
			}
			ev.Name, haveName = value, true
		case "data":
			if haveData {
				return Event{}, core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: second data line in one event (the spec frames one)", er.line)
			}
			ev.Data, haveData = []byte(value), true
		default:
			return Event{}, core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: unexpected field %q", er.line, field)
		}
	}
}

// readLine returns one line without its "\n" (or "\r\n"). A final line
// without a newline is an error: the stream was cut.
func (er *EventReader) readLine() (string, error) {
	var buf []byte
	for {
		chunk, err := er.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return "", core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: longer than %d bytes", er.line+1, maxLine)
		}
		switch {
		case err == nil:
			er.line++
			return strings.TrimSuffix(string(buf[:len(buf)-1]), "\r"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) > 0:
			return "", core.Errorf(core.KindInvalid, "soak.EventReader", "line %d: stream ended mid-line", er.line+1)
		case err == io.EOF:
			return "", io.EOF
		}
		return "", core.Errorf(core.KindUnavailable, "soak.EventReader", "reading stream: %w", err)
	}
}

// Message is what a stream or a non-streaming response delivered.
type Message struct {
	// ID is the message id ("msg_…").
	ID string
	// Model is the model that answered.
	Model string
	// Blocks are the content blocks in order.
	Blocks []Block
	// StopReason is why generation ended.
	StopReason string
	// InputTokens and OutputTokens are the usage counts (the last values sent).
	InputTokens, OutputTokens int
}

// Block is one content block of a Message.
type Block struct {
	// Type is "text", "tool_use" or "thinking".
	Type string
	// Text is the text of a text block or the thinking of a thinking block.
	Text string
	// Input is a tool_use block's input object as JSON.
	Input json.RawMessage
}

// stopReasons are the stop reasons Pensieve may send (spec §5).
var stopReasons = map[string]bool{
	"end_turn": true, "max_tokens": true, "stop_sequence": true, "tool_use": true,
	"model_context_window_exceeded": true,
}

// Checker validates the event sequence of one Messages stream (spec §6.2,
// §6.3): message_start first; blocks opened with consecutive indices from 0,
// one at a time, each delta matching its block's type and index; one
// message_delta with a stop reason after the last block; message_stop last.
// ping may come anywhere after message_start; an error event ends the
// stream. A Checker is not safe for concurrent use.
type Checker struct {
	state     checkState
	open      int // index of the open block, -1 when none
	signed    bool
	partial   strings.Builder // partial_json of the open tool_use block
	msg       Message
	streamErr error // the error event, if one ended the stream
}

type checkState int

const (
	stWaitStart checkState = iota // nothing seen yet
	stBlocks                      // after message_start, blocks may come
	stDelta                       // after message_delta: only message_stop
	stStopped                     // after message_stop: nothing more
	stErrored                     // after an error event: nothing more
)

// NewChecker returns a Checker at the start of a stream.
func NewChecker() *Checker { return &Checker{open: -1} }

// Feed checks one event. The first violation is returned; after it the
// Checker's state is unspecified.
func (c *Checker) Feed(ev Event) error {
	var head struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(ev.Data, &head); err != nil {
		return violation("event %q: data is not a JSON object: %v", ev.Name, err)
	}
	if head.Type == nil || *head.Type != ev.Name {
		return violation("event %q: data type %s does not equal the event name", ev.Name, strOrNil(head.Type))
	}
	switch c.state {
	case stStopped:
		return violation("event %q after message_stop", ev.Name)
	case stErrored:
		return violation("event %q after an error event", ev.Name)
	}
	if c.state == stWaitStart && ev.Name != "message_start" {
		return violation("first event is %q, want message_start", ev.Name)
	}
	switch ev.Name {
	case "message_start":
		return c.messageStart(ev.Data)
	case "content_block_start":
		return c.blockStart(ev.Data)
	case "content_block_delta":
		return c.blockDelta(ev.Data)
	case "content_block_stop":
		return c.blockStop(ev.Data)
	case "message_delta":
		return c.messageDelta(ev.Data)
	case "message_stop":
		if c.state != stDelta {
			return violation("message_stop before message_delta")
		}
		c.state = stStopped
		return nil
	case "ping":
		return nil
	case "error":
		return c.errorEvent(ev.Data)
	}
	return violation("unknown event %q", ev.Name)
}

// Done reports whether the stream ended properly with message_stop.
func (c *Checker) Done() bool { return c.state == stStopped }

// StreamError returns the error an error event reported, or nil.
func (c *Checker) StreamError() error { return c.streamErr }

// Message returns what the stream has delivered so far.
func (c *Checker) Message() Message { return c.msg }

// Finish checks the end of a stream that reached EOF: it must have ended
// with message_stop, or with an error event (reported as that error).
func (c *Checker) Finish() error {
	switch c.state {
	case stStopped:
		return nil
	case stErrored:
		return c.streamErr
	}
	return violation("stream ended without message_stop")
}

func (c *Checker) messageStart(data []byte) error {
	if c.state != stWaitStart {
		return violation("second message_start")
	}
	var ev struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Message == nil {
		return violation("message_start: no message object")
	}
	m := ev.Message
	if err := wantString(m, "type", "message"); err != nil {
		return violation("message_start: %v", err)
	}
	if err := wantString(m, "role", "assistant"); err != nil {
		return violation("message_start: %v", err)
	}
	id, err := stringField(m, "id")
	if err != nil || !strings.HasPrefix(id, "msg_") {
		return violation("message_start: id %q does not start with msg_", id)
	}
	model, err := stringField(m, "model")
	if err != nil || model == "" {
		return violation("message_start: model missing")
	}
	if raw := string(bytes.TrimSpace(m["content"])); raw != "[]" {
		return violation("message_start: content is %s, want []", orMissing(raw))
	}
	for _, k := range []string{"stop_reason", "stop_sequence"} {
		if raw := string(bytes.TrimSpace(m[k])); raw != "null" {
			return violation("message_start: %s is %s, want null", k, orMissing(raw))
		}
	}
	in, out, err := usage(m["usage"], true)
	if err != nil {
		return violation("message_start: %v", err)
	}
	c.msg = Message{ID: id, Model: model, InputTokens: in, OutputTokens: out}
	c.state = stBlocks
	return nil
}

func (c *Checker) blockStart(data []byte) error {
	if c.state != stBlocks {
		return violation("content_block_start after message_delta")
	}
	var ev struct {
		Index *int                       `json:"index"`
		Block map[string]json.RawMessage `json:"content_block"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Index == nil || ev.Block == nil {
		return violation("content_block_start: index or content_block missing")
	}
	if c.open >= 0 {
		return violation("content_block_start %d while block %d is open", *ev.Index, c.open)
	}
	if *ev.Index != len(c.msg.Blocks) {
		return violation("content_block_start index %d, want %d", *ev.Index, len(c.msg.Blocks))
	}
	typ, err := stringField(ev.Block, "type")
	if err != nil {
		return violation("content_block_start: %v", err)
	}
	b := Block{Type: typ}
	switch typ {
	case "text":
		if _, err := stringField(ev.Block, "text"); err != nil {
			return violation("content_block_start text: %v", err)
		}
	case "tool_use":
		id, err := stringField(ev.Block, "id")
		if err != nil || !strings.HasPrefix(id, "toolu_") {
			return violation("content_block_start tool_use: id %q does not start with toolu_", id)
		}
		if name, err := stringField(ev.Block, "name"); err != nil || name == "" {
			return violation("content_block_start tool_use: name missing")
		}
		if raw := string(bytes.TrimSpace(ev.Block["input"])); raw != "{}" {
			return violation("content_block_start tool_use: input is %s, want {}", orMissing(raw))
		}
	case "thinking":
		for _, k := range []string{"thinking", "signature"} {
			if _, err := stringField(ev.Block, k); err != nil {
				return violation("content_block_start thinking: %v", err)
			}
		}
	default:
		return violation("content_block_start: unexpected block type %q", typ)
	}
	c.msg.Blocks = append(c.msg.Blocks, b)
	c.open, c.signed = *ev.Index, false
	c.partial.Reset()
	return nil
}

// deltaTypes lists the delta types each block type accepts.
var deltaTypes = map[string]map[string]string{ // block type → delta type → its string field
	"text":     {"text_delta": "text", "citations_delta": ""},
	"tool_use": {"input_json_delta": "partial_json"},
	"thinking": {"thinking_delta": "thinking", "signature_delta": "signature"},
}

func (c *Checker) blockDelta(data []byte) error {
	var ev struct {
		Index *int                       `json:"index"`
		Delta map[string]json.RawMessage `json:"delta"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Index == nil || ev.Delta == nil {
		return violation("content_block_delta: index or delta missing")
	}
	if c.open < 0 || *ev.Index != c.open {
		return violation("content_block_delta index %d, open block %d", *ev.Index, c.open)
	}
	b := &c.msg.Blocks[c.open]
	typ, _ := stringField(ev.Delta, "type")
	field, ok := deltaTypes[b.Type][typ]
	if !ok {
		return violation("content_block_delta: %q delta in a %s block", typ, b.Type)
	}
	if field == "" {
		return nil
	}
	s, err := stringField(ev.Delta, field)
	if err != nil {
		return violation("content_block_delta %s: %v", typ, err)
	}
	switch typ {
	case "text_delta", "thinking_delta":
		if c.signed {
			return violation("content_block_delta: %s after signature_delta", typ)
		}
		b.Text += s
	case "input_json_delta":
		c.partial.WriteString(s)
	case "signature_delta":
		if c.signed {
			return violation("content_block_delta: second signature_delta")
		}
		c.signed = true
	}
	return nil
}

func (c *Checker) blockStop(data []byte) error {
	var ev struct {
		Index *int `json:"index"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Index == nil {
		return violation("content_block_stop: index missing")
	}
	if c.open < 0 || *ev.Index != c.open {
		return violation("content_block_stop index %d, open block %d", *ev.Index, c.open)
	}
	b := &c.msg.Blocks[c.open]
	if b.Type == "tool_use" {
		input := c.partial.String()
		if input == "" {
			input = "{}"
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(input), &obj); err != nil || obj == nil {
			return violation("tool_use block %d: partial_json fragments do not form a JSON object: %q", c.open, input)
		}
		b.Input = json.RawMessage(input)
	}
	c.open = -1
	return nil
}

func (c *Checker) messageDelta(data []byte) error {
	if c.state != stBlocks {
		return violation("second message_delta")
	}
	if c.open >= 0 {
		return violation("message_delta while block %d is open", c.open)
	}
	var ev struct {
		Delta map[string]json.RawMessage `json:"delta"`
		Usage json.RawMessage            `json:"usage"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Delta == nil {
		return violation("message_delta: delta missing")
	}
	reason, err := checkStop(ev.Delta)
	if err != nil {
		return violation("message_delta: %v", err)
	}
	if reason == "tool_use" && !hasTool(c.msg.Blocks) {
		return violation("message_delta: stop_reason tool_use without a tool_use block")
	}
	in, out, err := usage(ev.Usage, false)
	if err != nil {
		return violation("message_delta: %v", err)
	}
	if in >= 0 {
		c.msg.InputTokens = in
	}
	c.msg.StopReason, c.msg.OutputTokens = reason, out
	c.state = stDelta
	return nil
}

// StreamError is the error an error event carried (spec §6.5).
type StreamError struct {
	// Type is the Anthropic error type, e.g. "overloaded_error".
	Type string
	// Message is the error message.
	Message string
}

func (e *StreamError) Error() string { return "error event: " + e.Type + ": " + e.Message }

func (c *Checker) errorEvent(data []byte) error {
	var ev struct {
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Error == nil || ev.Error.Type == "" {
		return violation("error event without error.type")
	}
	c.streamErr = &StreamError{Type: ev.Error.Type, Message: ev.Error.Message}
	c.state = stErrored
	return nil
}

// checkStop validates stop_reason and stop_sequence of a message_delta's
// delta or a message: the reason is known and non-null; stop_sequence is
// present, a string exactly when the reason is stop_sequence.
func checkStop(m map[string]json.RawMessage) (string, error) {
	reason, err := stringField(m, "stop_reason")
	if err != nil {
		return "", err
	}
	if !stopReasons[reason] {
		return "", fmt.Errorf("unknown stop_reason %q", reason)
	}
	raw, ok := m["stop_sequence"]
	if !ok {
		return "", errors.New("stop_sequence missing")
	}
	isNull := string(bytes.TrimSpace(raw)) == "null"
	if (reason == "stop_sequence") == isNull {
		return "", fmt.Errorf("stop_sequence %s with stop_reason %q", raw, reason)
	}
	return reason, nil
}

// usage reads input_tokens (−1 when absent and not required) and
// output_tokens (always required) from a usage object.
func usage(raw json.RawMessage, needInput bool) (in, out int, err error) {
	var u struct {
		In  *int `json:"input_tokens"`
		Out *int `json:"output_tokens"`
	}
	if err := json.Unmarshal(raw, &u); err != nil || raw == nil {
		return 0, 0, errors.New("usage missing")
	}
	if u.Out == nil || *u.Out < 0 {
		return 0, 0, errors.New("usage.output_tokens missing or negative")
	}
	in = -1
	if u.In != nil {
		in = *u.In
	}
	if needInput && in < 0 {
		return 0, 0, errors.New("usage.input_tokens missing or negative")
	}
	return in, *u.Out, nil
}

func hasTool(bs []Block) bool {
	for _, b := range bs {
		if b.Type == "tool_use" {
			return true
		}
	}
	return false
}

func stringField(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok {
		return "", fmt.Errorf("%s missing", key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || string(bytes.TrimSpace(raw)) == "null" {
		return "", fmt.Errorf("%s is %s, want a string", key, raw)
	}
	return s, nil
}

func wantString(m map[string]json.RawMessage, key, want string) error {
	got, err := stringField(m, key)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s is %q, want %q", key, got, want)
	}
	return nil
}

func violation(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, "soak.Checker", format, args...)
}

func strOrNil(s *string) string {
	if s == nil {
		return "missing"
	}
	return fmt.Sprintf("%q", *s)
}

func orMissing(raw string) string {
	if raw == "" {
		return "missing"
	}
	return raw
}

// CheckStream reads a whole event stream from r and checks it. It returns
// what was delivered and the first framing or grammar violation, or the
// stream's error event.
func CheckStream(r io.Reader) (Message, error) {
	er, c := NewEventReader(r), NewChecker()
	for {
		ev, err := er.Next()
		if err == io.EOF {
			return c.Message(), c.Finish()
		}
		if err != nil {
			return c.Message(), err
		}
		if err := c.Feed(ev); err != nil {
			return c.Message(), err
		}
	}
}
