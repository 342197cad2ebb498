package claude

import (
	"encoding/json"
	"regexp"
	"strconv"
)

// maxMessages is the upstream limit on messages per request [SDK].
const maxMessages = 100_000

// maxBreakpoints is the limit on cache_control markers per request (§10).
const maxBreakpoints = 4

// minThinkingBudget is the smallest thinking.budget_tokens (§3.5).
const minThinkingBudget = 1024

var toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// DecodeRequest decodes and validates the body of POST /v1/messages under
// API version v. It applies every rule that needs no model: JSON types,
// required fields, ranges, roles, the version rules of §3.2, tool and
// tool_choice rules, tool_use/tool_result pairing, thinking limits and the
// cache breakpoint limit. Unknown fields are ignored at every level.
//
// Errors are KindInvalid and hold an *APIError whose text is the client
// message, e.g. "max_tokens: Field required".
func DecodeRequest(body []byte, v Version) (*MessageRequest, error) {
	return decode(body, v, false)
}

// DecodeCountTokensRequest decodes and validates the body of POST
// /v1/messages/count_tokens (§8): max_tokens is not required and, like the
// sampling fields and stream, ignored when sent.
func DecodeCountTokensRequest(body []byte, v Version) (*MessageRequest, error) {
	return decode(body, v, true)
}

func decode(body []byte, v Version, counting bool) (*MessageRequest, error) {
	op := "claude.DecodeRequest"
	if counting {
		op = "claude.DecodeCountTokensRequest"
	}
	if !json.Valid(body) {
		var probe any
		return nil, badJSON(op, json.Unmarshal(body, &probe))
	}
	top, err := asObject(op, body, "")
	if err != nil {
		return nil, err
	}
	d := decoder{op: op, v: v, counting: counting, top: top}
	d.blocks = blockReader{op: op, breakpoints: &d.breakpoints}
	req, err := d.request()
	if err != nil {
		return nil, err
	}
	if err := validate(op, req, v, counting); err != nil {
		return nil, err
	}
	if d.breakpoints > maxBreakpoints {
		return nil, invalid(op, "", "A maximum of %d blocks with cache_control may be provided. Found %d.",
			maxBreakpoints, d.breakpoints)
	}
	return req, nil
}

// decoder reads one request body.
type decoder struct {
	op          string
	v           Version
	counting    bool
	top         object
	blocks      blockReader
	breakpoints int
}

func (d *decoder) request() (*MessageRequest, error) {
	o := d.top
	req := &MessageRequest{}
	var err error
	if req.Model, err = o.mustStr("model"); err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, invalid(d.op, "model", "String should have at least 1 character")
	}
	if !d.counting {
		n, ok, err := o.integer("max_tokens")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, o.required("max_tokens")
		}
		if n < 0 {
			return nil, invalid(d.op, "max_tokens", "Input should be greater than or equal to 0")
		}
		req.MaxTokens = n
	}
	if req.Messages, err = d.messages(); err != nil {
		return nil, err
	}
	if req.System, err = d.system(); err != nil {
		return nil, err
	}
	if !d.counting {
		if err := d.generationFields(req); err != nil {
			return nil, err
		}
	}
	if req.Tools, err = d.tools(); err != nil {
		return nil, err
	}
	if req.ToolChoice, err = d.toolChoice(); err != nil {
		return nil, err
	}
	if req.Thinking, err = d.thinking(); err != nil {
		return nil, err
	}
	if req.OutputConfig, err = d.outputConfig(); err != nil {
		return nil, err
	}
	if req.CacheControl, err = d.blocks.readCacheControl(o); err != nil {
		return nil, err
	}
	if err := d.ignored(req); err != nil {
		return nil, err
	}
	return req, nil
}

// generationFields reads the fields count_tokens ignores.
func (d *decoder) generationFields(req *MessageRequest) error {
	o := d.top
	seqs, _, err := o.array("stop_sequences")
	if err != nil {
		return err
	}
	for i, raw := range seqs {
		s, err := asString(d.op, raw, join("stop_sequences", strconv.Itoa(i)))
		if err != nil {
			return err
		}
		if s == "" {
			return invalid(d.op, join("stop_sequences", strconv.Itoa(i)), "String should have at least 1 character")
		}
		req.StopSequences = append(req.StopSequences, s)
	}
	if req.Stream, _, err = o.boolean("stream"); err != nil {
		return err
	}
	return d.sampling(req)
}

