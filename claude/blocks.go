package claude

import "encoding/json"

// BlockType is the "type" of a content block (§4).
type BlockType string

// Content block types. Request blocks are listed in §4.1, response blocks in
// §4.3; the server-tool artefacts are accepted in history and not rendered.
const (
	BlockText             BlockType = "text"
	BlockImage            BlockType = "image"
	BlockDocument         BlockType = "document"
	BlockSearchResult     BlockType = "search_result"
	BlockToolUse          BlockType = "tool_use"
	BlockToolResult       BlockType = "tool_result"
	BlockThinking         BlockType = "thinking"
	BlockRedactedThinking BlockType = "redacted_thinking"

	BlockServerToolUse             BlockType = "server_tool_use"
	BlockWebSearchToolResult       BlockType = "web_search_tool_result"
	BlockWebFetchToolResult        BlockType = "web_fetch_tool_result"
	BlockCodeExecutionToolResult   BlockType = "code_execution_tool_result"
	BlockBashCodeExecutionResult   BlockType = "bash_code_execution_tool_result"
	BlockTextEditorExecutionResult BlockType = "text_editor_code_execution_tool_result"
	BlockToolSearchToolResult      BlockType = "tool_search_tool_result"
	BlockContainerUpload           BlockType = "container_upload"
	BlockToolReference             BlockType = "tool_reference"
)

// serverBlockTypes are the block types carried as a ServerToolBlock.
var serverBlockTypes = []BlockType{
	BlockServerToolUse, BlockWebSearchToolResult, BlockWebFetchToolResult,
	BlockCodeExecutionToolResult, BlockBashCodeExecutionResult, BlockTextEditorExecutionResult,
	BlockToolSearchToolResult, BlockContainerUpload, BlockToolReference,
}

// Block is one content block. The set of implementations is closed: the
// types of this file. Each marshals with its "type" field first.
type Block interface {
	// Type returns the block's "type".
	Type() BlockType
	isBlock()
}

// CacheControl is a prompt-caching breakpoint (§10).
type CacheControl struct {
	Type string `json:"type"`          // "ephemeral"
	TTL  string `json:"ttl,omitempty"` // "5m" (default) or "1h"
}

// TextBlock is plain text, in a request or a response.
type TextBlock struct {
	Text         string            `json:"text"`
	Citations    []json.RawMessage `json:"citations,omitempty"` // opaque citation objects
	CacheControl *CacheControl     `json:"cache_control,omitempty"`
}

// SourceType is the "type" of an image or document source (§4.2).
type SourceType string

// Source types.
const (
	SourceBase64  SourceType = "base64"
	SourceURL     SourceType = "url"
	SourceFile    SourceType = "file"
	SourceText    SourceType = "text"
	SourceContent SourceType = "content"
)

// Source is where an image's or a document's bytes come from. Which fields
// are set depends on Type (§4.2).
type Source struct {
	Type      SourceType `json:"type"`
	MediaType string     `json:"media_type,omitempty"` // base64, text
	Data      string     `json:"data,omitempty"`       // base64 (standard encoding), text
	URL       string     `json:"url,omitempty"`        // url
	FileID    string     `json:"file_id,omitempty"`    // file
	Content   []Block    `json:"content,omitempty"`    // content: text and image blocks
}

// MarshalJSON writes a source; base64 and text sources always carry
// "data", even when empty, so that an encoded request decodes again.
func (s Source) MarshalJSON() ([]byte, error) {
	type plain Source
	if s.Type != SourceBase64 && s.Type != SourceText {
		return json.Marshal(plain(s))
	}
	return json.Marshal(struct {
		Type      SourceType `json:"type"`
		MediaType string     `json:"media_type,omitempty"`
		Data      string     `json:"data"`
	}{s.Type, s.MediaType, s.Data})
}

// ImageBlock is an image (§4.1).
type ImageBlock struct {
	Source       Source        `json:"source"`
	CacheControl *CacheControl `json:"cache_control,omitempty"`
}

// CitationsConfig turns citations on for a document or search result.
type CitationsConfig struct {
	Enabled bool `json:"enabled"`
}

// DocumentBlock is a document: plain text, content blocks or a PDF (§4.1).
type DocumentBlock struct {
	Source       Source           `json:"source"`
	Title        string           `json:"title,omitempty"`
	Context      string           `json:"context,omitempty"`
	Citations    *CitationsConfig `json:"citations,omitempty"`
	CacheControl *CacheControl    `json:"cache_control,omitempty"`
}

// SearchResultBlock is a search result supplied by the caller (§4.1).
type SearchResultBlock struct {
	Source       string           `json:"source"`
	Title        string           `json:"title"`
	Content      []TextBlock      `json:"content"`
	Citations    *CitationsConfig `json:"citations,omitempty"`
	CacheControl *CacheControl    `json:"cache_control,omitempty"`
}

