package claude

import (
	"bytes"
	"encoding/json"
)

// EventType is the "type" of a stream event and the name on its SSE
// "event:" line (§6.1).
type EventType string

// Stream event types (§6.3).
const (
	EventMessageStart      EventType = "message_start"
	EventContentBlockStart EventType = "content_block_start"
	EventContentBlockDelta EventType = "content_block_delta"
	EventContentBlockStop  EventType = "content_block_stop"
	EventMessageDelta      EventType = "message_delta"
	EventMessageStop       EventType = "message_stop"
	EventPing              EventType = "ping"
	EventError             EventType = "error"
)

// StreamEvent is one server-sent event of a streamed message. The set of
// implementations is closed: the *Event types of this file.
type StreamEvent interface {
	// EventType returns the event's "type", which is also its SSE name.
	EventType() EventType
	isStreamEvent()
}

// MessageStartEvent opens a stream: the message with empty content and
// null stop fields.
type MessageStartEvent struct {
	Message Message `json:"message"`
}

// ContentBlockStartEvent opens block Index with its empty form: text with
// "text":"", tool_use with "input":{}, thinking with empty thinking and
// signature.
type ContentBlockStartEvent struct {
	Index        int   `json:"index"`
	ContentBlock Block `json:"content_block"`
}

// ContentBlockDeltaEvent adds Delta to block Index.
type ContentBlockDeltaEvent struct {
	Index int   `json:"index"`
	Delta Delta `json:"delta"`
}

// ContentBlockStopEvent closes block Index.
type ContentBlockStopEvent struct {
	Index int `json:"index"`
}

