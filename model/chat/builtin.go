package chat

import (
	"sort"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Built-in templates for model files without tokenizer.chat_template,
// written in Jinja so that they run through the same engine as a file's own
// template. Each follows its model family's published prompt format.
var builtins = map[string]string{
	// Llama 3 / 3.1 Instruct: header tokens per turn, tools described in
	// the system turn as JSON, tool results in ipython turns.
	"llama3": `
{{- bos_token }}
{%- set ns = namespace(system='', start=0) %}
{%- if messages and messages[0].role == 'system' %}
  {%- set ns.system = messages[0].content | trim %}
  {%- set ns.start = 1 %}
{%- endif %}
{%- if ns.system or tools %}
  {{- '<|start_header_id|>system<|end_header_id|>\n\n' }}
  {%- if tools %}
    {{- 'Environment: ipython\n\nYou have access to the following functions. To call a function, respond with JSON in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.\n\n' }}
    {%- for t in tools %}
      {{- t | tojson + '\n\n' }}
    {%- endfor %}
  {%- endif %}
  {{- ns.system + '<|eot_id|>' }}
{%- endif %}
{%- for m in messages[ns.start:] %}
  {%- if m.role == 'tool' %}
    {{- '<|start_header_id|>ipython<|end_header_id|>\n\n' + m.content + '<|eot_id|>' }}
  {%- elif 'tool_calls' in m %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
    {%- for c in m.tool_calls %}
      {%- if not loop.first %}{{- '\n' }}{%- endif %}
      {{- '{"name": "' + c.function.name + '", "parameters": ' + c.function.arguments | tojson + '}' }}
    {%- endfor %}
    {{- '<|eot_id|>' }}
  {%- else %}
    {{- '<|start_header_id|>' + m.role + '<|end_header_id|>\n\n' + m.content | trim + '<|eot_id|>' }}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
  {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}`,

	// ChatML as Qwen 2.5 uses it: tools listed in the system turn inside
	// <tools>, calls in <tool_call>, results in <tool_response> user turns.
	"chatml": `
{%- set ns = namespace(start=0) %}
{%- if messages and messages[0].role == 'system' %}
  {%- set ns.start = 1 %}
{%- endif %}
{%- if tools %}
  {{- '<|im_start|>system\n' }}
  {%- if ns.start %}
    {{- messages[0].content }}
  {%- else %}
    {{- 'You are a helpful assistant.' }}
  {%- endif %}
  {{- '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>' }}
  {%- for t in tools %}
    {{- '\n' + t | tojson }}
  {%- endfor %}
  {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' }}
{%- elif ns.start %}
  {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for m in messages[ns.start:] %}
  {%- if m.role == 'tool' %}
    {%- if loop.first or loop.previtem.role != 'tool' %}
      {{- '<|im_start|>user' }}
    {%- endif %}
    {{- '\n<tool_response>\n' + m.content + '\n</tool_response>' }}
    {%- if loop.last or loop.nextitem.role != 'tool' %}
      {{- '<|im_end|>\n' }}
    {%- endif %}
  {%- elif 'tool_calls' in m %}
    {{- '<|im_start|>assistant' }}
    {%- if m.content %}
      {{- '\n' + m.content }}
    {%- endif %}
    {%- for c in m.tool_calls %}
      {{- '\n<tool_call>\n{"name": "' + c.function.name + '", "arguments": ' + c.function.arguments | tojson + '}\n</tool_call>' }}
    {%- endfor %}
    {{- '<|im_end|>\n' }}
  {%- else %}
    {{- '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
  {{- '<|im_start|>assistant\n' }}
{%- endif %}`,

	// Gemma: user and model turns only; system text opens the next user
	// turn, tool results are user turns.
	"gemma": `
{{- bos_token }}
{%- set ns = namespace(system='') %}
{%- for m in messages %}
  {%- if m.role == 'system' %}
    {%- set ns.system = ns.system + m.content | trim + '\n\n' %}
  {%- else %}
    {%- set role = 'model' if m.role == 'assistant' else 'user' %}
    {{- '<start_of_turn>' + role + '\n' }}
    {%- if role == 'user' %}
      {{- ns.system }}
      {%- set ns.system = '' %}
    {%- endif %}
    {{- m.content | trim + '<end_of_turn>\n' }}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
  {{- '<start_of_turn>model\n' }}
{%- endif %}`,

	// Phi-3: <|role|> headers closed by <|end|>.
	"phi3": `
{%- for m in messages %}
  {%- set role = m.role if m.role in ['system', 'user', 'assistant'] else 'user' %}
  {{- '<|' + role + '|>\n' + m.content + '<|end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
  {{- '<|assistant|>\n' }}
{%- endif %}`,

	// Mistral / Llama 2 [INST] format: system text joins the next user
	// instruction, assistant replies end with EOS.
	"mistral": `
{{- bos_token }}
{%- set ns = namespace(system='') %}
{%- for m in messages %}
  {%- if m.role == 'system' %}
    {%- set ns.system = ns.system + m.content | trim + '\n\n' %}
  {%- elif m.role == 'assistant' %}
    {{- ' ' + m.content | trim + eos_token }}
  {%- else %}
    {{- '[INST] ' + ns.system + m.content | trim + ' [/INST]' }}
    {%- set ns.system = '' %}
  {%- endif %}
{%- endfor %}`,
}

// BuiltinNames lists the built-in templates.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin returns the built-in template name ("llama3", "chatml", "gemma",
// "phi3" or "mistral"); an unknown name is a core.KindNotFound error.
func Builtin(name string, opts ...Option) (*Template, error) {
	src, ok := builtins[name]
	if !ok {
		return nil, core.Errorf(core.KindNotFound, "chat.Builtin", "no built-in chat template %q", name)
	}
	return New(name, strings.TrimSpace(src), opts...)
}

// Detect picks the built-in template for a model without one: first by the
// turn markers its vocabulary has, then by architecture; ChatML otherwise.
// tokenizerModel is tokenizer.ggml.model ("llama" vocabularies without
// markers are Llama 2 / Mistral [INST] models).
func Detect(arch, tokenizerModel string, tokens []string) string {
	has := map[string]bool{}
	for _, t := range tokens {
		switch t {
		case "<|start_header_id|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<start_of_turn>",
			"<end_of_turn>", "<|user|>", "<|assistant|>", "<|end|>", "[INST]", "[/INST]":
			has[t] = true
		}
	}
	switch {
	case has["<|start_header_id|>"] && has["<|eot_id|>"]:
		return "llama3"
	case has["<|im_start|>"] && has["<|im_end|>"]:
		return "chatml"
	case has["<start_of_turn>"] && has["<end_of_turn>"]:
		return "gemma"
	case has["<|user|>"] && has["<|assistant|>"] && has["<|end|>"]:
		return "phi3"
	case has["[INST]"] && has["[/INST]"]:
		return "mistral"
	}
	switch {
	case strings.HasPrefix(arch, "gemma"):
		return "gemma"
	case arch == "phi3":
		return "phi3"
	case strings.HasPrefix(arch, "qwen"):
		return "chatml"
	case arch == "llama" && tokenizerModel == "llama":
		return "mistral"
	case arch == "llama":
		return "llama3"
	}
	return "chatml"
}