// ToolUseBlock is a call of a client tool: in assistant history, and in
// responses with an id "toolu_…" and a JSON object Input (§4.3).
type ToolUseBlock struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"` // a JSON object
	CacheControl *CacheControl   `json:"cache_control,omitempty"`
}

// ToolResultBlock answers a ToolUseBlock of the previous assistant turn.
// Content holds text, image, document, search_result and tool_reference
// blocks; a string content decodes as one TextBlock.
type ToolResultBlock struct {
	ToolUseID    string        `json:"tool_use_id"`
	Content      []Block       `json:"content,omitempty"`
	IsError      bool          `json:"is_error,omitempty"`
	CacheControl *CacheControl `json:"cache_control,omitempty"`
}

// ThinkingBlock is visible reasoning with its opaque signature (§3.5, §4.3).
type ThinkingBlock struct {
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

// RedactedThinkingBlock is encrypted reasoning from upstream; Pensieve
// accepts it in history and drops it (§3.5).
type RedactedThinkingBlock struct {
	Data string `json:"data"`
}

// ServerToolBlock is one of the server-tool artefacts (server_tool_use,
// *_tool_result, container_upload, tool_reference) that clients send back in
// history. Pensieve keeps it verbatim and does not render it into prompts.
type ServerToolBlock struct {
	BlockType BlockType       // one of the server-tool block types
	Raw       json.RawMessage // the block as received, "type" included
}

// Type implements Block.
func (TextBlock) Type() BlockType { return BlockText }

// Type implements Block.
func (ImageBlock) Type() BlockType { return BlockImage }

// Type implements Block.
func (DocumentBlock) Type() BlockType { return BlockDocument }

// Type implements Block.
func (SearchResultBlock) Type() BlockType { return BlockSearchResult }

// Type implements Block.
func (ToolUseBlock) Type() BlockType { return BlockToolUse }

// Type implements Block.
func (ToolResultBlock) Type() BlockType { return BlockToolResult }

// Type implements Block.
func (ThinkingBlock) Type() BlockType { return BlockThinking }

// Type implements Block.
func (RedactedThinkingBlock) Type() BlockType { return BlockRedactedThinking }

// Type implements Block.
func (b ServerToolBlock) Type() BlockType { return b.BlockType }

func (TextBlock) isBlock()             {}
func (ImageBlock) isBlock()            {}
func (DocumentBlock) isBlock()         {}
func (SearchResultBlock) isBlock()     {}
func (ToolUseBlock) isBlock()          {}
func (ToolResultBlock) isBlock()       {}
func (ThinkingBlock) isBlock()         {}
func (RedactedThinkingBlock) isBlock() {}
func (ServerToolBlock) isBlock()       {}

// MarshalJSON writes the block with "type":"text" first.
func (b TextBlock) MarshalJSON() ([]byte, error) {
	type plain TextBlock
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockText, plain(b)})
}

// MarshalJSON writes the block with "type":"image" first.
func (b ImageBlock) MarshalJSON() ([]byte, error) {
	type plain ImageBlock
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockImage, plain(b)})
}

// MarshalJSON writes the block with "type":"document" first.
func (b DocumentBlock) MarshalJSON() ([]byte, error) {
	type plain DocumentBlock
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockDocument, plain(b)})
}

// MarshalJSON writes the block with "type":"search_result" first.
func (b SearchResultBlock) MarshalJSON() ([]byte, error) {
	type plain SearchResultBlock
	if b.Content == nil {
		b.Content = []TextBlock{}
	}
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockSearchResult, plain(b)})
}

// MarshalJSON writes the block with "type":"tool_use" first; a nil Input
// is written as {}.
func (b ToolUseBlock) MarshalJSON() ([]byte, error) {
	type plain ToolUseBlock
	if len(b.Input) == 0 {
		b.Input = json.RawMessage("{}")
	}
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockToolUse, plain(b)})
}

// MarshalJSON writes the block with "type":"tool_result" first.
func (b ToolResultBlock) MarshalJSON() ([]byte, error) {
	type plain ToolResultBlock
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockToolResult, plain(b)})
}

// MarshalJSON writes the block with "type":"thinking" first; both fields
// are always present (a content_block_start carries them empty, §6.3).
func (b ThinkingBlock) MarshalJSON() ([]byte, error) {
	type plain ThinkingBlock
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockThinking, plain(b)})
}

// MarshalJSON writes the block with "type":"redacted_thinking" first.
func (b RedactedThinkingBlock) MarshalJSON() ([]byte, error) {
	type plain RedactedThinkingBlock
	return json.Marshal(struct {
		Type BlockType `json:"type"`
		plain
	}{BlockRedactedThinking, plain(b)})
}

// MarshalJSON writes the block as it was received.
func (b ServerToolBlock) MarshalJSON() ([]byte, error) {
	if len(b.Raw) == 0 {
		return json.Marshal(struct {
			Type BlockType `json:"type"`
		}{b.BlockType})
	}
	return b.Raw, nil
}
