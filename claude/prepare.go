package claude

import (
	"strings"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude/internal/jsonmatch"
	"github.com/pensieve-llm/pensieve/core"
)

// Prepared is a request ready for the engine: the prompt tokens, the
// core.Request to pass to core.Generator.Generate, and what the response
// stream needs to know about the request. It is used by one response.
type Prepared struct {
	// Request is the generation to run. Its MaxTokens is max_tokens, or
	// less when the context cannot hold that many; it is 0 when max_tokens
	// is 0, and then no generation must run (see EmptyCompletion).
	Request core.Request
	// Prompt is the rendered prompt text, for logs and debugging.
	Prompt string
	// MaxTokens is the max_tokens the client asked for.
	MaxTokens int

	cfg streamConfig
}

// InputTokens returns the prompt's length in tokens, the sum of the
// prompt-side usage fields and what CountTokens returns for the request.
func (pr *Prepared) InputTokens() int { return len(pr.Request.Prompt) }

// EmptyCompletion returns the event that ends a request with max_tokens 0
// without running the engine: feed it to the Stream instead of events
// from Generate (§3.1: content [], stop_reason "max_tokens").
func (pr *Prepared) EmptyCompletion() core.Event {
	return core.Event{Done: true, StopReason: core.StopMaxTokens, Usage: core.Usage{PromptTokens: pr.InputTokens()}}
}

// Prepare renders and tokenizes req for this model and builds its
// generation request. It checks max_tokens against the model's output cap
// and the prompt against its context ("prompt is too long: N tokens > M
// maximum", KindContextLength), rejects images and binary documents (the
// models are text-only), and attaches the constraint that forced tool use
// (tool_choice any or tool), output_config.format and thinking budgets
// need.
func (p *Profile) Prepare(req *MessageRequest) (*Prepared, error) {
	if max := p.MaxOutputTokens(); max > 0 && req.MaxTokens > max {
		return nil, MaxTokensTooLarge(req.MaxTokens, max, p.spec.ID)
	}
	r, prompt, err := p.tokenize(req)
	if err != nil {
		return nil, err
	}
	limit := p.spec.ContextLength
	if limit > 0 && len(prompt) >= limit {
		return nil, PromptTooLong(len(prompt), limit-1)
	}
	gen := req.MaxTokens
	if limit > 0 {
		gen = min(gen, limit-len(prompt))
	}
	pr := &Prepared{
		Request: core.Request{
			Prompt:    prompt,
			MaxTokens: gen,
			Stop:      req.StopSequences,
			Sampling:  sampling(req),
		},
		Prompt:    r.text,
		MaxTokens: req.MaxTokens,
		cfg:       p.streamConfig(req, r),
	}
	if gen > 0 {
		pr.Request.Constraint = p.constraint(req, r, gen)
	}
	return pr, nil
}

// CountTokens returns the prompt length of req as the model sees it: the
// same rendering and tokenization as Prepare (§8).
func (p *Profile) CountTokens(req *MessageRequest) (int, error) {
	_, prompt, err := p.tokenize(req)
	return len(prompt), err
}

func (p *Profile) tokenize(req *MessageRequest) (rendered, []core.TokenID, error) {
	r, err := p.render(req)
	if err != nil {
		return rendered{}, nil, err
	}
	tok := p.spec.Tokenizer
	ids, err := tok.Encode(nil, r.text, true)
	if err != nil {
		return rendered{}, nil, core.Errorf(core.KindInvalid, "claude.Prepare", "tokenizing the prompt: %w", err)
	}
	if v := tok.Vocab(); v.AddBOS && v.BOS != core.NoToken && (len(ids) == 0 || ids[0] != v.BOS) {
		ids = append([]core.TokenID{v.BOS}, ids...)
	}
	return r, ids, nil
}

// sampling maps the 2023-06-01 sampling fields; the default temperature
// is 1.0 as upstream's.
func sampling(req *MessageRequest) core.Sampling {
	s := core.Sampling{Temperature: 1}
	if req.Temperature != nil {
		s.Temperature = float32(*req.Temperature)
	}
	if req.TopP != nil {
		s.TopP = float32(*req.TopP)
	}
	if req.TopK != nil {
		s.TopK = *req.TopK
	}
	return s
}

// startsInside reports whether the prompt ends inside an open reasoning
// block, so the output begins with reasoning.
func (p *Profile) startsInside(text string) bool {
	return strings.HasSuffix(strings.TrimRight(text, " \t\r\n"), p.think.open)
}

