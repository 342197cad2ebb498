package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// The schema of Config is read from its struct tags, so keys, environment
// variable names, the unknown-key check and the printed form can never drift
// from the struct.

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	configType   = reflect.TypeFor[Config]()
)

// field is one configurable struct field.
type field struct {
	key   string // the koanf tag
	index int
	typ   reflect.Type
}

// fieldsOf lists the configurable fields of struct type t in declaration order.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		out = append(out, field{key: tag, index: i, typ: f.Type})
	}
	return out
}

func isStructSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// leafKeys returns the dotted paths of every scalar or []string field of t,
// mapped to the field type. Lists of tables (models) are not included: they
// cannot be set from one environment variable.
func leafKeys(t reflect.Type, prefix string, out map[string]reflect.Type) {
	for _, f := range fieldsOf(t) {
		path := prefix + f.key
		switch {
		case f.typ.Kind() == reflect.Struct:
			leafKeys(f.typ, path+".", out)
		case isStructSlice(f.typ):
		default:
			out[path] = f.typ
		}
	}
}

// topKeys lists every key of Config that flags may set: the leaf keys plus
// lists of tables (set whole).
func topKeys() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	leafKeys(configType, "", out)
	for _, f := range fieldsOf(configType) {
		if isStructSlice(f.typ) {
			out[f.key] = f.typ
		}
	}
	return out
}

// envName returns the environment variable for a key:
// "server.api_keys" → "PENSIEVE_SERVER_API_KEYS".
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// checkKeys reports every key of raw that t does not have, and every value
// whose shape (table, list of tables) cannot fit its field.
func checkKeys(raw map[string]any, t reflect.Type, prefix string, probs *[]FieldError) {
	byKey := map[string]field{}
	for _, f := range fieldsOf(t) {
		byKey[f.key] = f
	}
	for _, k := range sortedKeys(raw) {
		path := prefix + k
		f, ok := byKey[k]
		if !ok {
			*probs = append(*probs, FieldError{Path: path, Msg: "unknown key"})
			continue
		}
		v := raw[k]
		switch {
		case f.typ.Kind() == reflect.Struct:
			m, ok := v.(map[string]any)
			if !ok {
				*probs = append(*probs, FieldError{Path: path, Msg: fmt.Sprintf("want a table, got %s", describe(v))})
				continue
			}
			checkKeys(m, f.typ, path+".", probs)
		case isStructSlice(f.typ):
			list, ok := v.([]any)
			if !ok {
				*probs = append(*probs, FieldError{Path: path, Msg: fmt.Sprintf("want a list of tables, got %s", describe(v))})
				continue
			}
			for i, e := range list {
				m, ok := e.(map[string]any)
				if !ok {
					*probs = append(*probs, FieldError{Path: fmt.Sprintf("%s[%d]", path, i), Msg: fmt.Sprintf("want a table, got %s", describe(e))})
					continue
				}
				checkKeys(m, f.typ.Elem(), fmt.Sprintf("%s[%d].", path, i), probs)
			}
		}
	}
}

func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a table"
	case []any:
		return "a list"
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// toMap renders a struct as nested maps keyed by koanf tags, the form the
// file parsers read and write. Durations and sizes become strings ("30s",
// "32MiB") so that the result reads back to the same value.
func toMap(v reflect.Value) map[string]any {
	out := map[string]any{}
	for _, f := range fieldsOf(v.Type()) {
		out[f.key] = toValue(v.Field(f.index))
	}
	return out
}

func toValue(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Type() == byteSizeType:
		return ByteSize(v.Int()).String()
	case v.Kind() == reflect.Struct:
		return toMap(v)
	case v.Kind() == reflect.Slice:
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = toValue(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

// flatten maps every leaf of a toMap result to its path: "server.addr",
// "models[1].aliases". Lists of scalars are leaves.
func flatten(m map[string]any, prefix string, out map[string]any) {
	for k, v := range m {
		path := prefix + k
		switch v := v.(type) {
		case map[string]any:
			flatten(v, path+".", out)
		case []any:
			if len(v) > 0 {
				if _, ok := v[0].(map[string]any); ok {
					for i, e := range v {
						flatten(e.(map[string]any), fmt.Sprintf("%s[%d].", path, i), out)
					}
					continue
				}
			}
			out[path] = v
		default:
			out[path] = v
		}
	}
}
