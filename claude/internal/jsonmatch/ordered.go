package jsonmatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// omap is a JSON object that remembers its key order, so that compiled
// properties keep the order the schema's author chose.
type omap struct {
	keys []string
	vals map[string]any
}

func (m *omap) get(k string) (any, bool) {
	v, ok := m.vals[k]
	return v, ok
}

func (m *omap) set(k string, v any) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

// parseOrdered decodes one JSON document: objects as *omap, arrays as
// []any, numbers as json.Number.
func parseOrdered(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the schema")
	}
	return v, nil
}

// maxParseDepth bounds nesting so a hostile schema cannot exhaust the stack.
const maxParseDepth = 128

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxParseDepth {
		return nil, fmt.Errorf("schema nested deeper than %d", maxParseDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := &omap{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m.set(k, v)
			}
			_, err := dec.Token()
			return m, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}

// encodeCompact writes v as compact JSON without HTML escaping, keeping
// object key order: the exact bytes a literal must match.
func encodeCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeCompact(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCompact(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case *omap:
		buf.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCompact(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeCompact(buf, t.vals[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, x := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCompact(buf, x); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case json.Number:
		buf.WriteString(t.String())
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	return nil
}
