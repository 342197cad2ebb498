package jsonmatch

// This file computes how many bytes at least are still needed to complete a
// match. The constraint compares it with the tokens left before max_tokens:
// since every byte is available as a one-byte token in the vocabularies
// Pensieve serves, a completion of c bytes needs at most c tokens.

// MinRemaining returns the length of the shortest byte string that
// completes the match from the current state; 0 when Done.
func (m *Matcher) MinRemaining() int {
	if m.Done() {
		return 0
	}
	total := 0
	for i := range m.stack {
		total += m.frameCost(i)
	}
	return total + m.rootCost()
}

func (m *Matcher) rootCost() int {
	p := m.p
	switch m.phase {
	case rPrefix:
		rest := len(p.prefix) - m.pos
		if len(p.names) == 0 {
			return rest + p.schema.minBytes + len(p.suffix)
		}
		best := -1
		for i, name := range p.names {
			best = minPos(best, len(name)+p.afterName[i])
		}
		return rest + best
	case rName:
		f := &m.stack[0]
		best := -1
		for i := f.lo; i < f.hi; i++ {
			best = minPos(best, len(p.names[i])-int(f.pos)+p.afterName[i])
		}
		return best
	case rInfix:
		return len(p.infix) - m.pos + p.nameSchema[m.chosen].minBytes + len(p.suffix)
	case rValue:
		return len(p.suffix)
	case rSuffix:
		return len(p.suffix) - m.pos
	}
	return 0
}

func minPos(best, v int) int {
	if best < 0 || v < best {
		return v
	}
	return best
}

// frameCost is the cost of stack[i] once the frames above it are complete
// (for the top frame: its own cost). Name and key literals cost nothing
// here: the root and the object count them with what must follow.
func (m *Matcher) frameCost(i int) int {
	f := &m.stack[i]
	top := i == len(m.stack)-1
	switch f.kind {
	case fValue:
		return f.n.minBytes
	case fString:
		return stringCost(f)
	case fNumber:
		if accepting(f) {
			return 0
		}
		return 1
	case fLit:
		if i == 0 && m.phase == rName {
			return 0
		}
		best := -1
		for j := f.lo; j < f.hi; j++ {
			best = minPos(best, len(f.lits[j])-int(f.pos))
		}
		return best
	case fKey:
		return 0
	case fObject:
		return m.objectCost(f, i, top)
	case fArray:
		return arrayCost(f)
	}
	return 0
}

func stringCost(f *frame) int {
	c := int(f.utf) + 1 // continuation bytes, closing quote
	switch f.ph {
	case stEsc:
		c++
	case stHex:
		c += 4 - int(f.hex)
	}
	if short := f.n.minLen - int(f.count); short > 0 {
		c += short
	}
	return c
}

// propCost is the length of `"key":value` for property p at its shortest.
func propCost(n *node, sorted int) int {
	return len(n.keys[sorted]) + 1 + n.props[n.keyProp[sorted]].minBytes
}

// closeAfter is the cost of ending the object after a value when seen
// holds the properties had so far: each missing required property with
// its comma, then '}'.
func closeAfter(n *node, seen [2]uint64) int {
	c := 1
	for i := range n.keys {
		p := n.keyProp[i]
		if n.required[p] && seen[p/64]&(1<<(p%64)) == 0 {
			c += 1 + propCost(n, i)
		}
	}
	return c
}

// closeFromOpen is the cost of ending an object right after '{' or ','
// (first=true after '{').
func closeFromOpen(n *node, seen [2]uint64) int {
	c := closeAfter(n, seen)
	if c > 1 {
		c-- // no comma before the first property
	}
	return c
}

