package claude

import "encoding/json"

// Role is the author of an input message (§3.3).
type Role string

// Message roles. RoleSystem turns appear inside messages in Claude Code's
// traffic and are rendered where they stand.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleSystem    Role = "system"
)

// InputMessage is one entry of a request's messages. A string content
// decodes as one TextBlock, so both forms are the same value (§3.3).
type InputMessage struct {
	Role    Role    `json:"role"`
	Content []Block `json:"content"`
}

// Tool declares a client tool (§3.4). Type is "" or "custom"; the fields
// Pensieve does not use (strict, input_examples, …) are accepted and dropped.
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema"` // a JSON Schema object with "type":"object"
	CacheControl *CacheControl   `json:"cache_control,omitempty"`
}

// ToolChoiceType selects how the model may use tools (§3.4).
type ToolChoiceType string

// Tool choices.
const (
	ToolChoiceAuto ToolChoiceType = "auto"
	ToolChoiceAny  ToolChoiceType = "any"
	ToolChoiceTool ToolChoiceType = "tool"
	ToolChoiceNone ToolChoiceType = "none"
)

// ToolChoice is the request's tool_choice.
type ToolChoice struct {
	Type                   ToolChoiceType `json:"type"`
	Name                   string         `json:"name,omitempty"` // ToolChoiceTool only
	DisableParallelToolUse bool           `json:"disable_parallel_tool_use,omitempty"`
}

// ThinkingType selects extended thinking (§3.5).
type ThinkingType string

// Thinking modes.
const (
	ThinkingEnabled      ThinkingType = "enabled"
	ThinkingDisabled     ThinkingType = "disabled"
	ThinkingAdaptive     ThinkingType = "adaptive"
	ThinkingBetweenTools ThinkingType = "between_tools"
)

// Thinking display modes: summarized shows the thinking text, omitted sends
// empty thinking with its signature (§3.5).
const (
	DisplaySummarized = "summarized"
	DisplayOmitted    = "omitted"
)

// Thinking is the request's thinking configuration.
type Thinking struct {
	Type         ThinkingType `json:"type"`
	BudgetTokens int          `json:"budget_tokens,omitempty"` // enabled only: ≥ 1024 and < max_tokens
	Display      string       `json:"display,omitempty"`       // enabled and adaptive
}

// OutputFormat asks for output that is JSON valid against Schema.
type OutputFormat struct {
	Type   string          `json:"type"` // "json_schema"
	Schema json.RawMessage `json:"schema"`
}

// OutputConfig is the request's output_config.
type OutputConfig struct {
	Effort string        `json:"effort,omitempty"` // low, medium, high, xhigh, max
	Format *OutputFormat `json:"format,omitempty"`
}

// Metadata is the request's metadata; Pensieve ignores it.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// MessageRequest is the body of POST /v1/messages (§3) and, with MaxTokens
// and the sampling fields unused, of POST /v1/messages/count_tokens (§8).
// Values come from DecodeRequest or DecodeCountTokensRequest, which validate
// them; System holds the string form as one TextBlock.
type MessageRequest struct {
	Model         string         `json:"model"`
	MaxTokens     int            `json:"max_tokens"`
	Messages      []InputMessage `json:"messages"`
	System        []TextBlock    `json:"system,omitempty"`
	StopSequences []string       `json:"stop_sequences,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"` // 2023-06-01 only
	TopP          *float64       `json:"top_p,omitempty"`       // 2023-06-01 only
	TopK          *int           `json:"top_k,omitempty"`       // 2023-06-01 only
	Metadata      *Metadata      `json:"metadata,omitempty"`
	Tools         []Tool         `json:"tools,omitempty"`
	ToolChoice    *ToolChoice    `json:"tool_choice,omitempty"`
	Thinking      *Thinking      `json:"thinking,omitempty"`
	OutputConfig  *OutputConfig  `json:"output_config,omitempty"`
	ServiceTier   string         `json:"service_tier,omitempty"`
	CacheControl  *CacheControl  `json:"cache_control,omitempty"`
}

// thinkingOn reports whether the request asks for thinking blocks.
func (r *MessageRequest) thinkingOn() bool {
	return r.Thinking != nil && (r.Thinking.Type == ThinkingEnabled || r.Thinking.Type == ThinkingAdaptive)
}

// toolChoice returns the effective tool choice: auto when tools are given
// without one.
func (r *MessageRequest) toolChoice() ToolChoice {
	if r.ToolChoice != nil {
		return *r.ToolChoice
	}
	return ToolChoice{Type: ToolChoiceAuto}
}

// activeTools returns the tools the model may call: none with tool_choice
// none, so they are neither described nor parsed.
func (r *MessageRequest) activeTools() []Tool {
	if r.toolChoice().Type == ToolChoiceNone {
		return nil
	}
	return r.Tools
}
