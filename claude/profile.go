package claude

import (
	"encoding/json"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
)

// ToolFormat is how a model writes tool calls in its output.
type ToolFormat string

// Tool call formats. The parser recognises all of them in any output; the
// format of a Profile decides how forced calls are spelled.
const (
	// ToolFormatGeneric is the format of the generic tool prompt, used when
	// a template cannot render tools: <tool_call>{"name":…,"arguments":{…}}</tool_call>.
	// It is deliberately the Hermes/Qwen format, the most widely trained one.
	ToolFormatGeneric ToolFormat = "generic"
	// ToolFormatHermes is Hermes/Qwen 2.5/Qwen 3: the same <tool_call> JSON,
	// rendered by the model's own template.
	ToolFormatHermes ToolFormat = "hermes"
	// ToolFormatQwenXML is Qwen3-Coder: <tool_call><function=name>
	// <parameter=key>value</parameter></function></tool_call>.
	ToolFormatQwenXML ToolFormat = "qwen_xml"
	// ToolFormatLlama3 is Llama 3.x: a bare {"name":…,"parameters":{…}}
	// object, optionally after <|python_tag|>.
	ToolFormatLlama3 ToolFormat = "llama3"
	// ToolFormatMistral is Mistral: [TOOL_CALLS] followed by a JSON array
	// of calls (or name[ARGS]{…} in newer templates).
	ToolFormatMistral ToolFormat = "mistral"
)

// ModelSpec describes one servable model to NewProfile.
type ModelSpec struct {
	ID              string            // the id responses report
	Template        core.ChatTemplate // renders conversations
	Tokenizer       core.Tokenizer    // tokenizes the rendered prompt
	ContextLength   int               // positions of the model's context; 0: unlimited
	MaxOutputTokens int               // max_tokens cap; 0: the context length
}

// Option configures a Profile.
type Option func(*Profile)

// WithLogger sets the logger of a Profile. The default discards all output.
func WithLogger(l *zap.Logger) Option { return func(p *Profile) { p.log = l } }

// WithSignatureKey sets the key of thinking-block signatures (an HMAC of
// the thinking text). The default is a fixed key: signatures are opaque
// integrity tags, not secrets.
func WithSignatureKey(key []byte) Option {
	return func(p *Profile) { p.sigKey = append([]byte(nil), key...) }
}

// thinkTags are a model's reasoning delimiters.
type thinkTags struct{ open, close string }

// knownThinkTags are the reasoning delimiters the parser recognises at the
// start of an output; the first is the default.
var knownThinkTags = []thinkTags{{"<think>", "</think>"}, {"<thinking>", "</thinking>"}}

// Profile is what Pensieve knows about serving one model through the
// Messages API: its template's abilities (tool format, reasoning tags,
// where system turns may go, found by rendering probe conversations once)
// and its vocabulary index for constraints. A Profile is immutable after
// NewProfile and safe for concurrent use.
type Profile struct {
	spec        ModelSpec
	log         *zap.Logger
	sigKey      []byte
	format      ToolFormat
	think       thinkTags
	thinks      bool // the template renders reasoning with think tags
	systemFirst bool // a leading system turn renders
	systemMid   bool // a system turn after other turns renders

	vocabOnce sync.Once
	vocab     *vocabIndex
}

// NewProfile probes spec.Template and returns the model's Profile.
func NewProfile(spec ModelSpec, opts ...Option) (*Profile, error) {
	if spec.Template == nil || spec.Tokenizer == nil {
		return nil, core.Errorf(core.KindInvalid, "claude.NewProfile", "model %q needs a template and a tokenizer", spec.ID)
	}
	if spec.ContextLength < 0 || spec.MaxOutputTokens < 0 {
		return nil, core.Errorf(core.KindInvalid, "claude.NewProfile", "model %q: negative limits", spec.ID)
	}
	p := &Profile{spec: spec, log: zap.NewNop(), sigKey: []byte("pensieve-thinking-signature"), think: knownThinkTags[0]}
	for _, o := range opts {
		o(p)
	}
	p.format = detectToolFormat(spec.Template)
	p.thinks = p.rendersThinking()
	p.systemFirst = p.renders([]core.ChatMessage{{Role: core.RoleSystem, Content: "probe_sys_first"},
		{Role: core.RoleUser, Content: "probe_user"}}, "probe_sys_first")
	p.systemMid = p.renders([]core.ChatMessage{{Role: core.RoleUser, Content: "probe_user"},
		{Role: core.RoleAssistant, Content: "probe_answer"}, {Role: core.RoleSystem, Content: "probe_sys_mid"},
		{Role: core.RoleUser, Content: "probe_user_2"}}, "probe_sys_mid")
	p.log.Debug("model profile", zap.String("model", spec.ID), zap.String("tool_format", string(p.format)),
		zap.Bool("thinks", p.thinks), zap.Bool("system_first", p.systemFirst), zap.Bool("system_mid", p.systemMid))
	return p, nil
}

