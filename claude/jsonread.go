package claude

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// This file holds the JSON walker the decoders use. It reads one level of
// an object at a time into raw values, so that every error names the exact
// path of the offending value in upstream's form (§3.6) and raw sub-values
// (tool inputs, schemas) keep their bytes.

// pathf formats a path.
func pathf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// join appends key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// badJSON classifies a JSON syntax or shape error.
func badJSON(op string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalid(op, "", "request body is not valid JSON: %v (at byte %d)", se, se.Offset)
	}
	return invalid(op, "", "request body is not valid JSON: %v", err)
}

// jsonKind returns the first byte of a JSON value: '{', '[', '"', 't', 'f',
// 'n', or '0' for numbers. raw is valid JSON.
func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	}
	return '0'
}

func isNull(raw json.RawMessage) bool { return jsonKind(raw) == 'n' }

// object is one JSON object being read, with its path.
type object struct {
	op     string
	path   string
	fields map[string]json.RawMessage
}

// asObject reads raw as an object, or fails with "<path>: Input should be a
// valid dictionary".
func asObject(op string, raw json.RawMessage, path string) (object, error) {
	if jsonKind(raw) != '{' {
		return object{}, invalid(op, path, "Input should be a valid dictionary")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}, badJSON(op, err)
	}
	return object{op: op, path: path, fields: m}, nil
}

// at returns the path of key inside o.
func (o object) at(key string) string { return join(o.path, key) }

// get returns the value of key, treating null as absent.
func (o object) get(key string) (json.RawMessage, bool) {
	raw, ok := o.fields[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

// has reports whether key is present and not null.
func (o object) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

func (o object) required(key string) error { return invalid(o.op, o.at(key), "Field required") }

// str reads an optional string.
func (o object) str(key string) (string, bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return "", false, nil
	}
	s, err := asString(o.op, raw, o.at(key))
	return s, err == nil, err
}

// mustStr reads a required string.
func (o object) mustStr(key string) (string, error) {
	s, ok, err := o.str(key)
	if err == nil && !ok {
		err = o.required(key)
	}
	return s, err
}

func asString(op string, raw json.RawMessage, path string) (string, error) {
	if jsonKind(raw) != '"' {
		return "", invalid(op, path, "Input should be a valid string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badJSON(op, err)
	}
	return s, nil
}

// integer reads an optional integer; an integral float such as 1.0 counts.
func (o object) integer(key string) (int, bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return 0, false, nil
	}
	if jsonKind(raw) != '0' {
		return 0, false, invalid(o.op, o.at(key), "Input should be a valid integer")
	}
	text := string(bytes.TrimSpace(raw))
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return clampInt(n), true, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false, invalid(o.op, o.at(key), "Input should be a valid integer")
	}
	if f != math.Trunc(f) {
		return 0, false, invalid(o.op, o.at(key), "Input should be a valid integer, got a number with a fractional part")
	}
	if math.Abs(f) > math.MaxInt64/2 {
		return clampInt(int64(math.Copysign(math.MaxInt64/2, f))), true, nil
	}
	return clampInt(int64(f)), true, nil
}

// clampInt keeps huge counts representable as int on 32-bit platforms too.
func clampInt(n int64) int {
	const lim = math.MaxInt32
	if n > lim {
		return lim
	}
	if n < -lim {
		return -lim
	}
	return int(n)
}

// number reads an optional number.
func (o object) number(key string) (float64, bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return 0, false, nil
	}
	if jsonKind(raw) != '0' {
		return 0, false, invalid(o.op, o.at(key), "Input should be a valid number")
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil {
		return 0, false, invalid(o.op, o.at(key), "Input should be a valid number")
	}
	return f, true, nil
}

// boolean reads an optional boolean.
func (o object) boolean(key string) (bool, bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return false, false, nil
	}
	switch jsonKind(raw) {
	case 't':
		return true, true, nil
	case 'f':
		return false, true, nil
	}
	return false, false, invalid(o.op, o.at(key), "Input should be a valid boolean")
}

// array reads an optional array.
func (o object) array(key string) ([]json.RawMessage, bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, false, nil
	}
	a, err := asArray(o.op, raw, o.at(key))
	return a, err == nil, err
}

func asArray(op string, raw json.RawMessage, path string) ([]json.RawMessage, error) {
	if jsonKind(raw) != '[' {
		return nil, invalid(op, path, "Input should be a valid list")
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, badJSON(op, err)
	}
	return a, nil
}

// obj reads an optional nested object.
func (o object) obj(key string) (object, bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return object{}, false, nil
	}
	sub, err := asObject(o.op, raw, o.at(key))
	return sub, err == nil, err
}

// enum reads an optional string that must be one of allowed, failing with
// pydantic's wording: "Input should be 'a', 'b' or 'c'".
func (o object) enum(key string, allowed ...string) (string, bool, error) {
	s, ok, err := o.str(key)
	if err != nil || !ok {
		return s, ok, err
	}
	for _, a := range allowed {
		if s == a {
			return s, true, nil
		}
	}
	return "", false, invalid(o.op, o.at(key), "Input should be %s", quoteList(allowed))
}

// quoteList renders 'a', 'b' or 'c'.
func quoteList(items []string) string {
	var b bytes.Buffer
	for i, it := range items {
		switch {
		case i == 0:
		case i == len(items)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString("'" + it + "'")
	}
	return b.String()
}
