package engine

import (
	"fmt"

	"github.com/pensieve-llm/pensieve/core"
)

// slotTable is the prefix cache: it remembers which tokens each KV slot
// holds, so a new request can start from the longest cached prefix of its
// prompt instead of evaluating it again. A slot is busy while a sequence
// runs in it and idle afterwards; an idle slot keeps its content until it
// is reused, and the least recently used idle slot is the one evicted.
//
// Only the scheduler goroutine uses a slotTable.
type slotTable struct {
	cache core.KVCache
	slots []slotState
	clock uint64 // logical time for LRU; advances on every acquire and release
}

type slotState struct {
	tokens []core.TokenID // idle: the tokens at positions [0, len) of the cache
	seq    *sequence      // busy: the sequence running here; nil when idle
	used   uint64         // clock of the last acquire or release; 0 = never used
}

// placement is how a request starts: in slot id, with the first reuse
// prompt tokens already in its cache, copied from slot from when from ≥ 0.
type placement struct {
	id    core.SeqID
	reuse int
	from  core.SeqID
}

func newSlotTable(cache core.KVCache) *slotTable {
	return &slotTable{cache: cache, slots: make([]slotState, cache.Slots())}
}

// content returns the tokens whose keys and values slot i holds.
func (t *slotTable) content(i int) []core.TokenID {
	if q := t.slots[i].seq; q != nil {
		return q.tokens[:q.nPast]
	}
	return t.slots[i].tokens
}

// plan chooses where a request for prompt should run, or reports false
// when every slot is busy. It considers two ways to reuse a prefix:
//
//   - in place: take the idle slot whose content shares the longest prefix
//     with prompt and truncate the rest of its content;
//   - by copy: copy the longest shared prefix held by any slot, busy or
//     idle, into the least recently used idle slot (KVCache.CopyPrefix).
//
// It prefers more reused tokens, then fewer cached tokens destroyed, then
// no copy. Reuse stops one token short of the prompt, because the last
// prompt token must be evaluated to get the logits of the first sampled
// token.
func (t *slotTable) plan(prompt []core.TokenID) (placement, bool) {
	victim := t.victim(-1)
	if victim < 0 {
		return placement{}, false
	}
	reuse := func(i int) int { return min(commonPrefix(prompt, t.content(i)), len(prompt)-1) }

	inPlace, inReuse, inLost := victim, 0, len(t.slots[victim].tokens)
	src, srcReuse := -1, 0
	for i := range t.slots {
		r := reuse(i)
		if r > srcReuse {
			src, srcReuse = i, r
		}
		if t.slots[i].seq != nil {
			continue
		}
		// Without reuse the LRU victim stays the choice.
		lost := len(t.slots[i].tokens) - r
		if r > 0 && (r > inReuse || (r == inReuse && lost < inLost)) {
			inPlace, inReuse, inLost = i, r, lost
		}
	}
	best := placement{id: core.SeqID(inPlace), reuse: inReuse, from: -1}
	if srcReuse == 0 {
		return best, true
	}
	dst := victim
	if dst == src {
		dst = t.victim(src)
	}
	if dst < 0 {
		return best, true
	}
	if lost := len(t.slots[dst].tokens); srcReuse > inReuse || (srcReuse == inReuse && lost < inLost) {
		return placement{id: core.SeqID(dst), reuse: srcReuse, from: core.SeqID(src)}, true
	}
	return best, true
}

// victim returns the idle slot to evict: an empty one if any, else the
// least recently used; skip is never chosen. It returns -1 when no idle
// slot is left.
func (t *slotTable) victim(skip int) int {
	v := -1
	for i, s := range t.slots {
		if s.seq != nil || i == skip {
			continue
		}
		if v < 0 || older(s, t.slots[v]) {
			v = i
		}
	}
	return v
}

// older orders idle slots for eviction: empty slots first, then by last use.
func older(a, b slotState) bool {
	if (len(a.tokens) == 0) != (len(b.tokens) == 0) {
		return len(a.tokens) == 0
	}
	return a.used < b.used
}

// acquire carries out p for q: it prepares the slot's cache so that it
// holds exactly q's first prompt tokens and marks the slot busy. It returns
// how many tokens were reused: p.reuse, or 0 when preparing the prefix
// failed and the slot had to be emptied instead.
func (t *slotTable) acquire(p placement, q *sequence) (int, error) {
	var err error
	if p.from >= 0 {
		err = t.cache.CopyPrefix(p.id, p.from, p.reuse)
	} else {
		err = t.cache.Truncate(p.id, p.reuse)
	}
	reuse := p.reuse
	if err != nil || t.cache.Len(p.id) != reuse {
		// The slot's content is unknown now: start it from empty.
		t.slots[p.id].tokens, reuse = nil, 0
		if err := t.cache.Truncate(p.id, 0); err != nil {
			return 0, fmt.Errorf("emptying slot %d: %w", p.id, err)
		}
		if n := t.cache.Len(p.id); n != 0 {
			return 0, fmt.Errorf("slot %d holds %d positions after emptying it", p.id, n)
		}
	}
	t.clock++
	t.slots[p.id] = slotState{seq: q, used: t.clock}
	return reuse, nil
}

// release marks slot id idle, holding tokens (which the table now owns).
func (t *slotTable) release(id core.SeqID, tokens []core.TokenID) {
	t.clock++
	t.slots[id] = slotState{tokens: tokens, used: t.clock}
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b []core.TokenID) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