// MessageDelta carries the final stop fields; both keys are always written.
type MessageDelta struct {
	StopReason   StopReason `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
}

// DeltaUsage holds the cumulative counts of a message_delta (§6.3): clients
// overwrite their totals with them.
type DeltaUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// MessageDeltaEvent carries the stop reason and the final usage.
type MessageDeltaEvent struct {
	Delta MessageDelta `json:"delta"`
	Usage DeltaUsage   `json:"usage"`
}

// MessageStopEvent ends a stream.
type MessageStopEvent struct{}

// PingEvent keeps a quiet stream alive (§6.5).
type PingEvent struct{}

// ErrorEvent ends a stream that failed after it began (§6.5): the §7.1
// envelope, after which no message_stop follows.
type ErrorEvent struct {
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// EventType implements StreamEvent.
func (MessageStartEvent) EventType() EventType { return EventMessageStart }

// EventType implements StreamEvent.
func (ContentBlockStartEvent) EventType() EventType { return EventContentBlockStart }

// EventType implements StreamEvent.
func (ContentBlockDeltaEvent) EventType() EventType { return EventContentBlockDelta }

// EventType implements StreamEvent.
func (ContentBlockStopEvent) EventType() EventType { return EventContentBlockStop }

// EventType implements StreamEvent.
func (MessageDeltaEvent) EventType() EventType { return EventMessageDelta }

// EventType implements StreamEvent.
func (MessageStopEvent) EventType() EventType { return EventMessageStop }

// EventType implements StreamEvent.
func (PingEvent) EventType() EventType { return EventPing }

// EventType implements StreamEvent.
func (ErrorEvent) EventType() EventType { return EventError }

func (MessageStartEvent) isStreamEvent()      {}
func (ContentBlockStartEvent) isStreamEvent() {}
func (ContentBlockDeltaEvent) isStreamEvent() {}
func (ContentBlockStopEvent) isStreamEvent()  {}
func (MessageDeltaEvent) isStreamEvent()      {}
func (MessageStopEvent) isStreamEvent()       {}
func (PingEvent) isStreamEvent()              {}
func (ErrorEvent) isStreamEvent()             {}

// DeltaType is the "type" of a content block delta.
type DeltaType string

// Delta types (§6.3).
const (
	DeltaText      DeltaType = "text_delta"
	DeltaInputJSON DeltaType = "input_json_delta"
	DeltaThinking  DeltaType = "thinking_delta"
	DeltaSignature DeltaType = "signature_delta"
	DeltaCitations DeltaType = "citations_delta"
)

// Delta is the change a ContentBlockDeltaEvent applies. The set of
// implementations is closed: the *Delta types of this file.
type Delta interface {
	// DeltaType returns the delta's "type".
	DeltaType() DeltaType
	isDelta()
}

// TextDelta appends to a text block.
type TextDelta struct {
	Text string `json:"text"`
}

// InputJSONDelta appends a fragment of a tool_use block's input JSON; the
// fragments of one block concatenate to the input object (§6.4).
type InputJSONDelta struct {
	PartialJSON string `json:"partial_json"`
}

// ThinkingDelta appends to a thinking block.
type ThinkingDelta struct {
	Thinking string `json:"thinking"`
}

// SignatureDelta sets a thinking block's signature, just before its stop.
type SignatureDelta struct {
	Signature string `json:"signature"`
}

// CitationsDelta adds one citation (opaque) to a text block.
type CitationsDelta struct {
	Citation json.RawMessage `json:"citation"`
}

// DeltaType implements Delta.
func (TextDelta) DeltaType() DeltaType { return DeltaText }

// DeltaType implements Delta.
func (InputJSONDelta) DeltaType() DeltaType { return DeltaInputJSON }

// DeltaType implements Delta.
func (ThinkingDelta) DeltaType() DeltaType { return DeltaThinking }

// DeltaType implements Delta.
func (SignatureDelta) DeltaType() DeltaType { return DeltaSignature }

// DeltaType implements Delta.
func (CitationsDelta) DeltaType() DeltaType { return DeltaCitations }

func (TextDelta) isDelta()      {}
func (InputJSONDelta) isDelta() {}
func (ThinkingDelta) isDelta()  {}
func (SignatureDelta) isDelta() {}
func (CitationsDelta) isDelta() {}

// MarshalEvent returns the JSON of ev with its "type" field first, the data
// of its SSE frame.
func MarshalEvent(ev StreamEvent) ([]byte, error) {
	switch e := ev.(type) {
	case MessageStartEvent:
		return json.Marshal(struct {
			Type EventType `json:"type"`
			MessageStartEvent
		}{EventMessageStart, e})
	case ContentBlockStartEvent:
		return json.Marshal(struct {
			Type EventType `json:"type"`
			ContentBlockStartEvent
		}{EventContentBlockStart, e})
	case ContentBlockDeltaEvent:
		d, err := marshalDelta(e.Delta)
		if err != nil {
			return nil, err
		}
		return json.Marshal(struct {
			Type  EventType       `json:"type"`
			Index int             `json:"index"`
			Delta json.RawMessage `json:"delta"`
		}{EventContentBlockDelta, e.Index, d})
	case ContentBlockStopEvent:
		return json.Marshal(struct {
			Type EventType `json:"type"`
			ContentBlockStopEvent
		}{EventContentBlockStop, e})
	case MessageDeltaEvent:
		return json.Marshal(struct {
			Type EventType `json:"type"`
			MessageDeltaEvent
		}{EventMessageDelta, e})
	case MessageStopEvent, PingEvent:
		return json.Marshal(struct {
			Type EventType `json:"type"`
		}{ev.EventType()})
	case ErrorEvent:
		return json.Marshal(struct {
			Type EventType `json:"type"`
			ErrorEvent
		}{EventError, e})
	}
	return nil, invalid("claude.MarshalEvent", "", "unknown stream event %T", ev)
}

func marshalDelta(d Delta) ([]byte, error) {
	switch v := d.(type) {
	case TextDelta:
		return json.Marshal(struct {
			Type DeltaType `json:"type"`
			TextDelta
		}{DeltaText, v})
	case InputJSONDelta:
		return json.Marshal(struct {
			Type DeltaType `json:"type"`
			InputJSONDelta
		}{DeltaInputJSON, v})
	case ThinkingDelta:
		return json.Marshal(struct {
			Type DeltaType `json:"type"`
			ThinkingDelta
		}{DeltaThinking, v})
	case SignatureDelta:
		return json.Marshal(struct {
			Type DeltaType `json:"type"`
			SignatureDelta
		}{DeltaSignature, v})
	case CitationsDelta:
		return json.Marshal(struct {
			Type DeltaType `json:"type"`
			CitationsDelta
		}{DeltaCitations, v})
	}
	return nil, invalid("claude.MarshalEvent", "delta", "unknown delta %T", d)
}

// AppendSSE appends the SSE frame of ev to dst (§6.1): "event: <type>", one
// "data: <json>" line and the blank line that dispatches it.
func AppendSSE(dst []byte, ev StreamEvent) ([]byte, error) {
	data, err := MarshalEvent(ev)
	if err != nil {
		return dst, err
	}
	dst = append(dst, "event: "...)
	dst = append(dst, ev.EventType()...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...), nil
}

// DecodeStreamEvent decodes the data of one SSE event. Unknown event or
// delta types fail with KindInvalid.
func DecodeStreamEvent(data []byte) (StreamEvent, error) {
	const op = "claude.DecodeStreamEvent"
	var head struct {
		Type         EventType       `json:"type"`
		Index        int             `json:"index"`
		Message      json.RawMessage `json:"message"`
		ContentBlock json.RawMessage `json:"content_block"`
		Delta        json.RawMessage `json:"delta"`
		Usage        DeltaUsage      `json:"usage"`
		Error        ErrorDetail     `json:"error"`
		RequestID    string          `json:"request_id"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, badJSON(op, err)
	}
	switch head.Type {
	case EventMessageStart:
		var m Message
		if err := json.Unmarshal(head.Message, &m); err != nil {
			return nil, badJSON(op, err)
		}
		return MessageStartEvent{Message: m}, nil
	case EventContentBlockStart:
		b, err := decodeResponseBlock(head.ContentBlock, "content_block")
		if err != nil {
			return nil, err
		}
		return ContentBlockStartEvent{Index: head.Index, ContentBlock: b}, nil
	case EventContentBlockDelta:
		d, err := decodeDelta(head.Delta)
		if err != nil {
			return nil, err
		}
		return ContentBlockDeltaEvent{Index: head.Index, Delta: d}, nil
	case EventContentBlockStop:
		return ContentBlockStopEvent{Index: head.Index}, nil
	case EventMessageDelta:
		var d MessageDelta
		if err := json.Unmarshal(head.Delta, &d); err != nil {
			return nil, badJSON(op, err)
		}
		return MessageDeltaEvent{Delta: d, Usage: head.Usage}, nil
	case EventMessageStop:
		return MessageStopEvent{}, nil
	case EventPing:
		return PingEvent{}, nil
	case EventError:
		return ErrorEvent{Error: head.Error, RequestID: head.RequestID}, nil
	}
	return nil, invalid(op, "type", "unknown stream event type %q", head.Type)
}

func decodeDelta(raw json.RawMessage) (Delta, error) {
	const op = "claude.DecodeStreamEvent"
	var d struct {
		Type        DeltaType       `json:"type"`
		Text        string          `json:"text"`
		PartialJSON string          `json:"partial_json"`
		Thinking    string          `json:"thinking"`
		Signature   string          `json:"signature"`
		Citation    json.RawMessage `json:"citation"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, badJSON(op, err)
	}
	switch d.Type {
	case DeltaText:
		return TextDelta{Text: d.Text}, nil
	case DeltaInputJSON:
		return InputJSONDelta{PartialJSON: d.PartialJSON}, nil
	case DeltaThinking:
		return ThinkingDelta{Thinking: d.Thinking}, nil
	case DeltaSignature:
		return SignatureDelta{Signature: d.Signature}, nil
	case DeltaCitations:
		return CitationsDelta{Citation: bytes.Clone(d.Citation)}, nil
	}
	return nil, invalid(op, "delta.type", "unknown delta type %q", d.Type)
}
