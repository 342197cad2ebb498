package pretok

import (
	"unicode"
	"unicode/utf8"
)

// Character classes: the Unicode general categories the patterns ask
// about, plus White_Space. Every code point inside the span being split has
// clsIn set, so a zero class means "outside the span" (the scanners' end
// sentinel), exactly like llama.cpp's empty flags.
const (
	clsL  uint8 = 1 << iota // \p{L}
	clsN                    // \p{N}
	clsP                    // \p{P}
	clsS                    // \p{S}
	clsM                    // \p{M}
	clsW                    // \s: U+0009–000D, 0020, 0085, 00A0 and the Unicode White_Space set
	clsIn                   // any code point inside the span
)

// asciiClass holds the classes of the 128 ASCII code points.
var asciiClass = func() (t [128]uint8) {
	for c := range 128 {
		t[c] = classOfRune(rune(c))
	}
	return t
}()

// classOfRune classifies r. Go's unicode.IsSpace is exactly llama.cpp's
// whitespace set (spec §4.6).
func classOfRune(r rune) uint8 {
	c := clsIn
	switch {
	case unicode.IsSpace(r):
		c |= clsW
	case unicode.IsLetter(r):
		c |= clsL
	case unicode.IsNumber(r):
		c |= clsN
	case unicode.IsPunct(r):
		c |= clsP
	case unicode.IsSymbol(r):
		c |= clsS
	case unicode.IsMark(r):
		c |= clsM
	}
	return c
}

func classOf(r rune) uint8 {
	if r < 128 {
		return asciiClass[r]
	}
	return classOfRune(r)
}

// text is a fragment decoded into code points. Invalid UTF-8 bytes become
// one U+FFFD code point each (as in llama.cpp) but keep their original byte,
// so the words handed to BPE are always substrings of the input.
type text struct {
	s   string
	off []int   // off[i] is the byte offset of code point i; off[n] == len(s)
	cp  []rune  // code points
	cls []uint8 // classes of cp
}

func (t *text) reset(s string) {
	t.s = s
	t.off, t.cp, t.cls = t.off[:0], t.cp[:0], t.cls[:0]
	for i := 0; i < len(s); {
		r, w := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		t.off = append(t.off, i)
		t.cp = append(t.cp, r)
		t.cls = append(t.cls, classOf(r))
		i += w
	}
	t.off = append(t.off, len(s))
}

func (t *text) len() int { return len(t.cp) }

// span is the window [lo, hi) of code points a stage works on; reads
// outside it see the sentinel, as llama.cpp's per-fragment scanners do.
type span struct {
	t      *text
	lo, hi int
}

// outside is the code point the scanners see past the span's end.
const outside rune = -1

func (s span) at(i int) rune {
	if i < s.lo || i >= s.hi {
		return outside
	}
	return s.t.cp[i]
}

func (s span) class(i int) uint8 {
	if i < s.lo || i >= s.hi {
		return 0
	}
	return s.t.cls[i]
}

// has reports whether code point i is inside the span and in one of classes.
func (s span) has(i int, classes uint8) bool { return s.class(i)&classes != 0 }

// isNL reports whether r is CR or LF.
func isNL(r rune) bool { return r == '\r' || r == '\n' }

// lowerASCII folds ASCII upper case; the contraction patterns only ever
// compare against ASCII letters.
func lowerASCII(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + ('a' - 'A')
	}
	return r
}

// contraction returns the length (2 or 3) of an English contraction
// ('s 't 're 've 'm 'll 'd) starting at i, or 0. With fold, the letters
// match case-insensitively.
func contraction(s span, i int, fold bool) int {
	if s.at(i) != '\'' || i+1 >= s.hi {
		return 0
	}
	c1 := s.at(i + 1)
	if fold {
		c1 = lowerASCII(c1)
	}
	switch c1 {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 >= s.hi {
		return 0
	}
	c2 := s.at(i + 2)
	if fold {
		c2 = lowerASCII(c2)
	}
	if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
		return 3
	}
	return 0
}

// whitespaceRun returns the length of the whitespace run at i and the
// index just past the last CR or LF inside it (0 when there is none).
func whitespaceRun(s span, i int) (n, pastNL int) {
	for s.has(i+n, clsW) {
		if isNL(s.at(i + n)) {
			pastNL = i + n + 1
		}
		n++
	}
	return n, pastNL
}