// sampling reads temperature, top_p and top_k under the version rules of
// §3.2: validated on 2023-06-01, rejected on 2026-10-21.
func (d *decoder) sampling(req *MessageRequest) error {
	o := d.top
	for _, key := range []string{"temperature", "top_p", "top_k"} {
		if d.v.removesSampling() && o.has(key) {
			return invalid(d.op, key, "Extra inputs are not permitted: sampling parameters were removed in API version %s", d.v)
		}
	}
	for _, key := range []string{"temperature", "top_p"} {
		f, ok, err := o.number(key)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if f < 0 {
			return invalid(d.op, key, "Input should be greater than or equal to 0")
		}
		if f > 1 {
			return invalid(d.op, key, "Input should be less than or equal to 1")
		}
		if key == "temperature" {
			req.Temperature = &f
		} else {
			req.TopP = &f
		}
	}
	k, ok, err := o.integer("top_k")
	if err != nil {
		return err
	}
	if ok {
		if k < 0 {
			return invalid(d.op, "top_k", "Input should be greater than or equal to 0")
		}
		req.TopK = &k
	}
	return nil
}

// ignored reads fields Pensieve accepts and does not act on, so that their
// JSON types are still checked (§3.1).
func (d *decoder) ignored(req *MessageRequest) error {
	o := d.top
	if mo, ok, err := o.obj("metadata"); err != nil {
		return err
	} else if ok {
		uid, _, err := mo.str("user_id")
		if err != nil {
			return err
		}
		req.Metadata = &Metadata{UserID: uid}
	}
	if d.counting {
		return nil
	}
	tier, _, err := o.enum("service_tier", "auto", "standard_only")
	req.ServiceTier = tier
	return err
}

