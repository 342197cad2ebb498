package testmodel

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Llama3 renders like the fixture models' chat template:
//
//	{{bos}}{% for m in messages %}<|start_header_id|>{{role}}<|end_header_id|>\n\n{{content|trim}}<|eot_id|>{% endfor %}
//
// plus the assistant header as generation prompt. With Tools set it also
// renders tools and calls the way Llama 3.1 does (JSON with "parameters",
// results as ipython turns).
type Llama3 struct{ Tools bool }

// Render implements core.ChatTemplate.
func (t Llama3) Render(req core.ChatRequest) (string, error) {
	var sb strings.Builder
	sb.WriteString("<|begin_of_text|>")
	msgs := req.Messages
	if t.Tools && len(req.Tools) > 0 {
		var defs []string
		for _, tool := range req.Tools {
			b, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]any{
				"name": tool.Name, "description": tool.Description, "parameters": tool.Parameters}})
			defs = append(defs, string(b))
		}
		head := core.ChatMessage{Role: core.RoleSystem, Content: "Environment: ipython\n\nYou may call these functions, answering with {\"name\": function name, \"parameters\": arguments}:\n" + strings.Join(defs, "\n")}
		if len(msgs) > 0 && msgs[0].Role == core.RoleSystem {
			head.Content = msgs[0].Content + "\n\n" + head.Content
			msgs = msgs[1:]
		}
		msgs = append([]core.ChatMessage{head}, msgs...)
	}
	for _, m := range msgs {
		role, content := m.Role, m.Content
		if t.Tools {
			if m.Role == core.RoleTool {
				role = "ipython"
			}
			for _, c := range m.ToolCalls {
				b, _ := json.Marshal(map[string]any{"name": c.Name, "parameters": c.Arguments})
				content += string(b)
			}
		}
		sb.WriteString("<|start_header_id|>" + role + "<|end_header_id|>\n\n" + strings.TrimSpace(content) + "<|eot_id|>")
	}
	if req.AddGenerationPrompt {
		sb.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
	return sb.String(), nil
}

// SupportsTools implements core.ChatTemplate.
func (t Llama3) SupportsTools() bool { return t.Tools }

// Hermes renders ChatML with Hermes/Qwen tool calls and <think> reasoning.
// With XML set, calls are written as Qwen3-Coder writes them. With
// OpenThink set, the generation prompt opens a reasoning block.
type Hermes struct{ XML, OpenThink bool }

// Render implements core.ChatTemplate.
func (t Hermes) Render(req core.ChatRequest) (string, error) {
	var sb strings.Builder
	msgs := req.Messages
	if len(req.Tools) > 0 {
		sys := ""
		if len(msgs) > 0 && msgs[0].Role == core.RoleSystem {
			sys, msgs = msgs[0].Content+"\n\n", msgs[1:]
		}
		sys += "# Tools\n\n<tools>\n"
		for _, tool := range req.Tools {
			b, _ := json.Marshal(map[string]any{"name": tool.Name, "description": tool.Description, "parameters": tool.Parameters})
			sys += string(b) + "\n"
		}
		sys += "</tools>"
		sb.WriteString("<|im_start|>system\n" + sys + "<|im_end|>\n")
	}
	for i, m := range msgs {
		switch m.Role {
		case core.RoleTool:
			sb.WriteString("<|im_start|>user\n<tool_response>\n" + m.Content + "\n</tool_response><|im_end|>\n")
		case core.RoleAssistant:
			sb.WriteString("<|im_start|>assistant\n")
			if m.Reasoning != "" {
				sb.WriteString("<think>\n" + m.Reasoning + "\n</think>\n\n")
			}
			sb.WriteString(m.Content)
			for _, c := range m.ToolCalls {
				sb.WriteString("\n" + t.call(c))
			}
			sb.WriteString("<|im_end|>\n")
		case core.RoleSystem:
			if i > 0 && t.XML {
				return "", fmt.Errorf("system message must be at the beginning")
			}
			sb.WriteString("<|im_start|>system\n" + m.Content + "<|im_end|>\n")
		default:
			sb.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
	}
	if req.AddGenerationPrompt {
		sb.WriteString("<|im_start|>assistant\n")
		if t.OpenThink {
			sb.WriteString("<think>\n")
		}
	}
	return sb.String(), nil
}

func (t Hermes) call(c core.ToolCall) string {
	if !t.XML {
		b, _ := json.Marshal(map[string]any{"name": c.Name, "arguments": c.Arguments})
		return "<tool_call>\n" + string(b) + "\n</tool_call>"
	}
	var args map[string]any
	_ = json.Unmarshal(c.Arguments, &args)
	s := "<tool_call>\n<function=" + c.Name + ">\n"
	for k, v := range args {
		val, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			val = string(b)
		}
		s += "<parameter=" + k + ">\n" + val + "\n</parameter>\n"
	}
	return s + "</function>\n</tool_call>"
}

// SupportsTools implements core.ChatTemplate.
func (Hermes) SupportsTools() bool { return true }

// Mistral renders [INST] turns and [TOOL_CALLS] arrays.
type Mistral struct{}

// Render implements core.ChatTemplate. It rejects system turns anywhere
// but first, as many Mistral templates do.
func (Mistral) Render(req core.ChatRequest) (string, error) {
	var sb strings.Builder
	sb.WriteString("<s>")
	for i, m := range req.Messages {
		switch m.Role {
		case core.RoleSystem:
			if i > 0 {
				return "", fmt.Errorf("conversation roles must alternate")
			}
			sb.WriteString("[SYSTEM_PROMPT]" + m.Content + "[/SYSTEM_PROMPT]")
		case core.RoleUser:
			sb.WriteString("[INST]" + m.Content + "[/INST]")
		case core.RoleTool:
			sb.WriteString("[TOOL_RESULTS]" + m.Content + "[/TOOL_RESULTS]")
		case core.RoleAssistant:
			sb.WriteString(m.Content)
			if len(m.ToolCalls) > 0 {
				var calls []map[string]any
				for _, c := range m.ToolCalls {
					calls = append(calls, map[string]any{"name": c.Name, "arguments": c.Arguments})
				}
				b, _ := json.Marshal(calls)
				sb.WriteString("[TOOL_CALLS]" + string(b))
			}
			sb.WriteString("</s>")
		}
	}
	return sb.String(), nil
}

// SupportsTools implements core.ChatTemplate.
func (Mistral) SupportsTools() bool { return true }
