package claude

import (
	"encoding/json"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// blockSep joins the text blocks of one turn and merged turns.
const blockSep = "\n\n"

// rendered is a request turned into prompt text.
type rendered struct {
	text    string // the prompt, generation prompt and prefill included
	generic bool   // tools are described by the generic tool prompt
	tools   []Tool // the tools the model may call
	prefill bool   // the prompt ends with an assistant prefill
}

// render builds the prompt text of req (§3.3, §3.4): system prompt and
// system-role turns, merged same-role turns, tool definitions (natively or
// through the generic tool prompt), tool calls and results, and an
// assistant prefill continued rather than closed.
func (p *Profile) render(req *MessageRequest) (rendered, error) {
	const op = "claude.Prepare"
	tools := req.activeTools()
	native := p.spec.Template.SupportsTools()
	r := rendered{tools: tools, generic: len(tools) > 0 && !native}
	turns := mergeTurns(req.Messages)
	prefill := ""
	if last := len(turns) - 1; turns[last].Role == RoleAssistant && !hasToolUse(turns[last].Content) {
		prefill = joinText(turns[last].Content)
		turns = turns[:last]
	}
	b := chatBuilder{p: p, native: native, names: toolUseNames(req.Messages)}
	var system []string
	for _, t := range req.System {
		system = append(system, t.Text)
	}
	if r.generic {
		system = append(system, genericToolPrompt(tools, req.toolChoice()))
	}
	if len(system) > 0 {
		b.system(strings.Join(system, blockSep), true)
	}
	for _, t := range turns {
		if err := b.turn(t); err != nil {
			return rendered{}, err
		}
	}
	cr := core.ChatRequest{Messages: b.msgs, AddGenerationPrompt: true}
	if native {
		for _, t := range tools {
			cr.Tools = append(cr.Tools, core.ToolSpec{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
		}
	}
	text, err := p.spec.Template.Render(cr)
	if err != nil {
		return rendered{}, core.Errorf(core.KindInvalid, op, "the chat template of %s cannot render this conversation: %w", p.spec.ID, err)
	}
	r.text, r.prefill = text+prefill, prefill != ""
	return r, nil
}

// mergeTurns combines consecutive messages of the same role (§3.3).
func mergeTurns(msgs []InputMessage) []InputMessage {
	out := make([]InputMessage, 0, len(msgs))
	for _, m := range msgs {
		if n := len(out); n > 0 && out[n-1].Role == m.Role {
			out[n-1].Content = append(out[n-1].Content[:len(out[n-1].Content):len(out[n-1].Content)], m.Content...)
			continue
		}
		out = append(out, m)
	}
	return out
}

func hasToolUse(content []Block) bool {
	for _, b := range content {
		if _, ok := b.(ToolUseBlock); ok {
			return true
		}
	}
	return false
}

// joinText joins the text blocks of content.
func joinText(content []Block) string {
	var parts []string
	for _, b := range content {
		if t, ok := b.(TextBlock); ok && t.Text != "" {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, blockSep)
}

// toolUseNames maps tool_use ids to tool names, for tool-role turns.
func toolUseNames(msgs []InputMessage) map[string]string {
	names := map[string]string{}
	for _, m := range msgs {
		for _, b := range m.Content {
			if tu, ok := b.(ToolUseBlock); ok {
				names[tu.ID] = tu.Name
			}
		}
	}
	return names
}

// chatBuilder collects the template's messages.
type chatBuilder struct {
	p      *Profile
	native bool              // the template renders tools and tool calls
	names  map[string]string // tool_use id → tool name
	msgs   []core.ChatMessage
}

// add appends a message, merging text into a preceding message of the
// same role (folded system text can meet a user turn).
func (b *chatBuilder) add(m core.ChatMessage) {
	if n := len(b.msgs); n > 0 && m.Role == core.RoleUser && b.msgs[n-1].Role == core.RoleUser {
		b.msgs[n-1].Content = joinNonEmpty(b.msgs[n-1].Content, m.Content)
		return
	}
	b.msgs = append(b.msgs, m)
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + blockSep + b
}

// system adds system text where the template can render it, and
// otherwise as user text (templates that refuse a system role, or refuse
// it after the first turn).
func (b *chatBuilder) system(text string, leading bool) {
	if text == "" {
		return
	}
	if n := len(b.msgs); n > 0 && b.msgs[n-1].Role == core.RoleSystem {
		b.msgs[n-1].Content += blockSep + text
		return
	}
	if (leading && b.p.systemFirst) || (!leading && b.p.systemMid) {
		b.msgs = append(b.msgs, core.ChatMessage{Role: core.RoleSystem, Content: text})
		return
	}
	b.add(core.ChatMessage{Role: core.RoleUser, Content: text})
}

func (b *chatBuilder) turn(t InputMessage) error {
	switch t.Role {
	case RoleSystem:
		b.system(joinText(t.Content), len(b.msgs) == 0 || (len(b.msgs) == 1 && b.msgs[0].Role == core.RoleSystem))
		return nil
	case RoleAssistant:
		return b.assistant(t)
	}
	return b.user(t)
}

func (b *chatBuilder) assistant(t InputMessage) error {
	m := core.ChatMessage{Role: core.RoleAssistant}
	var text, reasoning []string
	for _, blk := range t.Content {
		switch v := blk.(type) {
		case TextBlock:
			if v.Text != "" {
				text = append(text, v.Text)
			}
		case ThinkingBlock:
			if v.Thinking != "" {
				reasoning = append(reasoning, v.Thinking)
			}
		case ToolUseBlock:
			if b.native {
				m.ToolCalls = append(m.ToolCalls, core.ToolCall{ID: v.ID, Name: v.Name, Arguments: v.Input})
			} else {
				text = append(text, genericCall(v.Name, v.Input))
			}
		case DocumentBlock:
			s, err := b.documentText(v)
			if err != nil {
				return err
			}
			text = append(text, s)
		}
	}
	m.Content = strings.Join(text, blockSep)
	m.Reasoning = strings.Join(reasoning, blockSep)
	b.msgs = append(b.msgs, m)
	return nil
}

// user renders a user turn: its tool results first (as tool-role turns,
// or generic <tool_response> text), then its other content.
func (b *chatBuilder) user(t InputMessage) error {
	var text []string
	for _, blk := range t.Content {
		switch v := blk.(type) {
		case ToolResultBlock:
			content, err := b.resultText(v)
			if err != nil {
				return err
			}
			if b.native {
				b.msgs = append(b.msgs, core.ChatMessage{Role: core.RoleTool, ToolCallID: v.ToolUseID,
					Name: b.names[v.ToolUseID], Content: content})
			} else {
				text = append(text, "<tool_response>\n"+content+"\n</tool_response>")
			}
		default:
			s, err := b.contentText(blk)
			if err != nil {
				return err
			}
			if s != "" {
				text = append(text, s)
			}
		}
	}
	if len(text) > 0 {
		b.add(core.ChatMessage{Role: core.RoleUser, Content: strings.Join(text, blockSep)})
	}
	return nil
}

// contentText renders a readable block as text; server-tool artefacts
// render as nothing.
func (b *chatBuilder) contentText(blk Block) (string, error) {
	switch v := blk.(type) {
	case TextBlock:
		return v.Text, nil
	case ImageBlock:
		return "", core.E(core.KindInvalid, "claude.Prepare", &APIError{
			Reason: "model " + b.p.spec.ID + " cannot read images: it is a text-only model"})
	case DocumentBlock:
		return b.documentText(v)
	case SearchResultBlock:
		parts := []string{"<search_result source=\"" + v.Source + "\" title=\"" + v.Title + "\">"}
		for _, t := range v.Content {
			parts = append(parts, t.Text)
		}
		return strings.Join(append(parts, "</search_result>"), "\n"), nil
	}
	return "", nil
}

// documentText renders a plain-text or content document; PDFs and other
// binary documents cannot be read by a text-only model.
func (b *chatBuilder) documentText(d DocumentBlock) (string, error) {
	var body string
	switch d.Source.Type {
	case SourceText:
		body = d.Source.Data
	case SourceContent:
		var parts []string
		for _, blk := range d.Source.Content {
			s, err := b.contentText(blk)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		body = strings.Join(parts, blockSep)
	default:
		return "", core.E(core.KindInvalid, "claude.Prepare", &APIError{
			Reason: "model " + b.p.spec.ID + " cannot read " + documentKind(d.Source) + " documents: it is a text-only model; send plain-text documents instead"})
	}
	head := "<document"
	if d.Title != "" {
		head += " title=\"" + d.Title + "\""
	}
	head += ">\n"
	if d.Context != "" {
		head += d.Context + "\n"
	}
	return head + body + "\n</document>", nil
}

func documentKind(s Source) string {
	if s.MediaType == "application/pdf" || s.Type != SourceBase64 {
		return "PDF"
	}
	return s.MediaType
}

// resultText renders a tool result's content.
func (b *chatBuilder) resultText(r ToolResultBlock) (string, error) {
	var parts []string
	for _, blk := range r.Content {
		s, err := b.contentText(blk)
		if err != nil {
			return "", err
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	text := strings.Join(parts, blockSep)
	if r.IsError {
		text = "Error: " + text
	}
	return text, nil
}

// genericCall writes one tool call in the generic format.
func genericCall(name string, input json.RawMessage) string {
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	call, _ := json.Marshal(struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}{name, input})
	return "<tool_call>\n" + string(call) + "\n</tool_call>"
}

// genericToolPrompt describes tools to a model whose template cannot: the
// tool list as JSON lines and the call format the parser reads back.
func genericToolPrompt(tools []Tool, tc ToolChoice) string {
	var sb strings.Builder
	sb.WriteString("# Tools\n\nYou can call the following tools. Each line describes one tool: its name, what it does, and the JSON Schema of its arguments.\n\n<tools>\n")
	for _, t := range tools {
		line, _ := json.Marshal(struct {
			Name        string          `json:"name"`
			Description string          `json:"description,omitempty"`
			Parameters  json.RawMessage `json:"parameters"`
		}{t.Name, t.Description, t.InputSchema})
		sb.Write(line)
		sb.WriteByte('\n')
	}
	sb.WriteString("</tools>\n\nTo call a tool, write a block exactly like this, with arguments that match the tool's schema:\n" +
		"<tool_call>\n{\"name\": \"<tool name>\", \"arguments\": {<arguments as a JSON object>}}\n</tool_call>\n")
	if tc.DisableParallelToolUse {
		sb.WriteString("Call at most one tool per reply.")
	} else {
		sb.WriteString("You may call several tools, one block each.")
	}
	sb.WriteString(" After your calls, stop: each result comes back to you inside <tool_response></tool_response>.")
	switch tc.Type {
	case ToolChoiceAny:
		sb.WriteString("\nYou must call at least one tool now, with no text before the first call.")
	case ToolChoiceTool:
		sb.WriteString("\nYou must call the tool \"" + tc.Name + "\" now, with no text before the call.")
	}
	return sb.String()
}
