package jsonmatch

import (
	"bytes"
	"fmt"
	"sort"
)

// Grammar is the text a Matcher accepts: Prefix, then (when Names is not
// empty) one of Names followed by Infix, then one JSON value valid against
// the schema of the chosen name (Schemas[i] goes with Names[i]; without
// Names, Schemas holds exactly one schema), then Suffix. A forced tool call
// is Prefix `<tool_call>\n{"name": "`, the tool names, Infix `", "arguments": `,
// the tools' input schemas and Suffix `}\n</tool_call>`.
type Grammar struct {
	Prefix  string
	Names   []string
	Infix   string
	Schemas []*Schema
	Suffix  string

	// Lenient drops the limits that keep a sampled output short (runs of
	// whitespace, digits, nesting of free values) and accepts surrogate
	// escapes: for reading what a model wrote rather than steering it.
	Lenient bool
}

// Program is a compiled Grammar, immutable and safe for concurrent use.
type Program struct {
	prefix, infix, suffix []byte
	names                 [][]byte // sorted
	nameSchema            []*node  // by sorted name
	afterName             []int    // by sorted name: shortest rest after the name
	schema                *node    // without names
	lenient               bool
}

// NewProgram compiles g.
func NewProgram(g Grammar) (*Program, error) {
	p := &Program{prefix: []byte(g.Prefix), infix: []byte(g.Infix), suffix: []byte(g.Suffix), lenient: g.Lenient}
	if len(g.Names) == 0 {
		if len(g.Schemas) != 1 {
			return nil, fmt.Errorf("jsonmatch: a grammar without names needs exactly one schema, not %d", len(g.Schemas))
		}
		p.schema = g.Schemas[0].root
		return p, nil
	}
	if len(g.Schemas) != len(g.Names) {
		return nil, fmt.Errorf("jsonmatch: %d names but %d schemas", len(g.Names), len(g.Schemas))
	}
	idx := make([]int, len(g.Names))
	for i := range idx {
		idx[i] = i
		if g.Names[i] == "" {
			return nil, fmt.Errorf("jsonmatch: empty name")
		}
	}
	sort.Slice(idx, func(a, b int) bool { return g.Names[idx[a]] < g.Names[idx[b]] })
	for k, i := range idx {
		if k > 0 && g.Names[idx[k-1]] == g.Names[i] {
			return nil, fmt.Errorf("jsonmatch: duplicate name %q", g.Names[i])
		}
		n := g.Schemas[i].root
		p.names = append(p.names, []byte(g.Names[i]))
		p.nameSchema = append(p.nameSchema, n)
		p.afterName = append(p.afterName, len(p.infix)+n.minBytes+len(p.suffix))
	}
	return p, nil
}

// frame kinds
type fkind uint8

const (
	fValue  fkind = iota // before a value: whitespace, then the first byte decides
	fObject              // inside {…}
	fArray               // inside […]
	fString              // inside "…" (opening quote consumed)
	fNumber              // a number
	fLit                 // one of a sorted set of literals (enum, true/false/null, names)
	fKey                 // a declared object key, quotes included
)

// phases
const (
	obOpen  uint8 = iota // after '{'
	obKey                // a key is being read (child frame)
	obColon              // after the key
	obValue              // the value is being read (child frame)
	obAfter              // after a value
	obComma              // after ','
)

const (
	arOpen uint8 = iota
	arValue
	arAfter
	arComma
)

const (
	stChars uint8 = iota
	stEsc
	stHex
)

const (
	nStart uint8 = iota
	nMinus
	nZero
	nInt
	nDot
	nFrac
	nExp
	nExpSign
	nExpDigits
)

// Limits that keep a wandering model from stalling inside one token class.
const (
	maxWS        = 16 // consecutive whitespace bytes between tokens
	maxIntDigits = 15 // integer part (exact in a float64)
	maxFracDig   = 15
	maxExpDigits = 2  // keeps every number finite as a float64
	maxAnyDepth  = 16 // nesting of free-form (schema-less) values
)

var (
	boolLits = [][]byte{[]byte("false"), []byte("true")}
	nullLits = [][]byte{[]byte("null")}
)

