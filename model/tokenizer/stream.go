package tokenizer

import (
	"strings"
	"unicode/utf8"

	"github.com/pensieve-llm/pensieve/core"
)

// Stream detokenizes a sequence one token at a time and emits only complete
// UTF-8: a token may end in the middle of a character (byte-fallback and
// byte-level tokens often do), so the bytes of an unfinished character are
// held back until the tokens that complete it arrive. Bytes that can never
// form a character are emitted as U+FFFD, so every emitted string is valid
// UTF-8.
//
// A Stream belongs to one sequence and is not safe for concurrent use.
type Stream struct {
	tok       core.Tokenizer
	pending   []byte
	stripLead bool // drop a leading space from the first token's bytes
	started   bool
}

// StreamOption configures a Stream.
type StreamOption func(*Stream)

// AtTextStart declares that the stream decodes a sequence from the start of
// a text. For SentencePiece vocabularies that add a space prefix when
// encoding, the first token's leading space is then the encoder's and is
// dropped, as llama.cpp's detokenizer does. Continuations of a prompt must
// not use it: their first space is real.
func AtTextStart() StreamOption {
	return func(s *Stream) {
		if p, ok := s.tok.(interface{ AddSpacePrefix() bool }); ok && p.AddSpacePrefix() {
			s.stripLead = true
		}
	}
}

// NewStream returns a stream that decodes with tok.
func NewStream(tok core.Tokenizer, opts ...StreamOption) *Stream {
	s := &Stream{tok: tok}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Add decodes id and returns the text that became complete, possibly "".
func (s *Stream) Add(id core.TokenID) string {
	n := len(s.pending)
	s.pending = s.tok.Decode(s.pending, id)
	if !s.started && len(s.pending) > n {
		s.started = true
		if s.stripLead && s.pending[n] == ' ' {
			s.pending = append(s.pending[:n], s.pending[n+1:]...)
		}
	}
	cut := completePrefix(s.pending)
	if cut == 0 {
		return ""
	}
	out := strings.ToValidUTF8(string(s.pending[:cut]), "\uFFFD")
	s.pending = append(s.pending[:0], s.pending[cut:]...)
	return out
}

// Flush returns whatever is held back, an unfinished character becoming
// U+FFFD, and empties the stream; call it when the sequence ends.
func (s *Stream) Flush() string {
	out := strings.ToValidUTF8(string(s.pending), "\uFFFD")
	s.pending = s.pending[:0]
	return out
}

// Pending reports how many bytes are held back.
func (s *Stream) Pending() int { return len(s.pending) }

// completePrefix returns the length of the longest prefix of p that does not
// end inside a character that later bytes could still complete.
func completePrefix(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return i
			}
			break
		}
	}
	return len(p)
}
