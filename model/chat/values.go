package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ardanlabs/jinja"

	"github.com/pensieve-llm/pensieve/core"
)

// messagesValue converts messages into the list of dicts Hugging Face
// templates expect: role and content always; tool_calls (each
// {"id", "type": "function", "function": {"name", "arguments"}}, arguments
// as a mapping), tool_call_id, name and reasoning_content only when set,
// since templates test for their presence ('tool_calls' in message).
func messagesValue(msgs []core.ChatMessage) (jinja.Value, error) {
	items := make([]jinja.Value, 0, len(msgs))
	for i, m := range msgs {
		d := jinja.NewDict()
		dict := d.AsDict()
		dict.Set("role", jinja.NewString(m.Role))
		dict.Set("content", jinja.NewString(m.Content))
		if m.Reasoning != "" {
			dict.Set("reasoning_content", jinja.NewString(m.Reasoning))
		}
		if len(m.ToolCalls) > 0 {
			calls := make([]jinja.Value, 0, len(m.ToolCalls))
			for j, c := range m.ToolCalls {
				args, err := jsonValue(c.Arguments)
				if err != nil {
					return jinja.Value{}, fmt.Errorf("message %d, tool call %d (%s): arguments: %w", i, j, c.Name, err)
				}
				fn := jinja.NewDict()
				fn.AsDict().Set("name", jinja.NewString(c.Name))
				fn.AsDict().Set("arguments", args)
				call := jinja.NewDict()
				if c.ID != "" {
					call.AsDict().Set("id", jinja.NewString(c.ID))
				}
				call.AsDict().Set("type", jinja.NewString("function"))
				call.AsDict().Set("function", fn)
				calls = append(calls, call)
			}
			dict.Set("tool_calls", jinja.NewList(calls))
		}
		if m.ToolCallID != "" {
			dict.Set("tool_call_id", jinja.NewString(m.ToolCallID))
		}
		if m.Name != "" {
			dict.Set("name", jinja.NewString(m.Name))
		}
		items = append(items, d)
	}
	return jinja.NewList(items), nil
}

// toolsValue converts tool specs into Hugging Face's tool format,
// {"type": "function", "function": {"name", "description", "parameters"}}.
func toolsValue(tools []core.ToolSpec) (jinja.Value, error) {
	items := make([]jinja.Value, 0, len(tools))
	for i, t := range tools {
		fn := jinja.NewDict()
		fn.AsDict().Set("name", jinja.NewString(t.Name))
		fn.AsDict().Set("description", jinja.NewString(t.Description))
		params := jinja.NewDict() // an absent schema is an empty object
		if len(bytes.TrimSpace(t.Parameters)) > 0 {
			var err error
			if params, err = jsonValue(t.Parameters); err != nil {
				return jinja.Value{}, fmt.Errorf("tool %d (%s): parameters: %w", i, t.Name, err)
			}
		}
		fn.AsDict().Set("parameters", params)
		tool := jinja.NewDict()
		tool.AsDict().Set("type", jinja.NewString("function"))
		tool.AsDict().Set("function", fn)
		items = append(items, tool)
	}
	return jinja.NewList(items), nil
}

// jsonValue decodes one JSON value into a template value, keeping object
// keys in document order (so tojson reproduces the caller's schema) and
// integers as integers. Empty input is an empty mapping.
func jsonValue(raw json.RawMessage) (jinja.Value, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return jinja.NewDict(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return jinja.Value{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return jinja.Value{}, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (jinja.Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return jinja.Value{}, err
	}
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '{':
			d := jinja.NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jinja.Value{}, err
				}
				key, ok := kt.(string)
				if !ok {
					return jinja.Value{}, fmt.Errorf("object key %v is not a string", kt)
				}
				v, err := decodeValue(dec)
				if err != nil {
					return jinja.Value{}, err
				}
				d.AsDict().Set(key, v)
			}
			_, err := dec.Token() // '}'
			return d, err
		case '[':
			var items []jinja.Value
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return jinja.Value{}, err
				}
				items = append(items, v)
			}
			_, err := dec.Token() // ']'
			return jinja.NewList(items), err
		}
		return jinja.Value{}, fmt.Errorf("unexpected %v", x)
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			if n, err := x.Int64(); err == nil {
				return jinja.NewInt(n), nil
			}
		}
		f, err := x.Float64()
		if err != nil {
			return jinja.Value{}, err
		}
		return jinja.NewFloat(f), nil
	case string:
		return jinja.NewString(x), nil
	case bool:
		return jinja.NewBool(x), nil
	case nil:
		return jinja.None(), nil
	}
	return jinja.Value{}, fmt.Errorf("unexpected JSON token %v", tok)
}