// frame is one level of the matcher's stack. It holds no pointers into
// other frames, so a stack copies with copy().
type frame struct {
	n     *node
	lits  [][]byte // fLit, fKey
	kind  fkind
	ph    uint8
	ws    uint8 // whitespace run
	utf   uint8 // string: continuation bytes still due
	ulo   byte  // string: range of the next continuation byte
	uhi   byte
	hex   uint8 // string: hex digits of \u read
	hexD  bool  // string: first hex digit was d/D
	isKey bool  // string: a free object key
	intOn bool  // number: integer only
	lo    int32 // fLit/fKey: candidate range [lo, hi)
	hi    int32
	pos   int32 // fLit/fKey: bytes matched
	count int32 // array items, string characters, number digits
	cur   int32 // object: property of the current key, -1 for a free key
	seen  [2]uint64
}

// root phases
const (
	rPrefix uint8 = iota
	rName
	rInfix
	rValue
	rSuffix
	rDone
)

// Matcher is the state of one match. It is not safe for concurrent use;
// copy states with CopyFrom.
type Matcher struct {
	p      *Program
	phase  uint8
	pos    int // within prefix, infix or suffix
	chosen int // sorted name index
	stack  []frame
}

// NewMatcher returns a matcher at the start of p.
func NewMatcher(p *Program) *Matcher {
	m := &Matcher{p: p, stack: make([]frame, 0, 16)}
	m.enterPrefix()
	return m
}

// CopyFrom makes m an independent copy of o.
func (m *Matcher) CopyFrom(o *Matcher) {
	m.p, m.phase, m.pos, m.chosen = o.p, o.phase, o.pos, o.chosen
	m.stack = append(m.stack[:0], o.stack...)
}

// Done reports whether the bytes so far form a complete match.
func (m *Matcher) Done() bool {
	if m.phase == rDone {
		return true
	}
	return m.phase == rValue && len(m.p.suffix) == 0 && len(m.stack) == 1 && accepting(&m.stack[0])
}

// accepting reports whether f may end here (numbers, literals).
func accepting(f *frame) bool {
	switch f.kind {
	case fNumber:
		return f.ph == nZero || f.ph == nInt || f.ph == nFrac || f.ph == nExpDigits
	case fLit:
		return int(f.pos) == len(f.lits[f.lo])
	}
	return false
}

func (m *Matcher) enterPrefix() {
	m.phase, m.pos = rPrefix, 0
	if len(m.p.prefix) == 0 {
		m.afterPrefix()
	}
}

func (m *Matcher) afterPrefix() {
	if len(m.p.names) > 0 {
		m.phase = rName
		m.stack = append(m.stack, frame{kind: fLit, lits: m.p.names, hi: int32(len(m.p.names))})
		return
	}
	m.enterValue(m.p.schema)
}

func (m *Matcher) afterName(sorted int) {
	m.chosen = sorted
	m.phase, m.pos = rInfix, 0
	if len(m.p.infix) == 0 {
		m.enterValue(m.p.nameSchema[sorted])
	}
}

func (m *Matcher) enterValue(n *node) {
	m.phase = rValue
	m.stack = append(m.stack, frame{kind: fValue, n: n})
}

func (m *Matcher) afterValue() {
	m.phase, m.pos = rSuffix, 0
	if len(m.p.suffix) == 0 {
		m.phase = rDone
	}
}

// step results
type result uint8

const (
	consumed      result = iota // b was taken
	rejected                    // b cannot come next
	retry                       // the top frame changed; offer b to the new top
	doneConsumed                // the top frame took b and is complete
	doneReprocess               // the top frame is complete without b; offer b to its parent
)

// Feed advances by one byte and reports whether it was acceptable. After
// false the matcher's state is unspecified: callers simulate on a copy.
func (m *Matcher) Feed(b byte) bool {
	for {
		if len(m.stack) == 0 {
			return m.rootStep(b)
		}
		switch m.step(b) {
		case consumed:
			return true
		case rejected:
			return false
		case retry:
			continue
		case doneConsumed:
			m.pop()
			return true
		case doneReprocess:
			m.pop()
		}
	}
}

// FeedBytes feeds each byte of bs and reports whether all were accepted.
func (m *Matcher) FeedBytes(bs []byte) bool {
	for _, b := range bs {
		if !m.Feed(b) {
			return false
		}
	}
	return true
}

