package pretok

// matcher reports the end of the leftmost-first match of a pattern starting
// at code point i of the span, or -1 when none starts there. Patterns that
// llama.cpp hands to std::regex are written as matchers; find turns one into
// a stage with regex_iterator's semantics.
type matcher func(s span, i int) int

// find splits a span at every non-overlapping match of m, scanning left to
// right; the text between matches becomes pieces too (nothing is dropped).
func (m matcher) stage() stage {
	return func(s span, ends []int) []int {
		c := cutter{prev: s.lo, ends: ends}
		for i := s.lo; i < s.hi; {
			e := m(s, i)
			if e <= i {
				i++
				continue
			}
			c.cut(i) // the gap before the match, if any
			c.cut(e)
			i = e
		}
		c.cut(s.hi)
		return c.ends
	}
}

// run returns the end of the run of code points from i that satisfy ok.
func run(s span, i int, ok func(r rune, f uint8) bool) int {
	for i < s.hi && ok(s.t.cp[i], s.t.cls[i]) {
		i++
	}
	return i
}

// plus matches one or more code points satisfying ok (`[…]+`).
func plus(ok func(r rune, f uint8) bool) matcher {
	return func(s span, i int) int {
		if e := run(s, i, ok); e > i {
			return e
		}
		return -1
	}
}

// upTo matches between 1 and n code points satisfying ok (`[…]{1,n}`).
func upTo(n int, ok func(r rune, f uint8) bool) matcher {
	return func(s span, i int) int {
		e := i
		for e < s.hi && e-i < n && ok(s.t.cp[e], s.t.cls[e]) {
			e++
		}
		if e > i {
			return e
		}
		return -1
	}
}

// spaceThen matches `\s?` followed by m, preferring to take the space.
func spaceThen(m matcher) matcher {
	return func(s span, i int) int {
		if s.has(i, clsW) {
			if e := m(s, i+1); e >= 0 {
				return e
			}
		}
		return m(s, i)
	}
}

// either tries each matcher in order (regex alternation).
func either(ms ...matcher) matcher {
	return func(s span, i int) int {
		for _, m := range ms {
			if e := m(s, i); e >= 0 {
				return e
			}
		}
		return -1
	}
}

// Class predicates shared by the patterns.

func isNumber(_ rune, f uint8) bool { return f&clsN != 0 }
func isLetter(_ rune, f uint8) bool { return f&clsL != 0 }
func isDigit(r rune, _ uint8) bool  { return r >= '0' && r <= '9' }

// isPunctRegex is \p{P} as llama.cpp's std::regex fallback sees it: the
// Unicode punctuation category (ASCII punctuation is the same set).
func isPunctRegex(_ rune, f uint8) bool { return f&clsP != 0 }

// isSymbolRegex is \p{S} as llama.cpp's std::regex fallback sees it: its
// ASCII table for symbols lists $+<=>^`| and omits '~', so '~' is neither
// punctuation nor symbol there (llama.cpp/src/unicode.cpp, k_ucat_map).
func isSymbolRegex(r rune, f uint8) bool { return f&clsS != 0 && r != '~' }

// inAny reports whether r lies in one of the inclusive ranges, listed as
// consecutive pairs.
func inAny(r rune, ranges []rune) bool {
	for k := 0; k+1 < len(ranges); k += 2 {
		if r >= ranges[k] && r <= ranges[k+1] {
			return true
		}
	}
	return false
}

// rangeClass returns a predicate for a bracket expression of literal
// ranges, applied the way llama.cpp's std::wregex fallback sees the text:
// non-ASCII whitespace has been replaced by U+000B first, so it never
// matches a literal range.
func rangeClass(ranges []rune) func(rune, uint8) bool {
	return func(r rune, f uint8) bool {
		if r >= 128 && f&clsW != 0 {
			return false
		}
		return inAny(r, ranges)
	}
}
