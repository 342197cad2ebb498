package chat

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// tojsonName is the filter name templates' tojson is rewritten to. The
// engine resolves its built-in filters before the render data, so the
// built-in tojson cannot be shadowed; a filter of another name is looked up
// in the data.
const tojsonName = "pensieve_tojson"

var (
	jinjaTag    = regexp.MustCompile(`(?s)\{\{.*?\}\}|\{%.*?%\}`)
	tojsonInTag = regexp.MustCompile(`\|(\s*)tojson\b`)
)

// rewriteTojson points every `| tojson` inside a Jinja tag at tojsonName.
func rewriteTojson(src string) string {
	return jinjaTag.ReplaceAllStringFunc(src, func(tag string) string {
		return tojsonInTag.ReplaceAllString(tag, "|${1}"+tojsonName)
	})
}

// tojson is Hugging Face's tojson filter, json.dumps(x, ensure_ascii=False,
// indent=indent, separators=separators, sort_keys=sort_keys): mappings keep
// their insertion order, only '"', '\\' and control characters are escaped,
// floats print as Python's repr (10.0, 1e-05). The engine's own filter
// sorts keys and escapes <, > and & when indent is given (it falls back to
// encoding/json), which changes the prompts of templates such as Llama 3.1's.
func tojson(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), fmt.Errorf("tojson: missing value")
	}
	e := jsonEncoder{item: ", ", key: ": "}
	if ind, ok := kwargs["indent"]; ok && !ind.IsNone() && !ind.IsUndefined() {
		switch {
		case ind.IsInt():
			e.indent = strings.Repeat(" ", int(max(0, ind.AsInt())))
		case ind.IsString():
			e.indent = ind.AsString()
		default:
			return jinja.Undefined(), fmt.Errorf("tojson: indent must be an integer or a string")
		}
		e.pretty, e.item = true, ","
	}
	if sep, ok := kwargs["separators"]; ok && !sep.IsNone() && !sep.IsUndefined() {
		if !sep.IsList() || sep.AsList().Len() != 2 || !sep.AsList().Get(0).IsString() || !sep.AsList().Get(1).IsString() {
			return jinja.Undefined(), fmt.Errorf("tojson: separators must be two strings")
		}
		e.item, e.key = sep.AsList().Get(0).AsString(), sep.AsList().Get(1).AsString()
	}
	if sk, ok := kwargs["sort_keys"]; ok {
		e.sortKeys = sk.IsTruthy()
	}
	if err := e.value(args[0], 0); err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(e.b.String()), nil
}

type jsonEncoder struct {
	b         strings.Builder
	item, key string
	indent    string
	pretty    bool
	sortKeys  bool
}

func (e *jsonEncoder) newline(depth int) {
	if e.pretty {
		e.b.WriteByte('\n')
		for range depth {
			e.b.WriteString(e.indent)
		}
	}
}

func (e *jsonEncoder) value(v jinja.Value, depth int) error {
	switch {
	case v.IsNone(), v.IsUndefined():
		e.b.WriteString("null")
	case v.IsBool():
		e.b.WriteString(strconv.FormatBool(v.AsBool()))
	case v.IsInt():
		e.b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		e.b.WriteString(pyFloat(v.AsFloat()))
	case v.IsString():
		e.str(v.AsString())
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				e.b.WriteString(e.item)
			}
			e.newline(depth + 1)
			if err := e.value(it, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if e.sortKeys {
			sort.Strings(keys)
		}
		if len(keys) == 0 {
			e.b.WriteString("{}")
			return nil
		}
		e.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.b.WriteString(e.item)
			}
			e.newline(depth + 1)
			e.str(k)
			e.b.WriteString(e.key)
			val, _ := d.Get(k)
			if err := e.value(val, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	default:
		return fmt.Errorf("tojson: cannot encode %s", v.String())
	}
	return nil
}

// str writes s as json.dumps(ensure_ascii=False) does.
func (e *jsonEncoder) str(s string) {
	e.b.WriteByte('"')
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			e.b.WriteString(`\"`)
		case r == '\\':
			e.b.WriteString(`\\`)
		case r == '\n':
			e.b.WriteString(`\n`)
		case r == '\r':
			e.b.WriteString(`\r`)
		case r == '\t':
			e.b.WriteString(`\t`)
		case r == '\b':
			e.b.WriteString(`\b`)
		case r == '\f':
			e.b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(&e.b, `\u%04x`, r)
		default:
			e.b.WriteString(s[i : i+w])
		}
		i += w
	}
	e.b.WriteByte('"')
}

// pyFloat formats f as Python's repr: the shortest round-tripping digits,
// positional between 1e-4 and 1e16 (always with a fraction), scientific
// otherwise.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}