func (m *Matcher) rootStep(b byte) bool {
	var lit []byte
	switch m.phase {
	case rPrefix:
		lit = m.p.prefix
	case rInfix:
		lit = m.p.infix
	case rSuffix:
		lit = m.p.suffix
	default:
		return false
	}
	if m.pos >= len(lit) || lit[m.pos] != b {
		return false
	}
	m.pos++
	if m.pos == len(lit) {
		switch m.phase {
		case rPrefix:
			m.afterPrefix()
		case rInfix:
			m.enterValue(m.p.nameSchema[m.chosen])
		case rSuffix:
			m.phase = rDone
		}
	}
	return true
}

// pop removes the completed top frame and tells its parent.
func (m *Matcher) pop() {
	child := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	if len(m.stack) == 0 {
		if m.phase == rName {
			m.afterName(int(child.lo))
		} else {
			m.afterValue()
		}
		return
	}
	parent := &m.stack[len(m.stack)-1]
	parent.ws = 0
	switch parent.kind {
	case fObject:
		switch child.kind {
		case fKey:
			p := parent.n.keyProp[child.lo]
			parent.cur = int32(p)
			parent.seen[p/64] |= 1 << (p % 64)
			parent.ph = obColon
		case fString:
			if child.isKey {
				parent.cur = -1
				parent.ph = obColon
				return
			}
			parent.ph = obAfter
		default:
			parent.ph = obAfter
		}
	case fArray:
		parent.count++
		parent.ph = arAfter
	}
}

