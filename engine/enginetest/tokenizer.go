package enginetest

import (
	"fmt"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Tokenizer is a fake core.Tokenizer over a fixed list of pieces: token i
// decodes to pieces[i]. It is immutable and safe for concurrent use.
type Tokenizer struct {
	pieces []string
	vocab  core.Vocab
}

// NewTokenizer returns a tokenizer whose token i is pieces[i]; eog lists
// the end-of-generation tokens (the first is EOS). Pieces may hold partial
// UTF-8 sequences.
func NewTokenizer(pieces []string, eog ...core.TokenID) *Tokenizer {
	v := core.Vocab{Size: len(pieces), BOS: core.NoToken, EOS: core.NoToken, EOG: eog}
	if len(eog) > 0 {
		v.EOS = eog[0]
	}
	return &Tokenizer{pieces: pieces, vocab: v}
}

// ByteTokenizer returns a tokenizer of size tokens (≥ 258) where tokens
// 0–255 are the single bytes, 256 is the end-of-generation "</s>" and the
// rest are "<tN>".
func ByteTokenizer(size int) *Tokenizer {
	pieces := make([]string, max(size, 258))
	for i := range pieces {
		switch {
		case i < 256:
			pieces[i] = string([]byte{byte(i)})
		case i == 256:
			pieces[i] = "</s>"
		default:
			pieces[i] = fmt.Sprintf("<t%d>", i)
		}
	}
	return NewTokenizer(pieces, 256)
}

// EOS is the end-of-generation token of ByteTokenizer.
const EOS core.TokenID = 256

// Encode appends the tokens of text by greedy longest match over the
// pieces. End-of-generation pieces match only when special is true.
func (t *Tokenizer) Encode(dst []core.TokenID, text string, special bool) ([]core.TokenID, error) {
	for len(text) > 0 {
		best, bestLen := core.NoToken, 0
		for i, p := range t.pieces {
			if len(p) <= bestLen || !strings.HasPrefix(text, p) || (!special && t.vocab.IsEOG(core.TokenID(i))) {
				continue
			}
			best, bestLen = core.TokenID(i), len(p)
		}
		if best == core.NoToken {
			return dst, core.Errorf(core.KindInvalid, "enginetest.Encode", "no token for %q", text[:1])
		}
		dst, text = append(dst, best), text[bestLen:]
	}
	return dst, nil
}

// Decode appends the piece of id; ids out of range append nothing.
func (t *Tokenizer) Decode(dst []byte, id core.TokenID) []byte {
	if id < 0 || int(id) >= len(t.pieces) {
		return dst
	}
	return append(dst, t.pieces[id]...)
}

// Vocab returns the vocabulary's size and special tokens.
func (t *Tokenizer) Vocab() core.Vocab { return t.vocab }
