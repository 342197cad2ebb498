package core

import "encoding/json"

// Chat roles understood by ChatTemplate implementations.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// ChatMessage is one turn of a conversation in the neutral form chat
// templates consume (the shape Hugging Face templates expect).
type ChatMessage struct {
	Role       string     // RoleSystem, RoleUser, RoleAssistant or RoleTool
	Content    string     // the turn's text
	Reasoning  string     // assistant reasoning ("thinking") that preceded Content, if any
	ToolCalls  []ToolCall // assistant turns: the tools it called, in order
	ToolCallID string     // tool turns: the id of the call this result answers
	Name       string     // tool turns: the name of the tool that produced the result
}

// ToolCall is one function call made by the assistant.
type ToolCall struct {
	ID        string          // e.g. "toolu_01…"
	Name      string          // tool name
	Arguments json.RawMessage // a JSON object
}

// ToolSpec declares a tool the model may call.
type ToolSpec struct {
	Name        string          // unique within a request
	Description string          // may be empty
	Parameters  json.RawMessage // a JSON Schema object describing the arguments
}

// ChatRequest is the input of a chat template.
type ChatRequest struct {
	Messages            []ChatMessage
	Tools               []ToolSpec
	AddGenerationPrompt bool // end with the header of an assistant turn
}

// ChatTemplate renders a conversation into the prompt text a model was
// trained on. Implementations are immutable and safe for concurrent use.
type ChatTemplate interface {
	// Render returns the prompt for req. The text may contain special-token
	// texts (e.g. "<|start_header_id|>"), so callers tokenize it with
	// special parsing on. Render does not retain req.
	Render(req ChatRequest) (string, error)

	// SupportsTools reports whether the template renders req.Tools and tool
	// calls itself; when false the caller must describe tools in the prompt.
	SupportsTools() bool
}
