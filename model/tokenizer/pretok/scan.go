package pretok

// A stage splits one span into pieces, appending the end index (exclusive,
// in code points) of every piece to ends. The pieces must cover the span.
type stage func(s span, ends []int) []int

// cutter appends piece ends, skipping empty pieces, like llama.cpp's
// _add_token.
type cutter struct {
	prev int
	ends []int
}

func (c *cutter) cut(end int) {
	if end > c.prev {
		c.ends = append(c.ends, end)
		c.prev = end
	}
}

// scanGPT2 implements G, GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// as a scanner: at each position the first alternative that matches wins,
// and `\s+(?!\S)` gives back the last whitespace character when the run is
// followed by a non-space.
func scanGPT2(s span, ends []int) []int {
	c := cutter{prev: s.lo, ends: ends}
	for pos := s.lo; pos < s.hi; {
		r := s.at(pos)
		if n := contraction(s, pos, false); n > 0 {
			pos += n
			c.cut(pos)
			continue
		}
		// ` ?X+` for X in letters, numbers, other: the class of the
		// character after an optional leading space decides.
		f := s.class(pos)
		start := pos
		if r == ' ' {
			f = s.class(pos + 1)
			start = pos + 1
		}
		if class := wordClass(f); class != 0 {
			pos = start
			for s.class(pos) != 0 && wordClass(s.class(pos)) == class {
				pos++
			}
			c.cut(pos)
			continue
		}
		n, _ := whitespaceRun(s, pos)
		switch {
		case n > 1 && s.at(pos+n) != outside: // \s+(?!\S)
			pos += n - 1
		case n > 0: // \s+
			pos += n
		default:
			pos++
		}
		c.cut(pos)
	}
	return c.ends
}

// Word classes of GPT-2's pattern: letters, numbers, and "other" meaning
// neither whitespace, letter nor number.
const (
	wordLetter = 1 + iota
	wordNumber
	wordOther
)

func wordClass(f uint8) int {
	switch {
	case f == 0 || f&clsW != 0:
		return 0
	case f&clsL != 0:
		return wordLetter
	case f&clsN != 0:
		return wordNumber
	}
	return wordOther
}

// l3 configures the scanner for the Llama 3 family of patterns:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// and its relatives (Qwen 2 takes one digit at a time, Seed-Coder drops the
// trailing newlines after punctuation, Qwen 3.5 lets marks join letters).
type l3 struct {
	digits       int  // maximum digits per piece; 0 means unlimited
	contractions bool // the leading (?i:'s|…) alternative is present
	punctNL      bool // punctuation runs absorb following CR/LF
	marks        bool // \p{M} joins letter runs and leaves the punctuation class
}

func (o l3) stage() stage {
	return func(s span, ends []int) []int { return o.scan(s, ends) }
}

func (o l3) scan(s span, ends []int) []int {
	word := clsL
	if o.marks {
		word |= clsM
	}
	c := cutter{prev: s.lo, ends: ends}
	for pos := s.lo; pos < s.hi; {
		r, f := s.at(pos), s.class(pos)
		if o.contractions {
			if n := contraction(s, pos, true); n > 0 {
				pos += n
				c.cut(pos)
				continue
			}
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if !isNL(r) && f&clsN == 0 && (f&word != 0 || s.has(pos+1, word)) {
			pos++
			for s.has(pos, word) {
				pos++
			}
			c.cut(pos)
			continue
		}
		// \p{N}{1,k}
		if f&clsN != 0 {
			n := 0
			for s.has(pos, clsN) {
				pos++
				n++
				if n == o.digits {
					c.cut(pos)
					n = 0
				}
			}
			c.cut(pos)
			continue
		}
		// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
		notPunct := clsW | clsL | clsN
		if o.marks {
			notPunct |= clsM
		}
		f2, p := f, pos
		if r == ' ' {
			f2, p = s.class(pos+1), pos+1
		}
		if f2 != 0 && f2&notPunct == 0 {
			pos = p
			for s.class(pos) != 0 && s.class(pos)&notPunct == 0 {
				pos++
			}
			for o.punctNL && isNL(s.at(pos)) {
				pos++
			}
			c.cut(pos)
			continue
		}
		n, pastNL := whitespaceRun(s, pos)
		switch {
		case pastNL > 0: // \s*[\r\n]+
			pos = pastNL
		case n > 1 && s.at(pos+n) != outside: // \s+(?!\S)
			pos += n - 1
		case n > 0: // \s+
			pos += n
		default:
			pos++
		}
		c.cut(pos)
	}
	return c.ends
}
