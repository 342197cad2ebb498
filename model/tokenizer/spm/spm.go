// Package spm implements SentencePiece-style BPE by score as llama.cpp runs
// it for tokenizer.ggml.model "llama" (spec §4.4): the text, with spaces
// already escaped to U+2581, is split into UTF-8 characters; the adjacent
// pair whose concatenation is the highest-scoring token is merged
// repeatedly (ties to the leftmost); each final symbol becomes its token or,
// failing that, one byte-fallback token <0xXX> per byte.
package spm

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/tokenizer/internal/minheap"
)

// Model holds what SPM merging needs from one vocabulary. It is immutable
// after New and safe for concurrent use.
type Model struct {
	ids     map[string]core.TokenID // token text → id; shared, read-only
	scores  []float32
	byteTok [256]core.TokenID // byte-fallback token of each byte, or core.NoToken
	unk     core.TokenID
}

// New builds a model from the token text → id map (retained; must not be
// modified afterwards), the per-token scores and the unknown token (or
// core.NoToken). Byte b falls back to the token "<0xXX>" (upper-case hex),
// else to the one-byte token text, else to unk.
func New(ids map[string]core.TokenID, scores []float32, unk core.TokenID) (*Model, error) {
	if len(scores) < len(ids) {
		return nil, core.Errorf(core.KindInvalid, "spm.New", "%d scores for %d tokens", len(scores), len(ids))
	}
	m := &Model{ids: ids, scores: scores, unk: unk}
	for b := range 256 {
		id, ok := ids[fmt.Sprintf("<0x%02X>", b)]
		if !ok {
			id, ok = ids[string([]byte{byte(b)})]
		}
		if !ok {
			id = unk
		}
		m.byteTok[b] = id
	}
	return m, nil
}

// symbol is a run of the text; n == 0 once merged into its left neighbour.
type symbol struct {
	start, n   int
	prev, next int
}

// bigram is a queued merge candidate.
type bigram struct {
	left, right int
	score       float32
	size        int // byte length of the concatenation when queued
}

// Less orders the queue: higher score first, then leftmost.
func (a bigram) Less(b bigram) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

type scratch struct {
	syms []symbol
	heap []bigram
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Encode appends the tokens of text (spaces already escaped as U+2581) to
// dst and returns the extended slice.
func (m *Model) Encode(dst []core.TokenID, text string) []core.TokenID {
	if text == "" {
		return dst
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)

	// Split into UTF-8 characters. llama.cpp trusts the lead byte's declared
	// length, which on invalid UTF-8 swallows the next character's bytes
	// (an escaped space among them); here an invalid byte is a character of
	// its own. Valid UTF-8 splits identically either way.
	sc.syms = sc.syms[:0]
	for off := 0; off < len(text); {
		_, n := utf8.DecodeRuneInString(text[off:])
		k := len(sc.syms)
		sc.syms = append(sc.syms, symbol{start: off, n: n, prev: k - 1, next: k + 1})
		off += n
	}
	sc.syms[len(sc.syms)-1].next = -1

	sc.heap = sc.heap[:0]
	for i := 1; i < len(sc.syms); i++ {
		m.tryAdd(sc, text, i-1, i)
	}
	for len(sc.heap) > 0 {
		bg := minheap.Pop(&sc.heap)
		l, r := &sc.syms[bg.left], &sc.syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			sc.syms[r.next].prev = bg.left
		}
		m.tryAdd(sc, text, l.prev, bg.left)
		m.tryAdd(sc, text, bg.left, l.next)
	}
	for i := 0; i != -1; i = sc.syms[i].next {
		s := sc.syms[i]
		piece := text[s.start : s.start+s.n]
		// Merged symbols are always tokens; only single characters can be
		// missing from the vocabulary.
		if id, ok := m.ids[piece]; ok {
			dst = append(dst, id)
			continue
		}
		for j := 0; j < len(piece); j++ {
			if id := m.byteTok[piece[j]]; id != core.NoToken {
				dst = append(dst, id)
			}
		}
	}
	return dst
}

func (m *Model) tryAdd(sc *scratch, text string, left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l, r := sc.syms[left], sc.syms[right]
	piece := text[l.start : l.start+l.n+r.n]
	id, ok := m.ids[piece]
	if !ok || int(id) >= len(m.scores) {
		return
	}
	minheap.Push(&sc.heap, bigram{left: left, right: right, score: m.scores[id], size: len(piece)})
}
