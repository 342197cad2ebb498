// Package enginetest provides test doubles and a load harness for code that
// drives a core.Model or a core.Generator: a deterministic fake model whose
// logits depend on every token in a sequence's cache (so a batching or
// caching bug changes the output), a fake tokenizer, and MeasureDecode,
// which measures aggregate decode throughput of any core.Generator.
package enginetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pensieve-llm/pensieve/core"
)

// ModelConfig describes a fake Model.
type ModelConfig struct {
	VocabSize     int // rows of the logits; default 512
	ContextLength int // positions the model allows; default 4096

	// PerPass and PerToken are the simulated cost of Forward: it sleeps
	// PerPass + PerToken·len(batch). This models a memory-bound decoder,
	// where every pass reads all weights once whatever the batch size and
	// each entry adds a little compute; that is what makes batching pay.
	// Sleeping keeps the CPU free, so timings reflect the model, not the
	// machine. Zero costs nothing.
	PerPass, PerToken time.Duration

	// Next, when set, makes the model scripted: the logits after an entry
	// put a clear maximum (10 above the rest) on Next(seq), where seq is the
	// entry's slot content up to and including the entry's position.
	// Without Next the logits are pseudo-random in [-4, 4), derived from a
	// hash of seq. Next must not retain seq.
	Next func(seq []core.TokenID) core.TokenID

	// Hook, when set, is called at the start of every Forward with the
	// pass's number (from 1) and the batch; an error fails the pass. Tests
	// use it to block a pass or to cancel a request in the middle of one.
	Hook func(ctx context.Context, pass int, b *core.Batch) error
}

// Model is a deterministic fake core.Model. It checks every batch against
// the core.Batch contract (positions continue each slot's cache, fit its
// positions, tokens in range, logits buffer sized to the outputs) and
// records every batch and prefix copy for tests to inspect. It is safe for
// concurrent use.
type Model struct {
	cfg ModelConfig

	mu      sync.Mutex // guards batches, copies and passes
	batches []core.Batch
	copies  []Copy
	passes  int
}

// Copy records one KVCache.CopyPrefix call.
type Copy struct {
	Dst, Src core.SeqID
	N        int
}

// NewModel returns a fake model for cfg, applying the defaults.
func NewModel(cfg ModelConfig) *Model {
	if cfg.VocabSize == 0 {
		cfg.VocabSize = 512
	}
	if cfg.ContextLength == 0 {
		cfg.ContextLength = 4096
	}
	return &Model{cfg: cfg}
}

// Info describes the fake model.
func (m *Model) Info() core.ModelInfo {
	return core.ModelInfo{Name: "enginetest", Arch: "fake", VocabSize: m.cfg.VocabSize, ContextLength: m.cfg.ContextLength}
}

// NewCache returns a cache of slots sequences of positions tokens each.
func (m *Model) NewCache(slots, positions int) (core.KVCache, error) {
	if slots < 1 || positions < 1 || positions > m.cfg.ContextLength {
		return nil, core.Errorf(core.KindInvalid, "enginetest.NewCache", "%d slots of %d positions (context %d)", slots, positions, m.cfg.ContextLength)
	}
	return &Cache{model: m, positions: positions, toks: make([][]core.TokenID, slots), hash: make([][]uint64, slots)}, nil
}

// Close does nothing.
func (m *Model) Close() error { return nil }

// Batches returns a copy of every batch evaluated so far, in order.
func (m *Model) Batches() []core.Batch {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]core.Batch, len(m.batches))
	for i, b := range m.batches {
		out[i] = cloneBatch(&b)
	}
	return out
}

// Copies returns every CopyPrefix call so far, in order.
func (m *Model) Copies() []Copy {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.copies)
}

// Forward checks b, appends its tokens to their slots and writes the
// logits of the entries that ask for them.
func (m *Model) Forward(ctx context.Context, kv core.KVCache, b *core.Batch, logits []float32) error {
	const op = "enginetest.Forward"
	c, ok := kv.(*Cache)
	if !ok || c.model != m {
		return core.Errorf(core.KindInvalid, op, "cache %T was not made by this model", kv)
	}
	if err := c.check(b, logits); err != nil {
		return core.E(core.KindInvalid, op, err)
	}
	m.mu.Lock()
	m.passes++
	pass := m.passes
	m.batches = append(m.batches, cloneBatch(b))
	m.mu.Unlock()
	if m.cfg.Hook != nil {
		if err := m.cfg.Hook(ctx, pass, b); err != nil {
			return err
		}
	}
	if err := sleep(ctx, m.cfg.PerPass+time.Duration(b.Len())*m.cfg.PerToken); err != nil {
		return err
	}
	row := 0
	for i := range b.Len() {
		seq := b.Seq[i]
		c.append(seq, b.Tokens[i])
		if !b.Logits[i] {
			continue
		}
		m.fill(logits[row*m.cfg.VocabSize:(row+1)*m.cfg.VocabSize], c.toks[seq], c.hash[seq][len(c.hash[seq])-1])
		row++
	}
	return nil
}