func (d *decoder) messages() ([]InputMessage, error) {
	items, ok, err := d.top.array("messages")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, d.top.required("messages")
	}
	if len(items) == 0 {
		return nil, invalid(d.op, "messages", "at least one message is required")
	}
	if len(items) > maxMessages {
		return nil, invalid(d.op, "messages", "List should have at most %d items after validation, not %d", maxMessages, len(items))
	}
	out := make([]InputMessage, 0, len(items))
	for i, raw := range items {
		m, err := d.message(raw, join("messages", strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (d *decoder) message(raw json.RawMessage, path string) (InputMessage, error) {
	o, err := asObject(d.op, raw, path)
	if err != nil {
		return InputMessage{}, err
	}
	role, ok, err := o.enum("role", string(RoleUser), string(RoleAssistant), string(RoleSystem))
	if err != nil {
		return InputMessage{}, err
	}
	if !ok {
		return InputMessage{}, o.required("role")
	}
	content, ok := o.get("content")
	if !ok {
		return InputMessage{}, o.required("content")
	}
	p := inUser
	switch Role(role) {
	case RoleAssistant:
		p = inAssistant
	case RoleSystem:
		p = inSystem
	}
	blocks, err := d.blocks.content(content, o.at("content"), p)
	return InputMessage{Role: Role(role), Content: blocks}, err
}

// system reads the system parameter: a string or text blocks (§3.1).
func (d *decoder) system() ([]TextBlock, error) {
	raw, ok := d.top.get("system")
	if !ok {
		return nil, nil
	}
	blocks, err := d.blocks.content(raw, "system", inSystem)
	if err != nil || len(blocks) == 0 {
		return nil, err
	}
	out := make([]TextBlock, len(blocks))
	for i, b := range blocks {
		out[i] = b.(TextBlock)
	}
	return out, nil
}

func (d *decoder) tools() ([]Tool, error) {
	items, _, err := d.top.array("tools")
	if err != nil {
		return nil, err
	}
	var out []Tool
	for i, raw := range items {
		t, err := d.tool(raw, join("tools", strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (d *decoder) tool(raw json.RawMessage, path string) (Tool, error) {
	o, err := asObject(d.op, raw, path)
	if err != nil {
		return Tool{}, err
	}
	typ, _, err := o.str("type")
	if err != nil {
		return Tool{}, err
	}
	if typ != "" && typ != "custom" {
		return Tool{}, invalid(d.op, o.at("type"), "tool type '%s' is not supported by this server; only custom tools are", typ)
	}
	o.path = join(path, "custom")
	t := Tool{Type: typ}
	if t.Name, err = o.mustStr("name"); err != nil {
		return Tool{}, err
	}
	if !toolNamePattern.MatchString(t.Name) {
		return Tool{}, invalid(d.op, o.at("name"), "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'")
	}
	if t.Description, _, err = o.str("description"); err != nil {
		return Tool{}, err
	}
	so, ok, err := o.obj("input_schema")
	if err != nil {
		return Tool{}, err
	}
	if !ok {
		return Tool{}, o.required("input_schema")
	}
	if st, ok, err := so.str("type"); err != nil {
		return Tool{}, err
	} else if !ok {
		return Tool{}, so.required("type")
	} else if st != "object" {
		return Tool{}, invalid(d.op, so.at("type"), "Input should be 'object'")
	}
	schema, _ := o.get("input_schema")
	t.InputSchema = compactJSON(schema)
	if t.CacheControl, err = d.blocks.readCacheControl(o); err != nil {
		return Tool{}, err
	}
	for _, key := range []string{"strict", "eager_input_streaming", "defer_loading"} {
		if _, _, err := o.boolean(key); err != nil {
			return Tool{}, err
		}
	}
	return t, nil
}

func (d *decoder) toolChoice() (*ToolChoice, error) {
	o, ok, err := d.top.obj("tool_choice")
	if err != nil || !ok {
		return nil, err
	}
	typ, ok, err := o.enum("type", "auto", "any", "tool", "none")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, o.required("type")
	}
	o.path = join(o.path, typ)
	tc := &ToolChoice{Type: ToolChoiceType(typ)}
	if tc.Type == ToolChoiceTool {
		if tc.Name, err = o.mustStr("name"); err != nil {
			return nil, err
		}
	}
	if tc.Type != ToolChoiceNone {
		if tc.DisableParallelToolUse, _, err = o.boolean("disable_parallel_tool_use"); err != nil {
			return nil, err
		}
	}
	return tc, nil
}

func (d *decoder) thinking() (*Thinking, error) {
	o, ok, err := d.top.obj("thinking")
	if err != nil || !ok {
		return nil, err
	}
	typ, ok, err := o.enum("type", "enabled", "disabled", "adaptive", "between_tools")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, o.required("type")
	}
	o.path = join(o.path, typ)
	th := &Thinking{Type: ThinkingType(typ)}
	if th.Type == ThinkingEnabled {
		n, ok, err := o.integer("budget_tokens")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, o.required("budget_tokens")
		}
		if n < minThinkingBudget {
			return nil, invalid(d.op, o.at("budget_tokens"), "Input should be greater than or equal to %d", minThinkingBudget)
		}
		th.BudgetTokens = n
	}
	if th.Type == ThinkingEnabled || th.Type == ThinkingAdaptive {
		if th.Display, _, err = o.enum("display", DisplaySummarized, DisplayOmitted); err != nil {
			return nil, err
		}
	}
	return th, nil
}

func (d *decoder) outputConfig() (*OutputConfig, error) {
	o, ok, err := d.top.obj("output_config")
	if err != nil || !ok {
		return nil, err
	}
	oc := &OutputConfig{}
	if oc.Effort, _, err = o.enum("effort", "low", "medium", "high", "xhigh", "max"); err != nil {
		return nil, err
	}
	fo, ok, err := o.obj("format")
	if err != nil || !ok {
		return oc, err
	}
	typ, ok, err := fo.enum("type", "json_schema")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fo.required("type")
	}
	fo.path = join(fo.path, typ)
	schema, ok := fo.get("schema")
	if !ok {
		return nil, fo.required("schema")
	}
	if jsonKind(schema) != '{' {
		return nil, invalid(d.op, fo.at("schema"), "Input should be a valid dictionary")
	}
	oc.Format = &OutputFormat{Type: typ, Schema: compactJSON(schema)}
	return oc, nil
}
