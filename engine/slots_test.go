package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

func toks(ids ...core.TokenID) []core.TokenID { return ids }

// seqs returns n distinct tokens starting at from.
func seqs(from, n int) []core.TokenID {
	out := make([]core.TokenID, n)
	for i := range out {
		out[i] = core.TokenID(from + i)
	}
	return out
}

func cat(parts ...[]core.TokenID) []core.TokenID {
	var out []core.TokenID
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSlotPlan(t *testing.T) {
	type slot struct {
		tokens []core.TokenID
		busy   bool
		used   uint64
	}
	tests := []struct {
		name   string
		slots  []slot
		prompt []core.TokenID
		want   placement
		full   bool
	}{
		{
			name:   "all empty takes the first",
			slots:  []slot{{}, {}, {}},
			prompt: toks(1, 2, 3),
			want:   placement{id: 0, reuse: 0, from: -1},
		},
		{
			name:   "content that is a prefix is reused in place",
			slots:  []slot{{}, {tokens: toks(1, 2), used: 1}},
			prompt: toks(1, 2, 3),
			want:   placement{id: 1, reuse: 2, from: -1},
		},
		{
			name:   "reuse stops before the last prompt token",
			slots:  []slot{{tokens: toks(1, 2, 3, 4), used: 1}},
			prompt: toks(1, 2, 3),
			want:   placement{id: 0, reuse: 2, from: -1},
		},
		{
			name:   "no match evicts the least recently used",
			slots:  []slot{{tokens: toks(7, 7), used: 5}, {tokens: toks(8, 8, 8, 8), used: 2}, {tokens: toks(9), used: 9}},
			prompt: toks(1, 2),
			want:   placement{id: 1, reuse: 0, from: -1},
		},
		{
			name:   "empty slot before any eviction",
			slots:  []slot{{tokens: toks(7, 7), used: 1}, {}},
			prompt: toks(1, 2),
			want:   placement{id: 1, reuse: 0, from: -1},
		},
		{
			name:   "short overlap with long content copies into an empty slot",
			slots:  []slot{{tokens: cat(toks(1, 2), seqs(100, 50)), used: 1}, {}},
			prompt: toks(1, 2, 3, 4),
			want:   placement{id: 1, reuse: 2, from: 0},
		},
		{
			name:   "short overlap without a free slot truncates in place",
			slots:  []slot{{tokens: cat(toks(1, 2), seqs(100, 50)), used: 1}},
			prompt: toks(1, 2, 3, 4),
			want:   placement{id: 0, reuse: 2, from: -1},
		},
		{
			name:   "longest prefix held by a busy slot is copied",
			slots:  []slot{{tokens: seqs(1, 20), busy: true}, {tokens: seqs(1, 3), used: 4}, {tokens: toks(50), used: 1}},
			prompt: seqs(1, 12),
			want:   placement{id: 2, reuse: 11, from: 0},
		},
		{
			name:   "copy source is never its own destination",
			slots:  []slot{{tokens: cat(seqs(1, 5), seqs(100, 30)), used: 1}, {tokens: toks(60), used: 3}},
			prompt: cat(seqs(1, 5), toks(9)),
			want:   placement{id: 1, reuse: 5, from: 0},
		},
		{
			name:   "equal reuse prefers destroying less",
			slots:  []slot{{tokens: cat(seqs(1, 4), seqs(100, 9)), used: 1}, {tokens: seqs(1, 4), used: 2}},
			prompt: seqs(1, 6),
			want:   placement{id: 1, reuse: 4, from: -1},
		},
		{
			name:   "every slot busy",
			slots:  []slot{{tokens: toks(1), busy: true}},
			prompt: toks(1, 2),
			full:   true,
		},
	}
	m := enginetest.NewModel(enginetest.ModelConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache, err := m.NewCache(len(tt.slots), 128)
			if err != nil {
				t.Fatal(err)
			}
			tab := newSlotTable(cache)
			for i, s := range tt.slots {
				tab.slots[i] = slotState{tokens: s.tokens, used: s.used}
				if s.busy {
					tab.slots[i] = slotState{seq: &sequence{tokens: s.tokens, nPast: len(s.tokens)}}
				}
			}
			got, ok := tab.plan(tt.prompt)
			if ok == tt.full {
				t.Fatalf("plan ok = %v, want %v", ok, !tt.full)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(placement{})); !tt.full && diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSlotAcquireFallsBack: when the cache cannot provide the planned
// prefix, the slot starts empty instead of failing the request.
func TestSlotAcquireFallsBack(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	cache, err := m.NewCache(2, 64)
	if err != nil {
		t.Fatal(err)
	}
	tab := newSlotTable(cache)
	// The table believes slot 0 holds 10 tokens; the cache holds none.
	tab.slots[0] = slotState{tokens: seqs(1, 10), used: 1}
	for _, p := range []placement{{id: 0, reuse: 5, from: -1}, {id: 1, reuse: 5, from: 0}} {
		q := &sequence{}
		reuse, err := tab.acquire(p, q)
		if err != nil || reuse != 0 || cache.Len(p.id) != 0 || tab.slots[p.id].seq != q {
			t.Errorf("acquire %+v = %d, %v (len %d); want a busy empty slot", p, reuse, err, cache.Len(p.id))
		}
	}
}