// fill writes the logits after seq, whose rolling hash is h.
func (m *Model) fill(out []float32, seq []core.TokenID, h uint64) {
	if m.cfg.Next != nil {
		clear(out)
		if next := m.cfg.Next(seq); next >= 0 && int(next) < len(out) {
			out[next] = 10
		}
		return
	}
	for v := range out {
		// The top 24 bits of a mixed hash, scaled to [-4, 4).
		out[v] = float32(mix(h^uint64(v)*0x9e3779b97f4a7c15)>>40)/(1<<24)*8 - 4
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func cloneBatch(b *core.Batch) core.Batch {
	return core.Batch{Tokens: slices.Clone(b.Tokens), Pos: slices.Clone(b.Pos), Seq: slices.Clone(b.Seq), Logits: slices.Clone(b.Logits)}
}

// Cache is the fake model's KVCache: per slot, the tokens it holds and a
// rolling hash of each prefix. Like a real cache it is not safe for
// concurrent use.
type Cache struct {
	model     *Model
	positions int
	toks      [][]core.TokenID // (slots, len) token at each position
	hash      [][]uint64       // (slots, len) hash of positions [0, i]
}

// Slots returns the number of sequence slots.
func (c *Cache) Slots() int { return len(c.toks) }

// Positions returns how many positions each slot can hold.
func (c *Cache) Positions() int { return c.positions }

// Len returns how many positions slot seq holds (0 for a bad slot).
func (c *Cache) Len(seq core.SeqID) int {
	if !c.valid(seq) {
		return 0
	}
	return len(c.toks[seq])
}

// Tokens returns a copy of the tokens slot seq holds.
func (c *Cache) Tokens(seq core.SeqID) []core.TokenID {
	if !c.valid(seq) {
		return nil
	}
	return slices.Clone(c.toks[seq])
}

// Truncate drops positions [n, Len(seq)) of seq.
func (c *Cache) Truncate(seq core.SeqID, n int) error {
	if !c.valid(seq) || n < 0 || n > len(c.toks[seq]) {
		return core.Errorf(core.KindInvalid, "enginetest.Truncate", "slot %d to %d positions (holds %d)", seq, n, c.Len(seq))
	}
	c.toks[seq], c.hash[seq] = c.toks[seq][:n], c.hash[seq][:n]
	return nil
}

// CopyPrefix replaces dst's content with positions [0, n) of src.
func (c *Cache) CopyPrefix(dst, src core.SeqID, n int) error {
	if !c.valid(dst) || !c.valid(src) || n < 0 || n > len(c.toks[src]) {
		return core.Errorf(core.KindInvalid, "enginetest.CopyPrefix", "%d positions of slot %d (holds %d) into slot %d", n, src, c.Len(src), dst)
	}
	c.toks[dst] = append(c.toks[dst][:0], c.toks[src][:n]...)
	c.hash[dst] = append(c.hash[dst][:0], c.hash[src][:n]...)
	c.model.mu.Lock()
	c.model.copies = append(c.model.copies, Copy{Dst: dst, Src: src, N: n})
	c.model.mu.Unlock()
	return nil
}

func (c *Cache) valid(seq core.SeqID) bool { return seq >= 0 && int(seq) < len(c.toks) }

func (c *Cache) append(seq core.SeqID, tok core.TokenID) {
	var h uint64 = 0xcbf29ce484222325
	if n := len(c.hash[seq]); n > 0 {
		h = c.hash[seq][n-1]
	}
	c.toks[seq] = append(c.toks[seq], tok)
	c.hash[seq] = append(c.hash[seq], mix(h^uint64(tok)+0x632be59bd9b4e019))
}

// check verifies b against the core.Batch contract without changing c.
func (c *Cache) check(b *core.Batch, logits []float32) error {
	n := b.Len()
	if len(b.Pos) != n || len(b.Seq) != n || len(b.Logits) != n {
		return fmt.Errorf("batch slices have lengths %d, %d, %d, %d", n, len(b.Pos), len(b.Seq), len(b.Logits))
	}
	if n == 0 {
		return fmt.Errorf("empty batch")
	}
	if want := b.Outputs() * c.model.cfg.VocabSize; len(logits) != want {
		return fmt.Errorf("logits hold %d values, want %d", len(logits), want)
	}
	next := map[core.SeqID]int{}
	for i := range n {
		seq, tok := b.Seq[i], b.Tokens[i]
		if !c.valid(seq) {
			return fmt.Errorf("entry %d: slot %d out of range", i, seq)
		}
		if tok < 0 || int(tok) >= c.model.cfg.VocabSize {
			return fmt.Errorf("entry %d: token %d out of range", i, tok)
		}
		want, seen := next[seq]
		if !seen {
			want = len(c.toks[seq])
		} else if b.Seq[i-1] != seq {
			return fmt.Errorf("entry %d: slot %d's entries are not contiguous", i, seq)
		}
		if int(b.Pos[i]) != want {
			return fmt.Errorf("entry %d: slot %d at position %d, want %d", i, seq, b.Pos[i], want)
		}
		if want >= c.positions {
			return fmt.Errorf("entry %d: slot %d full at %d positions", i, seq, c.positions)
		}
		next[seq] = want + 1
	}
	return nil
}
