// Package jsonmatch matches bytes, one at a time, against a JSON value
// constrained by a subset of JSON Schema, optionally wrapped in literal text
// and preceded by a choice of names. It is the automaton behind Pensieve's
// tool-call logit constraint: a Matcher says which next bytes keep the
// output valid and how many bytes at least are still needed to finish.
//
// Supported keywords: type (string or list), properties, required,
// additionalProperties (false or a schema), items, minItems, maxItems,
// minLength, maxLength, enum, const, anyOf/oneOf (merged by JSON kind),
// allOf (object properties merged), nullable, and local $ref into $defs or
// definitions. Numeric bounds, pattern and format are not enforced.
package jsonmatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// kind is a set of JSON value kinds.
type kind uint8

const (
	kObject kind = 1 << iota
	kArray
	kString
	kNumber
	kInteger
	kBool
	kNull

	kAll = kObject | kArray | kString | kNumber | kBool | kNull
)

// maxProps bounds the declared properties of one object (the seen set is a
// fixed-size bitset so that matcher states copy cheaply).
const maxProps = 128

// maxRefDepth bounds nested $ref expansion; deeper schemas fail to compile.
const maxRefDepth = 12

// maxNodes bounds the compiled size of one schema: $ref expansion copies
// subschemas, and a hostile schema could otherwise grow exponentially.
const maxNodes = 20_000

// node is one compiled schema.
type node struct {
	kinds kind

	// object: declared properties, keys sorted for prefix matching.
	keys     [][]byte // `"name"` (JSON-encoded, quotes included), sorted
	keyProp  []int    // keys[i] is property keyProp[i]
	props    []*node  // property schemas, in declaration order
	required []bool   // by property
	free     bool     // keys are free strings (no properties declared)
	values   *node    // value schema of free keys

	// array
	items              *node
	minItems, maxItems int // maxItems < 0: unbounded

	// string
	minLen, maxLen int // in characters; maxLen < 0: unbounded

	// enum/const: exact encodings, sorted.
	lits [][]byte

	minBytes int // length of the shortest valid encoding
}

// Schema is a compiled schema. It is immutable and safe for concurrent use.
type Schema struct{ root *node }

// anyNode accepts every JSON value.
var anyNode = newAnyNode()

func newAnyNode() *node {
	n := &node{kinds: kAll, free: true, maxItems: -1, maxLen: -1, minBytes: 1}
	n.values, n.items = n, n
	return n
}

// Any returns the schema that accepts every JSON value.
func Any() *Schema { return &Schema{root: anyNode} }

// Compile compiles a JSON Schema document.
func Compile(doc []byte) (*Schema, error) {
	v, err := parseOrdered(doc)
	if err != nil {
		return nil, fmt.Errorf("jsonmatch: schema: %w", err)
	}
	c := compiler{root: v}
	n, err := c.node(v, 0)
	if err != nil {
		return nil, fmt.Errorf("jsonmatch: schema: %w", err)
	}
	return &Schema{root: n}, nil
}

// MinBytes returns the length of the shortest JSON text s accepts.
func (s *Schema) MinBytes() int { return s.root.minBytes }

type compiler struct {
	root  any
	nodes int // compiled so far
}

func (c *compiler) node(v any, depth int) (*node, error) {
	if c.nodes++; c.nodes > maxNodes {
		return nil, fmt.Errorf("schema expands to more than %d subschemas", maxNodes)
	}
	switch t := v.(type) {
	case bool:
		if t {
			return anyNode, nil
		}
		return nil, fmt.Errorf("schema false accepts nothing")
	case *omap:
		return c.object(t, depth)
	}
	return nil, fmt.Errorf("a schema must be an object or a boolean, not %T", v)
}

