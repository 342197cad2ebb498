package testmodel

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Validate checks doc against schema for the JSON Schema keywords claude's
// constraints enforce (type, properties, required, additionalProperties
// false, items, minItems, maxItems, minLength, maxLength, enum, const,
// anyOf, allOf, local $ref). It is written independently of the matcher
// it checks.
func Validate(schema, doc []byte) error {
	var s, v any
	if err := json.Unmarshal(schema, &s); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("document %q: %w", doc, err)
	}
	return validate(s, s, v, "$")
}

// validate is an independent checker of the keywords jsonmatch enforces.
func validate(root, schema, v any, path string) error {
	s, ok := schema.(map[string]any)
	if !ok {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		cur := root
		for _, part := range parts {
			cur = cur.(map[string]any)[part]
		}
		return validate(root, cur, v, path)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, a := range all {
			if err := validate(root, a, v, path); err != nil {
				return err
			}
		}
	}
	if alts, ok := s["anyOf"].([]any); ok {
		for _, a := range alts {
			if validate(root, a, v, path) == nil {
				return nil
			}
		}
		return fmt.Errorf("%s: no anyOf alternative matches %v", path, v)
	}
	if e, ok := s["enum"].([]any); ok && !containsJSON(e, v) {
		return fmt.Errorf("%s: %v not in enum", path, v)
	}
	if c, ok := s["const"]; ok && !containsJSON([]any{c}, v) {
		return fmt.Errorf("%s: %v is not the const", path, v)
	}
	if t, ok := s["type"]; ok && !typeMatches(t, v) {
		return fmt.Errorf("%s: %v is not of type %v", path, v, t)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: missing %v", path, r)
			}
		}
		for k, val := range x {
			ps, declared := props[k]
			if !declared && s["additionalProperties"] == false {
				return fmt.Errorf("%s: undeclared key %q", path, k)
			}
			if err := validate(root, ps, val, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(x)) < n {
			return fmt.Errorf("%s: %d items < %v", path, len(x), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(x)) > n {
			return fmt.Errorf("%s: %d items > %v", path, len(x), n)
		}
		for i, it := range x {
			if err := validate(root, s["items"], it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case string:
		n := utf8.RuneCountInString(x)
		if l, ok := s["minLength"].(float64); ok && float64(n) < l {
			return fmt.Errorf("%s: length %d < %v", path, n, l)
		}
		if l, ok := s["maxLength"].(float64); ok && float64(n) > l {
			return fmt.Errorf("%s: length %d > %v", path, n, l)
		}
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func containsJSON(list []any, v any) bool {
	vb, _ := json.Marshal(v)
	for _, x := range list {
		xb, _ := json.Marshal(x)
		if string(xb) == string(vb) {
			return true
		}
	}
	return false
}

func typeMatches(t, v any) bool {
	names := []any{t}
	if l, ok := t.([]any); ok {
		names = l
	}
	for _, n := range names {
		switch n {
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "number":
			if _, ok := v.(float64); ok {
				return true
			}
		case "integer":
			if f, ok := v.(float64); ok && f == float64(int64(f)) {
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		case "null":
			if v == nil {
				return true
			}
		}
	}
	return false
}
