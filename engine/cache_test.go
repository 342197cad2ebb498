package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

// lastSlot returns the slot of the last batch entry at position pos.
func lastSlot(batches []core.Batch, pos int) core.SeqID {
	for i := len(batches) - 1; i >= 0; i-- {
		b := batches[i]
		for j := range b.Len() {
			if int(b.Pos[j]) == pos {
				return b.Seq[j]
			}
		}
	}
	return -1
}

// TestPrefixReuse is the acceptance check: a second request sharing a
// 1,000-token prefix with the first prefills at most 10 % of what the
// first did, reports the rest as cached, and generates exactly what it
// would have generated from scratch.
func TestPrefixReuse(t *testing.T) {
	shared := prompt(40, 1000)
	first := slices.Concat(shared, prompt(41, 24))
	second := slices.Concat(shared, prompt(42, 30))
	sampling := core.Sampling{Temperature: 0.7, Seed: 5}

	for _, slots := range []int{1, 4} { // 1: reuse in place; 4: copy into a free slot
		t.Run(map[int]string{1: "in place", 4: "copied"}[slots], func(t *testing.T) {
			m := enginetest.NewModel(enginetest.ModelConfig{})
			e := newEngine(t, m, byteTok, engine.WithSlots(slots))
			r1 := run(t, e, &core.Request{Prompt: first, MaxTokens: 8, Sampling: sampling, IgnoreEOS: true})
			n1 := len(m.Batches())
			r2 := run(t, e, &core.Request{Prompt: second, MaxTokens: 8, Sampling: sampling, IgnoreEOS: true})
			after := m.Batches()[n1:]

			pre1 := prefilled(m.Batches()[:n1], lastSlot(m.Batches()[:n1], 0), len(first))
			pre2 := prefilled(after, lastSlot(after, len(second)-1), len(second))
			if pre1 != len(first) {
				t.Errorf("first request prefilled %d tokens, want all %d", pre1, len(first))
			}
			if pre2*10 > pre1 {
				t.Errorf("second request prefilled %d tokens, more than 10%% of the first's %d", pre2, pre1)
			}
			if pre2 != len(second)-1000 {
				t.Errorf("second request prefilled %d tokens, want only its own %d", pre2, len(second)-1000)
			}
			if got := r2.Final.Usage; got.CachedTokens != 1000 || got.PromptTokens != len(second) {
				t.Errorf("second request usage %+v, want 1000 cached of %d", got, len(second))
			}
			if r1.Final.Usage.CachedTokens != 0 {
				t.Errorf("first request reports %d cached tokens", r1.Final.Usage.CachedTokens)
			}
			copied := len(m.Copies()) > 0
			if copied != (slots > 1) {
				t.Errorf("copies %v with %d slots", m.Copies(), slots)
			}

			fresh := run(t, newEngine(t, enginetest.NewModel(enginetest.ModelConfig{}), byteTok),
				&core.Request{Prompt: second, MaxTokens: 8, Sampling: sampling, IgnoreEOS: true})
			if diff := cmp.Diff(fresh.Tokens, r2.Tokens); diff != "" {
				t.Errorf("the cached run generated other tokens (-fresh +cached):\n%s", diff)
			}
		})
	}
}

// TestIdenticalPromptEvaluatesLastToken repeats a prompt: everything but
// the last token is reused, which is evaluated again for its logits.
func TestIdenticalPromptEvaluatesLastToken(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	e := newEngine(t, m, byteTok, engine.WithSlots(1))
	p := prompt(50, 64)
	a := run(t, e, &core.Request{Prompt: p, MaxTokens: 6})
	n := len(m.Batches())
	b := run(t, e, &core.Request{Prompt: p, MaxTokens: 6})
	if got := b.Final.Usage.CachedTokens; got != 63 {
		t.Errorf("cached %d tokens, want 63", got)
	}
	first := m.Batches()[n]
	if first.Len() != 1 || first.Pos[0] != 63 || !first.Logits[0] {
		t.Errorf("first pass of the repeat %+v, want only position 63 with logits", first)
	}
	if diff := cmp.Diff(a.Tokens, b.Tokens); diff != "" {
		t.Errorf("greedy repeat differs (-first +second):\n%s", diff)
	}
}