func (c *compiler) object(m *omap, depth int) (*node, error) {
	if ref, ok := m.get("$ref"); ok {
		return c.ref(ref, depth)
	}
	if alts, ok := m.get("allOf"); ok {
		return c.allOf(m, alts, depth)
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := m.get(key); ok {
			return c.anyOf(alts, depth)
		}
	}
	n := &node{maxItems: -1, maxLen: -1}
	if err := c.kinds(n, m); err != nil {
		return nil, err
	}
	if err := c.literals(n, m); err != nil {
		return nil, err
	}
	if n.kinds&kObject != 0 {
		if err := c.properties(n, m, depth); err != nil {
			return nil, err
		}
	}
	if n.kinds&kArray != 0 {
		items := anyNode
		if it, ok := m.get("items"); ok {
			if _, isArr := it.([]any); !isArr {
				var err error
				if items, err = c.node(it, depth+1); err != nil {
					return nil, fmt.Errorf("items: %w", err)
				}
			}
		}
		n.items = items
		n.minItems = intKey(m, "minItems", 0)
		n.maxItems = intKey(m, "maxItems", -1)
		if n.maxItems >= 0 && n.maxItems < n.minItems {
			return nil, fmt.Errorf("maxItems < minItems")
		}
	}
	if n.kinds&kString != 0 {
		n.minLen = intKey(m, "minLength", 0)
		n.maxLen = intKey(m, "maxLength", -1)
		if n.maxLen >= 0 && n.maxLen < n.minLen {
			return nil, fmt.Errorf("maxLength < minLength")
		}
	}
	finish(n)
	if n.kinds == 0 && len(n.lits) == 0 {
		return nil, fmt.Errorf("schema accepts no value")
	}
	return n, nil
}

// kinds reads "type" (or infers it) and "nullable".
func (c *compiler) kinds(n *node, m *omap) error {
	t, ok := m.get("type")
	var names []string
	switch tv := t.(type) {
	case string:
		names = []string{tv}
	case []any:
		for _, x := range tv {
			if s, ok := x.(string); ok {
				names = append(names, s)
			}
		}
	case nil:
		if ok {
			return fmt.Errorf("type: null is not a type name")
		}
	default:
		return fmt.Errorf("type must be a string or a list")
	}
	for _, name := range names {
		switch name {
		case "object":
			n.kinds |= kObject
		case "array":
			n.kinds |= kArray
		case "string":
			n.kinds |= kString
		case "number":
			n.kinds |= kNumber
		case "integer":
			n.kinds |= kInteger
		case "boolean":
			n.kinds |= kBool
		case "null":
			n.kinds |= kNull
		}
	}
	if !ok {
		_, hasEnum := m.get("enum")
		_, hasConst := m.get("const")
		_, hasProps := m.get("properties")
		_, hasItems := m.get("items")
		switch {
		case hasEnum || hasConst:
		case hasProps:
			n.kinds = kObject
		case hasItems:
			n.kinds = kArray
		default:
			n.kinds = kAll
		}
	}
	if nb, _ := m.get("nullable"); nb == true {
		n.kinds |= kNull
	}
	return nil
}

// literals reads "enum" and "const". A literal makes the value exactly one
// of them, whatever "type" says.
func (c *compiler) literals(n *node, m *omap) error {
	var vals []any
	if e, ok := m.get("enum"); ok {
		arr, ok := e.([]any)
		if !ok || len(arr) == 0 {
			return fmt.Errorf("enum must be a non-empty list")
		}
		vals = arr
	}
	if cv, ok := m.get("const"); ok {
		vals = []any{cv}
	}
	if vals == nil {
		return nil
	}
	for _, v := range vals {
		b, err := encodeCompact(v)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(n.lits, func(x []byte) bool { return bytes.Equal(x, b) }) {
			n.lits = append(n.lits, b)
		}
	}
	slices.SortFunc(n.lits, bytes.Compare)
	n.kinds = 0
	return nil
}

