package bpe

import (
	"sync"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/tokenizer/internal/minheap"
)

// scratch holds the per-word working state; pooled so that encoding
// allocates nothing in the steady state.
type scratch struct {
	sym        []int32 // symbol of each position; -1-b for byte b that never merges
	prev, next []int32 // doubly linked list of live positions; -1 ends it
	live       []bool  // false once merged into its left neighbour
	heap       []pair
	buf        []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Encode appends the tokens of one pre-tokenized word, given as raw bytes,
// to dst and returns the extended slice.
func (m *Model) Encode(dst []core.TokenID, word string) []core.TokenID {
	if word == "" {
		return dst
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)

	if m.ignoreMerges {
		sc.buf = AppendEncoded(sc.buf[:0], word)
		if id, ok := m.ids[string(sc.buf)]; ok {
			return append(dst, id)
		}
	}

	n := len(word)
	sc.sym, sc.prev, sc.next, sc.live = grow(sc.sym, n), grow(sc.prev, n), grow(sc.next, n), growBool(sc.live, n)
	for i := range n {
		b := word[i]
		if s := m.byteSym[b]; s >= 0 {
			sc.sym[i] = s
		} else {
			sc.sym[i] = -1 - int32(b)
		}
		sc.prev[i], sc.next[i], sc.live[i] = int32(i-1), int32(i+1), true
	}
	sc.next[n-1] = -1

	sc.heap = sc.heap[:0]
	for i := 1; i < n; i++ {
		m.push(sc, int32(i-1), int32(i))
	}
	for len(sc.heap) > 0 {
		p := minheap.Pop(&sc.heap)
		l, r := p.left, p.right
		// Skip pairs that changed since they were queued (llama.cpp
		// compares the texts; symbols change exactly when texts do).
		if !sc.live[l] || !sc.live[r] || sc.next[l] != r || sc.sym[l] != p.lsym || sc.sym[r] != p.rsym {
			continue
		}
		sc.sym[l] = p.result
		sc.live[r] = false
		sc.next[l] = sc.next[r]
		if nx := sc.next[r]; nx >= 0 {
			sc.prev[nx] = l
		}
		if pv := sc.prev[l]; pv >= 0 {
			m.push(sc, pv, l)
		}
		if nx := sc.next[l]; nx >= 0 {
			m.push(sc, l, nx)
		}
	}
	for i := int32(0); i >= 0; i = sc.next[i] {
		dst = m.emit(dst, sc.sym[i])
	}
	return dst
}

// push queues the pair (l, r) if the merge table has it.
func (m *Model) push(sc *scratch, l, r int32) {
	ls, rs := sc.sym[l], sc.sym[r]
	if ls < 0 || rs < 0 {
		return
	}
	mg, ok := m.merges[pairKey(ls, rs)]
	if !ok {
		return
	}
	minheap.Push(&sc.heap, pair{rank: mg.rank, left: l, right: r, lsym: ls, rsym: rs, result: mg.result})
}

// emit appends the token of a final symbol. A symbol that is not a token
// falls back to the single-byte tokens of its UTF-8 text that exist, and
// drops the rest, as llama.cpp does.
func (m *Model) emit(dst []core.TokenID, s int32) []core.TokenID {
	if s >= 0 && s < m.nTokens {
		return append(dst, core.TokenID(s))
	}
	var t string
	if s < 0 {
		t = byteText[-1-s]
	} else {
		t = m.text(s)
	}
	for i := 0; i < len(t); i++ {
		if id, ok := m.ids[t[i:i+1]]; ok {
			dst = append(dst, id)
		}
	}
	return dst
}

func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func growBool(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	return s[:n]
}

// pair is a queued merge candidate.
type pair struct {
	rank        int32
	left, right int32 // positions
	lsym, rsym  int32 // their symbols when queued
	result      int32
}

// Less orders by rank, then by leftmost position.
func (a pair) Less(b pair) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}
