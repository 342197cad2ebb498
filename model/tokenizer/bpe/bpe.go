// Package bpe implements byte-level byte-pair encoding as GPT-2 defined it
// and llama.cpp runs it for tokenizer.ggml.model "gpt2" (spec §4.5): each
// pre-tokenized word is written with one code point per byte, then the
// adjacent pair of symbols with the lowest merge rank is merged repeatedly
// (ties to the leftmost), and each final symbol becomes its token.
package bpe

import (
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Model holds the merge table of one vocabulary. It is immutable after New
// and safe for concurrent use.
//
// Symbols are interned strings: ids below len(tokens) are the vocabulary's
// tokens, larger ids are strings that appear in merges without being tokens.
type Model struct {
	tokens       []string                // token texts; shared, read-only
	ids          map[string]core.TokenID // token text → id; shared, read-only
	nTokens      int32
	extra        []string         // interned non-token strings, id nTokens+i
	merges       map[uint64]merge // pair key (left<<32|right) → merge
	byteSym      [256]int32       // symbol of each byte's code point, or -1 when it never merges
	ignoreMerges bool
}

// merge is one entry of the merge table.
type merge struct {
	rank   int32 // index in tokenizer.ggml.merges; lower merges first
	result int32 // symbol of the concatenation
}

func pairKey(l, r int32) uint64 { return uint64(uint32(l))<<32 | uint64(uint32(r)) }

// New builds a model from the vocabulary's token texts (ids maps each text
// to its id; both are retained and must not be modified afterwards) and
// its merges, each "left right" split at the first space after the first
// byte. With ignoreMerges, a word that is itself a token is emitted whole
// (the Llama 3 family). Malformed merges are skipped, as in llama.cpp; a
// repeated pair keeps its first rank.
func New(tokens []string, ids map[string]core.TokenID, merges []string, ignoreMerges bool) (*Model, error) {
	if len(tokens) == 0 || len(ids) != len(tokens) {
		return nil, core.Errorf(core.KindInvalid, "bpe.New", "vocabulary of %d tokens with %d distinct texts", len(tokens), len(ids))
	}
	m := &Model{
		tokens:       tokens,
		ids:          ids,
		nTokens:      int32(len(tokens)),
		merges:       make(map[uint64]merge, len(merges)),
		ignoreMerges: ignoreMerges,
	}
	extraIDs := map[string]int32{}
	intern := func(s string) int32 {
		if id, ok := ids[s]; ok {
			return int32(id)
		}
		if id, ok := extraIDs[s]; ok {
			return id
		}
		id := m.nTokens + int32(len(m.extra))
		s = strings.Clone(s)
		m.extra = append(m.extra, s)
		extraIDs[s] = id
		return id
	}
	// Walk the merges backwards and overwrite, so a repeated pair ends up
	// with its first (lowest) rank without a second lookup per merge.
	var buf []byte
	for rank := len(merges) - 1; rank >= 0; rank-- {
		line := merges[rank]
		// The separator is the first space after byte 0, so a merge may
		// start with a space (llama.cpp: word.find(' ', 1)).
		sp := -1
		if len(line) > 1 {
			if k := strings.IndexByte(line[1:], ' '); k >= 0 {
				sp = k + 1
			}
		}
		if sp < 0 || sp == len(line)-1 {
			continue
		}
		left, right := line[:sp], line[sp+1:]
		l, r := intern(left), intern(right)
		buf = append(append(buf[:0], left...), right...)
		res, ok := ids[string(buf)]
		resSym := int32(res)
		if !ok {
			resSym = intern(string(buf))
		}
		m.merges[pairKey(l, r)] = merge{rank: int32(rank), result: resSym}
	}
	for b := range 256 {
		m.byteSym[b] = -1
		if id, ok := ids[byteText[b]]; ok {
			m.byteSym[b] = int32(id)
		} else if id, ok := extraIDs[byteText[b]]; ok {
			m.byteSym[b] = id
		}
	}
	return m, nil
}

// text returns the string of symbol s.
func (m *Model) text(s int32) string {
	if s < m.nTokens {
		return m.tokens[s]
	}
	return m.extra[s-m.nTokens]
}
