package claude

import (
	"crypto/rand"
	"encoding/json"
)

// StopReason tells why a message ended (§5). The zero value marshals as
// null, as in message_start.
type StopReason string

// Stop reasons. Pensieve produces the first five.
const (
	StopEndTurn       StopReason = "end_turn"
	StopMaxTokens     StopReason = "max_tokens"
	StopSequence      StopReason = "stop_sequence"
	StopToolUse       StopReason = "tool_use"
	StopContextWindow StopReason = "model_context_window_exceeded"
	StopPauseTurn     StopReason = "pause_turn"
	StopRefusal       StopReason = "refusal"
	StopCompaction    StopReason = "compaction"
)

// MarshalJSON writes null for the zero value.
func (r StopReason) MarshalJSON() ([]byte, error) {
	if r == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(r))
}

// UnmarshalJSON reads a string or null.
func (r *StopReason) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r = StopReason(s)
	return nil
}

// CacheCreation splits cache_creation_input_tokens by breakpoint TTL.
type CacheCreation struct {
	Ephemeral5mInputTokens int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1hInputTokens int `json:"ephemeral_1h_input_tokens"`
}

// Usage counts the tokens of one message (§5). The three prompt-side
// counts add up to the prompt's length, which is what count_tokens returns.
type Usage struct {
	InputTokens              int            `json:"input_tokens"`
	CacheCreationInputTokens int            `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int            `json:"cache_read_input_tokens"`
	CacheCreation            *CacheCreation `json:"cache_creation,omitempty"`
	OutputTokens             int            `json:"output_tokens"`
	ServiceTier              string         `json:"service_tier,omitempty"` // "standard" or "batch"
}

// Message is a response message (§5), also the message of message_start
// (with empty Content and null stop fields).
type Message struct {
	ID           string     `json:"id"` // "msg_…"
	Model        string     `json:"model"`
	Content      []Block    `json:"content"`
	StopReason   StopReason `json:"stop_reason"`   // null while streaming
	StopSequence *string    `json:"stop_sequence"` // the matched string, else null
	Usage        Usage      `json:"usage"`
}

// MarshalJSON writes the message with its constant type and role and a
// content array that is never null.
func (m Message) MarshalJSON() ([]byte, error) {
	content := m.Content
	if content == nil {
		content = []Block{}
	}
	return json.Marshal(struct {
		ID           string     `json:"id"`
		Type         string     `json:"type"`
		Role         Role       `json:"role"`
		Model        string     `json:"model"`
		Content      []Block    `json:"content"`
		StopReason   StopReason `json:"stop_reason"`
		StopSequence *string    `json:"stop_sequence"`
		Usage        Usage      `json:"usage"`
	}{m.ID, "message", RoleAssistant, m.Model, content, m.StopReason, m.StopSequence, m.Usage})
}

// UnmarshalJSON decodes a message, its content blocks by their "type".
// Unknown block types fail with KindInvalid.
func (m *Message) UnmarshalJSON(b []byte) error {
	var w struct {
		ID           string            `json:"id"`
		Type         string            `json:"type"`
		Model        string            `json:"model"`
		Content      []json.RawMessage `json:"content"`
		StopReason   StopReason        `json:"stop_reason"`
		StopSequence *string           `json:"stop_sequence"`
		Usage        Usage             `json:"usage"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type != "message" {
		return invalid("claude.Message", "type", "expected \"message\", got %q", w.Type)
	}
	out := Message{ID: w.ID, Model: w.Model, StopReason: w.StopReason, StopSequence: w.StopSequence,
		Usage: w.Usage, Content: make([]Block, 0, len(w.Content))}
	for i, raw := range w.Content {
		blk, err := decodeResponseBlock(raw, pathf("content.%d", i))
		if err != nil {
			return err
		}
		out.Content = append(out.Content, blk)
	}
	*m = out
	return nil
}

// CountTokensResponse is the body of a count_tokens answer (§8).
type CountTokensResponse struct {
	InputTokens int `json:"input_tokens"`
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns prefix followed by 24 random base-62 characters, the shape
// of upstream ids: NewID("msg_"), NewID("toolu_"), NewID("msgbatch_").
func NewID(prefix string) string {
	var raw [24]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	out := make([]byte, len(prefix), len(prefix)+len(raw))
	copy(out, prefix)
	for _, b := range raw {
		// 62·4 = 248: rejection-free would need resampling; the tiny bias of
		// b%62 is irrelevant for opaque ids.
		out = append(out, idAlphabet[int(b)%len(idAlphabet)])
	}
	return string(out)
}