func (m *Matcher) objectCost(f *frame, i int, top bool) int {
	n := f.n
	switch f.ph {
	case obOpen:
		return closeFromOpen(n, f.seen)
	case obComma:
		if missing(f) > 0 {
			return closeFromOpen(n, f.seen)
		}
		if n.free {
			return 3 + n.values.minBytes + 1 // "":v}
		}
		best := -1
		for k := range n.keys {
			p := n.keyProp[k]
			if f.seen[p/64]&(1<<(p%64)) == 0 {
				best = minPos(best, propCost(n, k)+1)
			}
		}
		return best
	case obKey:
		if top {
			return closeFromOpen(n, f.seen) // cannot happen: a key frame is above
		}
		child := &m.stack[i+1]
		if child.kind != fKey {
			return 1 + n.values.minBytes + 1 // a free key: ':' value '}'
		}
		best := -1
		for k := child.lo; k < child.hi; k++ {
			p := n.keyProp[k]
			if f.seen[p/64]&(1<<(p%64)) != 0 {
				continue
			}
			seen := f.seen
			seen[p/64] |= 1 << (p % 64)
			v := len(n.keys[k]) - int(child.pos) + 1 + n.props[p].minBytes + closeAfter(n, seen)
			best = minPos(best, v)
		}
		return best
	case obColon:
		vn := n.values
		if f.cur >= 0 {
			vn = n.props[f.cur]
		}
		return 1 + vn.minBytes + closeAfter(n, f.seen)
	}
	return closeAfter(n, f.seen) // obValue, obAfter
}

func arrayCost(f *frame) int {
	n := f.n
	im := n.items.minBytes
	rest := func(count int) int { // after a value, with count items
		if short := n.minItems - count; short > 0 {
			return short*(1+im) + 1
		}
		return 1
	}
	switch f.ph {
	case arOpen:
		if short := n.minItems; short > 0 {
			return short*im + short - 1 + 1
		}
		return 1
	case arValue:
		return rest(int(f.count) + 1)
	case arComma:
		return im + rest(int(f.count)+1)
	}
	return rest(int(f.count))
}

// Plain describes a state inside a string's characters, with no escape
// or multi-byte character pending: any token made only of plain
// characters (no quote, backslash or control byte, whole UTF-8 sequences)
// may come next when it fits Room.
type Plain struct {
	Room  int // characters the string may still take; < 0: unbounded
	Cost  int // MinRemaining now
	Short int // characters still needed to reach minLength
}

// PlainString returns the Plain description of the state, or false when
// the state is not inside a string's plain characters.
func (m *Matcher) PlainString() (Plain, bool) {
	if len(m.stack) == 0 {
		return Plain{}, false
	}
	f := &m.stack[len(m.stack)-1]
	if f.kind != fString || f.ph != stChars || f.utf != 0 {
		return Plain{}, false
	}
	p := Plain{Room: -1, Cost: m.MinRemaining(), Short: max(0, f.n.minLen-int(f.count))}
	if f.n.maxLen >= 0 {
		p.Room = f.n.maxLen - int(f.count)
	}
	return p, true
}

// CostAfter returns MinRemaining after chars more plain characters.
func (p Plain) CostAfter(chars int) int { return p.Cost - min(p.Short, chars) }

// Completion returns a shortest byte string that completes the match from
// the current state (empty when Done): the repair of a truncated output.
func (m *Matcher) Completion() []byte {
	var out []byte
	cur := NewMatcher(m.p)
	cur.CopyFrom(m)
	tmp := NewMatcher(m.p)
	for !cur.Done() {
		need := cur.MinRemaining()
		found := false
		for _, b := range completionBytes {
			tmp.CopyFrom(cur)
			if tmp.Feed(b) && tmp.MinRemaining() == need-1 {
				cur.Feed(b)
				out = append(out, b)
				found = true
				break
			}
		}
		if !found {
			return out // unreachable: MinRemaining is always achievable
		}
	}
	return out
}

// completionBytes are tried in this order, so repairs read naturally.
var completionBytes = func() []byte {
	bs := []byte(`"}]0:,nulltruefalse`)
	for b := 0; b < 256; b++ {
		bs = append(bs, byte(b))
	}
	return bs
}()