func (c *compiler) properties(n *node, m *omap, depth int) error {
	pv, _ := m.get("properties")
	props, _ := pv.(*omap)
	req := map[string]bool{}
	if r, ok := m.get("required"); ok {
		if arr, ok := r.([]any); ok {
			for _, x := range arr {
				if s, ok := x.(string); ok {
					req[s] = true
				}
			}
		}
	}
	if props == nil || len(props.keys) == 0 {
		n.free = true
		n.values = anyNode
		if ap, ok := m.get("additionalProperties"); ok {
			if b, isBool := ap.(bool); isBool && !b {
				n.free = false // only {}
			} else if !isBool {
				vn, err := c.node(ap, depth+1)
				if err != nil {
					return fmt.Errorf("additionalProperties: %w", err)
				}
				n.values = vn
			}
		}
		return nil
	}
	if len(props.keys) > maxProps {
		return fmt.Errorf("more than %d properties", maxProps)
	}
	for i, name := range props.keys {
		pn, err := c.node(props.vals[name], depth+1)
		if err != nil {
			return fmt.Errorf("properties.%s: %w", name, err)
		}
		key, err := encodeCompact(name)
		if err != nil {
			return err
		}
		n.props = append(n.props, pn)
		n.required = append(n.required, req[name])
		n.keys = append(n.keys, key)
		n.keyProp = append(n.keyProp, i)
	}
	sortKeys(n)
	return nil
}

// sortKeys orders keys bytewise, keeping keyProp aligned.
func sortKeys(n *node) {
	idx := make([]int, len(n.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return bytes.Compare(n.keys[a], n.keys[b]) })
	keys, kp := make([][]byte, len(idx)), make([]int, len(idx))
	for i, j := range idx {
		keys[i], kp[i] = n.keys[j], n.keyProp[j]
	}
	n.keys, n.keyProp = keys, kp
}

func (c *compiler) ref(ref any, depth int) (*node, error) {
	s, ok := ref.(string)
	if !ok {
		return nil, fmt.Errorf("$ref must be a string")
	}
	if depth > maxRefDepth {
		return nil, fmt.Errorf("$ref %s nested deeper than %d", s, maxRefDepth)
	}
	if s == "#" {
		return c.node(c.root, depth+1)
	}
	var cur any = c.root
	if !strings.HasPrefix(s, "#/") {
		return nil, fmt.Errorf("only local $ref values are supported, not %q", s)
	}
	for _, part := range strings.Split(s[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(*omap)
		if !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", s)
		}
		if cur, ok = m.get(part); !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", s)
		}
	}
	return c.node(cur, depth+1)
}

// anyOf merges alternatives by kind: each kind takes the details of the
// first alternative that allows it; literals are pooled.
func (c *compiler) anyOf(alts any, depth int) (*node, error) {
	arr, ok := alts.([]any)
	if !ok || len(arr) == 0 {
		return nil, fmt.Errorf("anyOf/oneOf must be a non-empty list")
	}
	out := &node{maxItems: -1, maxLen: -1}
	for _, a := range arr {
		an, err := c.node(a, depth+1)
		if err != nil {
			continue // an alternative we cannot compile is simply never chosen
		}
		if an == anyNode {
			return anyNode, nil
		}
		add := an.kinds &^ out.kinds
		if add&kObject != 0 {
			out.keys, out.keyProp, out.props, out.required = an.keys, an.keyProp, an.props, an.required
			out.free, out.values = an.free, an.values
		}
		if add&kArray != 0 {
			out.items, out.minItems, out.maxItems = an.items, an.minItems, an.maxItems
		}
		if add&kString != 0 {
			out.minLen, out.maxLen = an.minLen, an.maxLen
		}
		out.kinds |= an.kinds
		for _, l := range an.lits {
			if !slices.ContainsFunc(out.lits, func(x []byte) bool { return bytes.Equal(x, l) }) {
				out.lits = append(out.lits, l)
			}
		}
	}
	if out.kinds == 0 && len(out.lits) == 0 {
		return nil, fmt.Errorf("no alternative of anyOf/oneOf compiles")
	}
	slices.SortFunc(out.lits, bytes.Compare)
	finish(out)
	return out, nil
}