func isWS(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

// space takes a whitespace byte within the run limit.
func (m *Matcher) space(f *frame) result {
	if m.p.lenient {
		return consumed
	}
	if f.ws >= maxWS {
		return rejected
	}
	f.ws++
	return consumed
}

func (m *Matcher) step(b byte) result {
	f := &m.stack[len(m.stack)-1]
	switch f.kind {
	case fValue:
		return m.valueStep(f, b)
	case fObject:
		return m.objectStep(f, b)
	case fArray:
		return m.arrayStep(f, b)
	case fString:
		return stringStep(f, b, m.p.lenient)
	case fNumber:
		return numberStep(f, b, m.p.lenient)
	case fLit, fKey:
		return m.litStep(f, b)
	}
	return rejected
}

func (m *Matcher) valueStep(f *frame, b byte) result {
	if isWS(b) {
		return m.space(f)
	}
	n := f.n
	if len(n.lits) > 0 && n.kinds&firstByteKinds(b) == 0 {
		lo, hi := narrow(n.lits, 0, int32(len(n.lits)), 0, b)
		if lo == hi {
			return rejected
		}
		*f = frame{kind: fLit, n: n, lits: n.lits, hi: int32(len(n.lits))}
		return retry
	}
	containers := n != anyNode || m.p.lenient || len(m.stack) < maxAnyDepth
	switch {
	case b == '{' && n.kinds&kObject != 0 && containers:
		*f = frame{kind: fObject, n: n, ph: obOpen}
		return consumed
	case b == '[' && n.kinds&kArray != 0 && containers:
		*f = frame{kind: fArray, n: n, ph: arOpen}
		return consumed
	case b == '"' && n.kinds&kString != 0:
		*f = frame{kind: fString, n: n}
		return consumed
	case (b == '-' || (b >= '0' && b <= '9')) && n.kinds&(kNumber|kInteger) != 0:
		*f = frame{kind: fNumber, n: n, intOn: n.kinds&kNumber == 0}
		return retry
	case (b == 't' || b == 'f') && n.kinds&kBool != 0:
		*f = frame{kind: fLit, n: n, lits: boolLits, hi: 2}
		return retry
	case b == 'n' && n.kinds&kNull != 0:
		*f = frame{kind: fLit, n: n, lits: nullLits, hi: 1}
		return retry
	}
	return rejected
}

// missing counts the required properties not yet seen.
func missing(f *frame) int {
	c := 0
	for p, req := range f.n.required {
		if req && f.seen[p/64]&(1<<(p%64)) == 0 {
			c++
		}
	}
	return c
}

// moreKeys reports whether another key may follow.
func moreKeys(f *frame) bool {
	if f.n.free {
		return true
	}
	for p := range f.n.props {
		if f.seen[p/64]&(1<<(p%64)) == 0 {
			return true
		}
	}
	return false
}

func (m *Matcher) objectStep(f *frame, b byte) result {
	if isWS(b) && f.ph != obKey && f.ph != obValue {
		return m.space(f)
	}
	switch f.ph {
	case obOpen, obComma:
		if b == '}' && f.ph == obOpen && missing(f) == 0 {
			return doneConsumed
		}
		if b != '"' || !moreKeys(f) {
			return rejected
		}
		f.ph, f.ws = obKey, 0
		if f.n.free {
			m.stack = append(m.stack, frame{kind: fString, n: freeKey, isKey: true})
			return consumed
		}
		m.stack = append(m.stack, frame{kind: fKey, n: f.n, lits: f.n.keys, hi: int32(len(f.n.keys))})
		return retry
	case obColon:
		if b != ':' {
			return rejected
		}
		f.ph, f.ws = obValue, 0
		vn := f.n.values
		if f.cur >= 0 {
			vn = f.n.props[f.cur]
		}
		m.stack = append(m.stack, frame{kind: fValue, n: vn})
		return consumed
	case obAfter:
		switch {
		case b == ',' && moreKeys(f):
			f.ph, f.ws = obComma, 0
			return consumed
		case b == '}' && missing(f) == 0:
			return doneConsumed
		}
	}
	return rejected
}

// freeKey is the string schema of free object keys.
var freeKey = &node{kinds: kString, maxLen: -1, maxItems: -1, minBytes: 2}

func (m *Matcher) arrayStep(f *frame, b byte) result {
	if isWS(b) && f.ph != arValue {
		return m.space(f)
	}
	n := f.n
	switch f.ph {
	case arOpen, arComma:
		if b == ']' && f.ph == arOpen && int(f.count) >= n.minItems {
			return doneConsumed
		}
		if n.maxItems >= 0 && int(f.count) >= n.maxItems {
			return rejected
		}
		f.ph, f.ws = arValue, 0
		m.stack = append(m.stack, frame{kind: fValue, n: n.items})
		return retry
	case arAfter:
		switch {
		case b == ',' && (n.maxItems < 0 || int(f.count) < n.maxItems):
			f.ph, f.ws = arComma, 0
			return consumed
		case b == ']' && int(f.count) >= n.minItems:
			return doneConsumed
		}
	}
	return rejected
}

func stringStep(f *frame, b byte, lenient bool) result {
	if f.utf > 0 {
		if b < f.ulo || b > f.uhi {
			return rejected
		}
		f.utf--
		f.ulo, f.uhi = 0x80, 0xBF
		return consumed
	}
	full := f.n.maxLen >= 0 && int(f.count) >= f.n.maxLen
	switch f.ph {
	case stEsc:
		switch b {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			f.ph = stChars
			return consumed
		case 'u':
			f.ph, f.hex, f.hexD = stHex, 0, false
			return consumed
		}
		return rejected
	case stHex:
		if !isHex(b) {
			return rejected
		}
		switch f.hex {
		case 0:
			f.hexD = b == 'd' || b == 'D'
		case 1:
			if !lenient && f.hexD && (b >= '8' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F') {
				return rejected // a surrogate half would not survive decoding
			}
		}
		f.hex++
		if f.hex == 4 {
			f.ph = stChars
		}
		return consumed
	}
	switch {
	case b == '"':
		if int(f.count) < f.n.minLen {
			return rejected
		}
		return doneConsumed
	case b < 0x20 || full:
		return rejected
	case b == '\\':
		f.ph = stEsc
	case b < 0x80:
	case b >= 0xC2 && b <= 0xDF:
		f.utf, f.ulo, f.uhi = 1, 0x80, 0xBF
	case b == 0xE0:
		f.utf, f.ulo, f.uhi = 2, 0xA0, 0xBF
	case b >= 0xE1 && b <= 0xEC, b == 0xEE, b == 0xEF:
		f.utf, f.ulo, f.uhi = 2, 0x80, 0xBF
	case b == 0xED:
		f.utf, f.ulo, f.uhi = 2, 0x80, 0x9F
	case b == 0xF0:
		f.utf, f.ulo, f.uhi = 3, 0x90, 0xBF
	case b >= 0xF1 && b <= 0xF3:
		f.utf, f.ulo, f.uhi = 3, 0x80, 0xBF
	case b == 0xF4:
		f.utf, f.ulo, f.uhi = 3, 0x80, 0x8F
	default:
		return rejected
	}
	f.count++
	return consumed
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

func numberStep(f *frame, b byte, lenient bool) result {
	digit := b >= '0' && b <= '9'
	switch f.ph {
	case nStart:
		switch {
		case b == '-':
			f.ph = nMinus
		case b == '0':
			f.ph = nZero
		case digit:
			f.ph, f.count = nInt, 1
		default:
			return rejected
		}
		return consumed
	case nMinus:
		switch {
		case b == '0':
			f.ph = nZero
		case digit:
			f.ph, f.count = nInt, 1
		default:
			return rejected
		}
		return consumed
	case nZero, nInt:
		switch {
		case digit && f.ph == nInt:
			if f.count >= maxIntDigits && !lenient {
				return rejected
			}
			f.count++
			return consumed
		case b == '.' && !f.intOn:
			f.ph, f.count = nDot, 0
			return consumed
		case (b == 'e' || b == 'E') && !f.intOn:
			f.ph, f.count = nExp, 0
			return consumed
		case digit:
			return rejected // no leading zeros
		}
		return doneReprocess
	case nDot:
		if !digit {
			return rejected
		}
		f.ph, f.count = nFrac, 1
		return consumed
	case nFrac:
		switch {
		case digit:
			if f.count >= maxFracDig && !lenient {
				return rejected
			}
			f.count++
			return consumed
		case b == 'e' || b == 'E':
			f.ph, f.count = nExp, 0
			return consumed
		}
		return doneReprocess
	case nExp:
		switch {
		case b == '+' || b == '-':
			f.ph = nExpSign
		case digit:
			f.ph, f.count = nExpDigits, 1
		default:
			return rejected
		}
		return consumed
	case nExpSign:
		if !digit {
			return rejected
		}
		f.ph, f.count = nExpDigits, 1
		return consumed
	case nExpDigits:
		if digit {
			if f.count >= maxExpDigits && !lenient {
				return rejected
			}
			f.count++
			return consumed
		}
		return doneReprocess
	}
	return rejected
}

// narrow returns the sub-range of sorted lits[lo:hi] (which share their
// first pos bytes) whose byte at pos is b.
func narrow(lits [][]byte, lo, hi, pos int32, b byte) (int32, int32) {
	i := lo + int32(sort.Search(int(hi-lo), func(k int) bool {
		l := lits[lo+int32(k)]
		return len(l) > int(pos) && l[pos] >= b
	}))
	j := i
	for j < hi && len(lits[j]) > int(pos) && lits[j][pos] == b {
		j++
	}
	return i, j
}

// unseenIn reports whether some key in [lo, hi) names a property the
// object (the frame below the key) has not had yet.
func (m *Matcher) unseenIn(lo, hi int32) bool {
	obj := &m.stack[len(m.stack)-2]
	for i := lo; i < hi; i++ {
		p := obj.n.keyProp[i]
		if obj.seen[p/64]&(1<<(p%64)) == 0 {
			return true
		}
	}
	return false
}

func (m *Matcher) litStep(f *frame, b byte) result {
	lo, hi := narrow(f.lits, f.lo, f.hi, f.pos, b)
	if lo < hi && (f.kind != fKey || m.unseenIn(lo, hi)) {
		f.lo, f.hi = lo, hi
		f.pos++
		if hi-lo == 1 && len(f.lits[lo]) == int(f.pos) {
			return doneConsumed
		}
		return consumed
	}
	// A complete candidate sorts first in its range.
	if len(f.lits[f.lo]) == int(f.pos) && (f.kind != fKey || m.unseenIn(f.lo, f.lo+1)) {
		return doneReprocess
	}
	return rejected
}

// String describes the state, for tests and debugging.
func (m *Matcher) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "root=%d pos=%d", m.phase, m.pos)
	for _, f := range m.stack {
		fmt.Fprintf(&b, " [k%d ph%d c%d]", f.kind, f.ph, f.count)
	}
	return b.String()
}

// Closed reports whether the match is complete and no further byte can
// extend it (a Done number may still grow; a closed string cannot).
func (m *Matcher) Closed() bool { return m.phase == rDone }