// TestCopyFromBusySlot starts a request whose prompt shares a prefix with
// one still generating: the prefix is copied from the busy slot.
func TestCopyFromBusySlot(t *testing.T) {
	g := newGate(20)
	m := enginetest.NewModel(enginetest.ModelConfig{Hook: g.hook})
	e := newEngine(t, m, byteTok, engine.WithSlots(2))
	defer g.release()
	shared := prompt(60, 300)
	long, err := e.Generate(context.Background(), &core.Request{Prompt: slices.Concat(shared, prompt(61, 5)), MaxTokens: 40, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first request to decode", func() bool { return e.Stats().GeneratedTokens >= 5 })
	second := slices.Concat(shared, prompt(62, 7))
	ch, err := e.Generate(context.Background(), &core.Request{Prompt: second, MaxTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	// The first request is held at pass 20, far from its 40 tokens, so the
	// second starts while the first's slot is busy.
	g.release()
	r, err := collect(ch)
	if err != nil || r.Final.Err != nil {
		t.Fatalf("second request: %v %v", err, r.Final.Err)
	}
	if _, err := collect(long); err != nil {
		t.Fatal(err)
	}
	if got := r.Final.Usage.CachedTokens; got != 300 {
		t.Errorf("cached %d tokens, want 300", got)
	}
	copies := m.Copies()
	if len(copies) != 1 || copies[0].N != 300 || copies[0].Dst == copies[0].Src {
		t.Errorf("copies %+v, want one copy of 300 positions between two slots", copies)
	}
	fresh := run(t, newEngine(t, enginetest.NewModel(enginetest.ModelConfig{}), byteTok), &core.Request{Prompt: second, MaxTokens: 4})
	if diff := cmp.Diff(fresh.Tokens, r.Tokens); diff != "" {
		t.Errorf("copied prefix changed the output (-fresh +copied):\n%s", diff)
	}
}

// TestEvictionLRU fills two slots with three prompts in turn: the least
// recently used content is the one evicted.
func TestEvictionLRU(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	e := newEngine(t, m, byteTok, engine.WithSlots(2))
	p := [][]core.TokenID{prompt(70, 50), prompt(71, 50), prompt(72, 50)}
	var cached []int
	for _, i := range []int{0, 1, 2, 1, 0, 2} {
		r := run(t, e, &core.Request{Prompt: p[i], MaxTokens: 3})
		cached = append(cached, r.Final.Usage.CachedTokens)
	}
	// 0 and 1 fill the slots; 2 evicts 0 (least recently used); 1 is
	// still cached and reuses all but its last token; 0 then evicts 2,
	// and 2 evicts 1.
	want := []int{0, 0, 0, 49, 0, 0}
	if diff := cmp.Diff(want, cached); diff != "" {
		t.Errorf("cached tokens per request (-want +got):\n%s", diff)
	}
	// And the slot of the most recent prompt still serves it.
	if got := run(t, e, &core.Request{Prompt: p[2], MaxTokens: 3}).Final.Usage.CachedTokens; got != 49 {
		t.Errorf("most recent prompt reused %d tokens, want 49", got)
	}
}

// TestPartialOverlapKeepsCache: a prompt sharing only a short prefix with
// a long cached conversation copies that prefix into a free slot instead
// of truncating the conversation away.
func TestPartialOverlapKeepsCache(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	e := newEngine(t, m, byteTok, engine.WithSlots(2))
	system := prompt(80, 40)
	convo := slices.Concat(system, prompt(81, 400))
	run(t, e, &core.Request{Prompt: convo, MaxTokens: 3})
	other := run(t, e, &core.Request{Prompt: slices.Concat(system, prompt(82, 20)), MaxTokens: 3})
	if got := other.Final.Usage.CachedTokens; got != 40 {
		t.Errorf("other prompt reused %d tokens, want the 40 of the system prompt", got)
	}
	again := run(t, e, &core.Request{Prompt: slices.Concat(convo, prompt(83, 10)), MaxTokens: 3})
	if got := again.Final.Usage.CachedTokens; got != len(convo) {
		t.Errorf("conversation reused %d tokens, want %d: it was truncated", got, len(convo))
	}
}