// allOf merges object alternatives' properties; other keywords come from
// the first alternative and the enclosing schema.
func (c *compiler) allOf(m *omap, alts any, depth int) (*node, error) {
	arr, ok := alts.([]any)
	if !ok || len(arr) == 0 {
		return nil, fmt.Errorf("allOf must be a non-empty list")
	}
	merged := &omap{vals: map[string]any{}}
	props := &omap{vals: map[string]any{}}
	var required []any
	for _, src := range append([]any{m}, arr...) {
		sm, ok := src.(*omap)
		if !ok {
			continue
		}
		if r, ok := sm.get("$ref"); ok {
			resolved, err := c.resolve(r)
			if err != nil {
				return nil, err
			}
			sm = resolved
		}
		for _, k := range sm.keys {
			v := sm.vals[k]
			switch k {
			case "allOf":
			case "properties":
				if pm, ok := v.(*omap); ok {
					for _, pk := range pm.keys {
						props.set(pk, pm.vals[pk])
					}
				}
			case "required":
				if ra, ok := v.([]any); ok {
					required = append(required, ra...)
				}
			default:
				if _, ok := merged.get(k); !ok {
					merged.set(k, v)
				}
			}
		}
	}
	if len(props.keys) > 0 {
		merged.set("properties", props)
	}
	if required != nil {
		merged.set("required", required)
	}
	return c.node(merged, depth+1)
}

func (c *compiler) resolve(ref any) (*omap, error) {
	s, _ := ref.(string)
	if !strings.HasPrefix(s, "#/") {
		return nil, fmt.Errorf("only local $ref values are supported, not %q", s)
	}
	var cur any = c.root
	for _, part := range strings.Split(s[2:], "/") {
		m, ok := cur.(*omap)
		if !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", s)
		}
		if cur, ok = m.get(part); !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", s)
		}
	}
	m, ok := cur.(*omap)
	if !ok {
		return nil, fmt.Errorf("$ref %s is not a schema object", s)
	}
	return m, nil
}

func intKey(m *omap, key string, def int) int {
	v, ok := m.get(key)
	if !ok {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		return def
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > 1<<30 {
		return def
	}
	return int(i)
}

// finish drops literals the kinds already cover or that would make the
// first byte of a value ambiguous, and computes minBytes.
func finish(n *node) {
	if n.kinds != 0 && len(n.lits) > 0 {
		n.lits = slices.DeleteFunc(n.lits, func(l []byte) bool { return n.kinds&firstByteKinds(l[0]) != 0 })
	}
	best := -1
	consider := func(v int) {
		if best < 0 || v < best {
			best = v
		}
	}
	for _, l := range n.lits {
		consider(len(l))
	}
	if n.kinds&(kNumber|kInteger) != 0 {
		consider(1)
	}
	if n.kinds&kNull != 0 || n.kinds&kBool != 0 {
		consider(4)
	}
	if n.kinds&kString != 0 {
		consider(2 + n.minLen)
	}
	if n.kinds&kArray != 0 {
		v := 2
		if n.minItems > 0 {
			v += n.minItems*n.items.minBytes + n.minItems - 1
		}
		consider(v)
	}
	if n.kinds&kObject != 0 {
		consider(n.objectMin())
	}
	n.minBytes = best
}

// objectMin is the length of the shortest object: the required properties
// with their shortest values.
func (n *node) objectMin() int {
	v, count := 2, 0
	for i, k := range n.keys {
		p := n.keyProp[i]
		if n.required[p] {
			v += len(k) + 1 + n.props[p].minBytes
			count++
		}
	}
	if count > 1 {
		v += count - 1
	}
	return v
}

// firstByteKinds returns the kinds whose values can start with c.
func firstByteKinds(c byte) kind {
	switch {
	case c == '{':
		return kObject
	case c == '[':
		return kArray
	case c == '"':
		return kString
	case c == '-' || (c >= '0' && c <= '9'):
		return kNumber | kInteger
	case c == 't' || c == 'f':
		return kBool
	case c == 'n':
		return kNull
	}
	return 0
}