// streamConfig captures what parsing the output needs.
func (p *Profile) streamConfig(req *MessageRequest, r rendered) streamConfig {
	tc := req.toolChoice()
	cfg := streamConfig{
		model:           p.spec.ID,
		tools:           r.tools,
		thinkingOn:      req.thinkingOn(),
		omitThinking:    req.Thinking != nil && req.Thinking.Display == DisplayOmitted,
		startsInside:    p.startsInside(r.text),
		prefill:         r.prefill,
		think:           p.think,
		disableParallel: tc.DisableParallelToolUse,
		maxTokens:       req.MaxTokens,
		sigKey:          p.sigKey,
	}
	return cfg
}

// constraint builds the logit constraint of req, or nil when the model
// may write freely.
func (p *Profile) constraint(req *MessageRequest, r rendered, gen int) core.Constraint {
	tc := req.toolChoice()
	inside := p.startsInside(r.text)
	var inner *jsonConstraint
	switch {
	case len(r.tools) > 0 && (tc.Type == ToolChoiceAny || tc.Type == ToolChoiceTool):
		inner = p.toolCallConstraint(r.tools, tc, gen)
	case len(r.tools) == 0 && req.OutputConfig != nil && req.OutputConfig.Format != nil:
		inner = p.formatConstraint(req.OutputConfig.Format, gen)
	}
	budget := 0 // thinking off: a reasoning block is closed at once
	switch {
	case req.Thinking != nil && req.Thinking.Type == ThinkingEnabled:
		budget = req.Thinking.BudgetTokens
	case req.thinkingOn():
		budget = -1 // adaptive: no budget
	}
	vi := p.vocabulary
	switch {
	case inner == nil && budget >= 0 && (inside || p.thinks):
		return newThinkConstraint(vi(), p.think.open, p.think.close, inside, budget, gen, nil)
	case inner == nil:
		return nil
	case inside || (budget != 0 && p.thinks):
		// Reasoning first (forcing its open tag unless the prompt opened
		// it), then the constrained output.
		return newThinkConstraint(vi(), p.think.open, p.think.close, inside, budget, gen, inner)
	}
	return inner
}

// callWrapper returns how the model's format spells one forced call around
// its name and its arguments.
func callWrapper(f ToolFormat) (prefix, infix, suffix string) {
	switch f {
	case ToolFormatLlama3:
		return `{"name": "`, `", "parameters": `, `}`
	case ToolFormatMistral:
		return `[TOOL_CALLS][{"name": "`, `", "arguments": `, `}]`
	}
	return "<tool_call>\n{\"name\": \"", "\", \"arguments\": ", "}\n</tool_call>"
}

// toolCallConstraint forces one call of the allowed tools whose arguments
// are valid against the tool's input_schema (§3.4). A schema outside the
// supported subset falls back to "any JSON object".
func (p *Profile) toolCallConstraint(tools []Tool, tc ToolChoice, gen int) *jsonConstraint {
	g := jsonmatch.Grammar{}
	g.Prefix, g.Infix, g.Suffix = callWrapper(p.format)
	for _, t := range tools {
		if tc.Type == ToolChoiceTool && t.Name != tc.Name {
			continue
		}
		s, err := jsonmatch.Compile(t.InputSchema)
		if err != nil {
			p.log.Debug("tool schema outside the supported subset", zap.String("tool", t.Name), zap.Error(err))
			s, _ = jsonmatch.Compile([]byte(`{"type":"object"}`))
		}
		g.Names = append(g.Names, t.Name)
		g.Schemas = append(g.Schemas, s)
	}
	prog, err := jsonmatch.NewProgram(g)
	if err != nil {
		p.log.Debug("tool call grammar", zap.Error(err))
		return nil
	}
	return newJSONConstraint(p.vocabulary(), prog, gen)
}

// formatConstraint makes the output a JSON document valid against
// output_config.format.schema.
func (p *Profile) formatConstraint(f *OutputFormat, gen int) *jsonConstraint {
	s, err := jsonmatch.Compile(f.Schema)
	if err != nil {
		p.log.Debug("output format schema outside the supported subset", zap.Error(err))
		s = jsonmatch.Any()
	}
	prog, err := jsonmatch.NewProgram(jsonmatch.Grammar{Schemas: []*jsonmatch.Schema{s}})
	if err != nil {
		return nil
	}
	return newJSONConstraint(p.vocabulary(), prog, gen)
}