// ID returns the model id.
func (p *Profile) ID() string { return p.spec.ID }

// ToolFormat returns how the model writes tool calls.
func (p *Profile) ToolFormat() ToolFormat { return p.format }

// ContextLength returns the model's context window in tokens (0:
// unlimited); prompts must be shorter (§7.3).
func (p *Profile) ContextLength() int { return p.spec.ContextLength }

// MaxOutputTokens returns the max_tokens cap (§7.3).
func (p *Profile) MaxOutputTokens() int {
	if p.spec.MaxOutputTokens > 0 {
		return p.spec.MaxOutputTokens
	}
	return p.spec.ContextLength
}

// renders reports whether the template renders msgs without error and
// with want in its output.
func (p *Profile) renders(msgs []core.ChatMessage, want string) bool {
	out, err := p.spec.Template.Render(core.ChatRequest{Messages: msgs})
	return err == nil && strings.Contains(out, want)
}

// rendersThinking reports whether the template renders reasoning between
// think tags (Qwen 3, DeepSeek R1 and kin), and picks those tags.
func (p *Profile) rendersThinking() bool {
	out, err := p.spec.Template.Render(core.ChatRequest{Messages: []core.ChatMessage{
		{Role: core.RoleUser, Content: "probe_user"},
		{Role: core.RoleAssistant, Reasoning: "probe_reasoning", Content: "probe_answer"},
		{Role: core.RoleUser, Content: "probe_user_2"},
		{Role: core.RoleAssistant, Reasoning: "probe_reasoning_2", Content: "probe_answer_2"},
	}})
	if err != nil {
		return false
	}
	for _, t := range knownThinkTags {
		if strings.Contains(out, t.open) && strings.Contains(out, t.close) {
			p.think = t
			return true
		}
	}
	// A template that drops past reasoning may still open a block in its
	// generation prompt.
	gen, err := p.spec.Template.Render(core.ChatRequest{Messages: []core.ChatMessage{
		{Role: core.RoleUser, Content: "probe_user"}}, AddGenerationPrompt: true})
	if err != nil {
		return false
	}
	for _, t := range knownThinkTags {
		if strings.HasSuffix(strings.TrimRight(gen, " \n"), t.open) {
			p.think = t
			return true
		}
	}
	return false
}

// detectToolFormat renders a probe conversation with one tool call and
// reads the format off the result.
func detectToolFormat(t core.ChatTemplate) ToolFormat {
	if !t.SupportsTools() {
		return ToolFormatGeneric
	}
	args := json.RawMessage(`{"probe_arg":"probe_value"}`)
	out, err := t.Render(core.ChatRequest{
		Messages: []core.ChatMessage{
			{Role: core.RoleUser, Content: "probe_user"},
			{Role: core.RoleAssistant, ToolCalls: []core.ToolCall{{ID: "call_probe", Name: "probe_tool", Arguments: args}}},
			{Role: core.RoleTool, ToolCallID: "call_probe", Name: "probe_tool", Content: "probe_result"},
		},
		Tools: []core.ToolSpec{{Name: "probe_tool", Description: "probe",
			Parameters: json.RawMessage(`{"type":"object","properties":{"probe_arg":{"type":"string"}}}`)}},
	})
	if err != nil {
		return ToolFormatGeneric
	}
	switch {
	case strings.Contains(out, "<function=probe_tool>"):
		return ToolFormatQwenXML
	case strings.Contains(out, "<tool_call>"):
		return ToolFormatHermes
	case strings.Contains(out, "[TOOL_CALLS]"):
		return ToolFormatMistral
	case strings.Contains(out, "<|python_tag|>"), strings.Contains(out, `"parameters"`):
		return ToolFormatLlama3
	}
	return ToolFormatGeneric
}

// vocabulary returns the model's vocabulary index, built on first use.
func (p *Profile) vocabulary() *vocabIndex {
	p.vocabOnce.Do(func() { p.vocab = newVocabIndex(p.spec.Tokenizer) })
	return p.vocab
}
