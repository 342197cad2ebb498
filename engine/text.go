package engine

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// textStream turns the bytes of generated tokens into text deltas. It holds
// back two kinds of tail: bytes of an unfinished UTF-8 sequence, and text
// that could still grow into a stop sequence. Released text is therefore
// always valid UTF-8 and never contains (or starts) a stop match, so
// nothing is ever streamed and then retracted.
//
// Invariant: no stop match can start inside released text, because
// everything from the earliest suffix that is a prefix of a stop sequence
// onwards stays in pend. Hence a complete match, when one appears, lies in
// pend.
type textStream struct {
	stops   [][]byte // non-empty, valid UTF-8
	longest int      // length of the longest stop sequence
	pend    []byte   // decoded bytes not yet released
}

func newTextStream(stops []string) *textStream {
	s := &textStream{stops: make([][]byte, len(stops))}
	for i, stop := range stops {
		s.stops[i] = []byte(stop)
		s.longest = max(s.longest, len(stop))
	}
	return s
}

// add appends the bytes of one token. It returns the text that can be
// released now and, when a stop sequence has matched, its index in stops
// (else -1). After a match the text from the match onwards is dropped and
// the stream must not be used again.
func (s *textStream) add(b []byte) (string, int) {
	s.pend = append(s.pend, b...)
	if at, which := s.match(); which >= 0 {
		out := validText(s.pend[:at])
		s.pend = s.pend[:0]
		return out, which
	}
	cut := s.holdFrom()
	if cut == len(s.pend) {
		cut -= partialRune(s.pend)
	}
	out := validText(s.pend[:cut])
	s.pend = s.pend[:copy(s.pend, s.pend[cut:])]
	return out, -1
}

// flush releases everything still held, at the end of a generation that
// did not stop on a sequence: a held stop prefix was plain text after all,
// and a truncated UTF-8 sequence becomes U+FFFD.
func (s *textStream) flush() string {
	out := validText(s.pend)
	s.pend = s.pend[:0]
	return out
}

// match finds the earliest complete stop match in pend; among matches at
// the same offset the shortest wins, as it completed first.
func (s *textStream) match() (at, which int) {
	at, which = len(s.pend), -1
	for i, stop := range s.stops {
		j := bytes.Index(s.pend, stop)
		if j < 0 {
			continue
		}
		if j < at || (j == at && len(stop) < len(s.stops[which])) {
			at, which = j, i
		}
	}
	return at, which
}

// holdFrom returns the offset of the earliest suffix of pend that is a
// proper prefix of some stop sequence, or len(pend) when there is none.
func (s *textStream) holdFrom() int {
	for q := max(0, len(s.pend)-s.longest+1); q < len(s.pend); q++ {
		tail := s.pend[q:]
		for _, stop := range s.stops {
			if len(tail) < len(stop) && bytes.HasPrefix(stop, tail) {
				return q
			}
		}
	}
	return len(s.pend)
}

// partialRune returns how many bytes at the end of b start a UTF-8
// sequence that more bytes could still complete.
func partialRune(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return 0
			}
			return len(b) - i
		}
	}
	return 0
}

// validText returns b as a string with each byte that is not part of a
// valid UTF-8 sequence replaced by U+FFFD. Replacing per byte (not per run,
// as strings.ToValidUTF8 does) makes the result independent of where the
// stream was cut into deltas.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}
