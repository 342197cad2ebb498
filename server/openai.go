package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// The OpenAI-compatible endpoint (POST /v1/chat/completions) is a
// translation layer: a chat request becomes a Messages request body that
// goes through the same decoding, validation, prompt building and
// generation as POST /v1/messages, and the Messages reply (or its stream
// events) is translated back. Sampling knobs whose OpenAI range differs
// (temperature up to 2) bypass the Messages validation and are applied to
// the engine request directly.

// chatRequest is the subset of OpenAI's chat completion request Pensieve
// understands; other fields are ignored.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Seed                *int64          `json:"seed"`
	N                   *int            `json:"n"`
	Stop                json.RawMessage `json:"stop"` // string or []string
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools             []chatTool      `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"` // "none" | "auto" | "required" | {"type":"function",...}
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	ResponseFormat    *struct {
		Type       string `json:"type"` // text | json_object | json_schema
		JSONSchema *struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"` // string, parts or null
	ToolCalls  []chatToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type chatContentPart struct {
	Type     string `json:"type"` // text | image_url
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type chatToolCall struct {
	Index    *int   `json:"index,omitempty"` // streaming chunks only
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"` // "function"
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"` // JSON text
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"` // "function"
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// chatSampling holds the OpenAI sampling values applied after Prepare.
type chatSampling struct {
	temperature, topP *float64
	seed              *int64
}

// toMessagesBody translates a chat request into a Messages request body
// for claude.DecodeRequest. maxTokens is used when the request sets none.
func toMessagesBody(in *chatRequest, maxTokens int) ([]byte, chatSampling, error) {
	const op = "server.chatCompletions"
	var samp chatSampling
	if in.N != nil && *in.N != 1 {
		return nil, samp, core.Errorf(core.KindInvalid, op, "n: only 1 is supported")
	}
	if t := in.Temperature; t != nil && (*t < 0 || *t > 2) {
		return nil, samp, core.Errorf(core.KindInvalid, op, "temperature: must be between 0 and 2")
	}
	if p := in.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, samp, core.Errorf(core.KindInvalid, op, "top_p: must be between 0 and 1")
	}
	samp = chatSampling{temperature: in.Temperature, topP: in.TopP, seed: in.Seed}
	out := map[string]any{"model": in.Model, "max_tokens": maxTokens, "stream": in.Stream}
	switch {
	case in.MaxCompletionTokens != nil:
		out["max_tokens"] = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		out["max_tokens"] = *in.MaxTokens
	}
	system, msgs, err := chatMessages(in.Messages)
	if err != nil {
		return nil, samp, err
	}
	out["messages"] = msgs
	if len(system) > 0 {
		out["system"] = system
	}
	if stops, err := chatStops(in.Stop); err != nil {
		return nil, samp, err
	} else if len(stops) > 0 {
		out["stop_sequences"] = stops
	}
	if len(in.Tools) > 0 {
		tools := make([]map[string]any, len(in.Tools))
		for i, t := range in.Tools {
			if t.Type != "function" {
				return nil, samp, core.Errorf(core.KindInvalid, op, "tools.%d.type: only \"function\" is supported", i)
			}
			schema := t.Function.Parameters
			if len(schema) == 0 || string(schema) == "null" {
				schema = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			tools[i] = map[string]any{"name": t.Function.Name, "description": t.Function.Description, "input_schema": schema}
		}
		out["tools"] = tools
	}
	if choice, err := chatToolChoice(in.ToolChoice, in.ParallelToolCalls); err != nil {
		return nil, samp, err
	} else if choice != nil {
		out["tool_choice"] = choice
	}
	if rf := in.ResponseFormat; rf != nil {
		switch {
		case rf.Type == "json_schema" && rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0:
			out["output_config"] = map[string]any{"format": map[string]any{"type": "json_schema", "schema": rf.JSONSchema.Schema}}
		case rf.Type == "json_object":
			out["output_config"] = map[string]any{"format": map[string]any{"type": "json_schema", "schema": map[string]any{"type": "object"}}}
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, samp, core.E(core.KindInvalid, op, err)
	}
	return body, samp, nil
}

// chatMessages splits leading system/developer messages into the system
// prompt and translates the rest into Messages turns: tool results become
// user turns with tool_result blocks, tool calls become tool_use blocks.
func chatMessages(in []chatMessage) (system []map[string]any, out []map[string]any, err error) {
	const op = "server.chatCompletions"
	leading := true
	for i, m := range in {
		path := fmt.Sprintf("messages.%d", i)
		text, blocks, err := chatContent(m.Content, path)
		if err != nil {
			return nil, nil, err
		}
		switch m.Role {
		case "system", "developer":
			if leading {
				system = append(system, map[string]any{"type": "text", "text": text})
				continue
			}
			out = append(out, map[string]any{"role": "system", "content": text})
		case "user":
			out = append(out, map[string]any{"role": "user", "content": blocks})
		case "assistant":
			content := blocks
			for j, tc := range m.ToolCalls {
				input := json.RawMessage(tc.Function.Arguments)
				if strings.TrimSpace(tc.Function.Arguments) == "" {
					input = json.RawMessage(`{}`)
				}
				if !json.Valid(input) || !bytes.HasPrefix(bytes.TrimSpace(input), []byte("{")) {
					return nil, nil, core.Errorf(core.KindInvalid, op, "%s.tool_calls.%d.function.arguments: must be a JSON object", path, j)
				}
				content = append(content, map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Function.Name, "input": input})
			}
			out = append(out, map[string]any{"role": "assistant", "content": content})
		case "tool":
			out = append(out, map[string]any{"role": "user", "content": []map[string]any{
				{"type": "tool_result", "tool_use_id": m.ToolCallID, "content": text},
			}})
		default:
			return nil, nil, core.Errorf(core.KindInvalid, op, "%s.role: unsupported role %q", path, m.Role)
		}
		leading = false
	}
	return system, out, nil
}

// chatContent reads a message content: a string, null or a list of parts.
// It returns the plain text and the equivalent Messages blocks.
func chatContent(raw json.RawMessage, path string) (string, []map[string]any, error) {
	const op = "server.chatCompletions"
	blocks := []map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return "", blocks, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s != "" {
			blocks = append(blocks, map[string]any{"type": "text", "text": s})
		}
		return s, blocks, nil
	}
	var parts []chatContentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", nil, core.Errorf(core.KindInvalid, op, "%s.content: must be a string or a list of content parts", path)
	}
	var sb strings.Builder
	for j, p := range parts {
		switch p.Type {
		case "text":
			sb.WriteString(p.Text)
			blocks = append(blocks, map[string]any{"type": "text", "text": p.Text})
		case "image_url":
			if p.ImageURL == nil {
				return "", nil, core.Errorf(core.KindInvalid, op, "%s.content.%d.image_url: Field required", path, j)
			}
			blocks = append(blocks, map[string]any{"type": "image", "source": imageSource(p.ImageURL.URL)})
		default:
			return "", nil, core.Errorf(core.KindInvalid, op, "%s.content.%d.type: unsupported content part %q", path, j, p.Type)
		}
	}
	return sb.String(), blocks, nil
}

// imageSource turns an OpenAI image URL (a data: URL or a web URL) into a
// Messages image source.
func imageSource(u string) map[string]any {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok {
			if media, ok := strings.CutSuffix(meta, ";base64"); ok {
				return map[string]any{"type": "base64", "media_type": media, "data": data}
			}
		}
	}
	return map[string]any{"type": "url", "url": u}
}

