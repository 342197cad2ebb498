// Package chat renders conversations into prompts with the Jinja chat
// templates that GGUF files carry in tokenizer.chat_template (spec §4.7),
// implementing core.ChatTemplate. Templates see the variables Hugging Face
// transformers passes: messages, tools, add_generation_prompt, bos_token,
// eos_token, and the functions raise_exception and strftime_now. Files
// without a template get a built-in one chosen from their vocabulary and
// architecture (Builtin, Detect).
package chat

import (
	"fmt"
	"regexp"
	"time"

	"github.com/ardanlabs/jinja"

	"github.com/pensieve-llm/pensieve/core"
)

// Template is a compiled chat template. It is immutable and safe for
// concurrent use.
type Template struct {
	name     string
	main     *jinja.Template
	toolUse  *jinja.Template // optional variant used when a request has tools
	bos, eos string
	tools    bool
	now      func() time.Time
	optErr   error // the first error an option met
}

var _ core.ChatTemplate = (*Template)(nil)

// Option configures a Template.
type Option func(*Template)

// WithSpecialTokens sets the texts of the bos_token and eos_token variables
// (empty by default).
func WithSpecialTokens(bos, eos string) Option {
	return func(t *Template) { t.bos, t.eos = bos, eos }
}

// WithClock sets the clock behind strftime_now (time.Now by default), so
// that templates printing today's date render reproducibly.
func WithClock(now func() time.Time) Option { return func(t *Template) { t.now = now } }

// WithToolUse adds a variant template (GGUF's tokenizer.chat_template.tool_use)
// rendered instead of the main one when a request declares tools.
func WithToolUse(source string) Option {
	return func(t *Template) {
		tmpl, err := jinja.Compile(rewriteTojson(source))
		if err != nil {
			if t.optErr == nil {
				t.optErr = core.Errorf(core.KindInvalid, "chat.New", "tool_use variant of %s: %w", t.name, err)
			}
			return
		}
		t.toolUse = tmpl
		t.tools = true
	}
}

// usesTools matches a reference to the tools variable inside a Jinja tag.
var usesTools = regexp.MustCompile(`\{[{%](?:[^%}]|%[^}]|\}[^}])*\btools\b`)

// New compiles a Jinja chat template. name labels it in errors. A template
// that cannot be parsed is a core.KindInvalid error.
func New(name, source string, opts ...Option) (*Template, error) {
	tmpl, err := jinja.Compile(rewriteTojson(source))
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, "chat.New", "template %s: %w", name, err)
	}
	t := &Template{name: name, main: tmpl, tools: usesTools.MatchString(source), now: time.Now}
	for _, o := range opts {
		o(t)
	}
	if t.optErr != nil {
		return nil, t.optErr
	}
	return t, nil
}

// Name returns the template's label ("gguf" for a file's own template, the
// built-in's name otherwise).
func (t *Template) Name() string { return t.name }

// SupportsTools reports whether the template renders tool declarations
// itself (it references the tools variable, or has a tool-use variant).
func (t *Template) SupportsTools() bool { return t.tools }

// Render renders req. A template that rejects the conversation (through
// raise_exception, e.g. roles that do not alternate) or fails to evaluate
// yields a core.KindInvalid error, as do tool arguments or schemas that are
// not valid JSON.
func (t *Template) Render(req core.ChatRequest) (string, error) {
	const op = "chat.Render"
	msgs, err := messagesValue(req.Messages)
	if err != nil {
		return "", core.E(core.KindInvalid, op, err)
	}
	now := t.now
	data := map[string]jinja.Value{
		"messages":              msgs,
		"add_generation_prompt": jinja.NewBool(req.AddGenerationPrompt),
		"bos_token":             jinja.NewString(t.bos),
		"eos_token":             jinja.NewString(t.eos),
		tojsonName:              jinja.NewCallable("tojson", tojson),
		"strftime_now": jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || !args[0].IsString() {
				return jinja.Undefined(), fmt.Errorf("strftime_now: want one format string")
			}
			return jinja.NewString(strftime(now(), args[0].AsString())), nil
		}),
	}
	tmpl := t.main
	if len(req.Tools) > 0 {
		tools, err := toolsValue(req.Tools)
		if err != nil {
			return "", core.E(core.KindInvalid, op, err)
		}
		data["tools"] = tools
		if t.toolUse != nil {
			tmpl = t.toolUse
		}
	}
	out, err := tmpl.RenderValues(data)
	if err != nil {
		return "", core.Errorf(core.KindInvalid, op, "template %s: %w", t.name, err)
	}
	return out, nil
}