func chatStops(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, core.Errorf(core.KindInvalid, "server.chatCompletions", "stop: must be a string or a list of strings")
	}
	return many, nil
}

func chatToolChoice(raw json.RawMessage, parallel *bool) (map[string]any, error) {
	var choice map[string]any
	var s string
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case json.Unmarshal(raw, &s) == nil:
		switch s {
		case "none":
			choice = map[string]any{"type": "none"}
		case "auto":
			choice = map[string]any{"type": "auto"}
		case "required":
			choice = map[string]any{"type": "any"}
		default:
			return nil, core.Errorf(core.KindInvalid, "server.chatCompletions", "tool_choice: unsupported value %q", s)
		}
	default:
		var named struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &named); err != nil || named.Function.Name == "" {
			return nil, core.Errorf(core.KindInvalid, "server.chatCompletions", "tool_choice: must be none, auto, required or a named function")
		}
		choice = map[string]any{"type": "tool", "name": named.Function.Name}
	}
	if parallel != nil && !*parallel {
		if choice == nil {
			choice = map[string]any{"type": "auto"}
		}
		if choice["type"] != "none" {
			choice["disable_parallel_tool_use"] = true
		}
	}
	return choice, nil
}

// finishReason maps a Messages stop reason to OpenAI's finish_reason.
func finishReason(r claude.StopReason) string {
	switch r {
	case claude.StopMaxTokens, claude.StopContextWindow:
		return "length"
	case claude.StopToolUse:
		return "tool_calls"
	}
	return "stop"
}
