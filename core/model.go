package core

import "context"

// SeqID identifies one sequence's slot in a KVCache: an integer in
// [0, KVCache.Slots()).
type SeqID int32

// ModelInfo describes a loaded model.
type ModelInfo struct {
	Name          string // display name, e.g. from general.name
	Arch          string // architecture, e.g. "llama", "qwen2"
	VocabSize     int    // rows of the logits
	ContextLength int    // positions the model was trained for
	Params        int64  // parameter count
	FileBytes     int64  // size of the weights on disk
}

// Batch is a set of tokens to evaluate in one forward pass. Entry i places
// Tokens[i] at position Pos[i] of sequence Seq[i]; all four slices have the
// same length. Positions of one sequence must be consecutive within the batch
// and continue exactly where that sequence's cache ends (Len), so a batch can
// mix the prefill chunk of one sequence with single decode tokens of others.
// Logits[i] asks for the logits after entry i.
type Batch struct {
	Tokens []TokenID // (n,)
	Pos    []int32   // (n,) position within its sequence
	Seq    []SeqID   // (n,) cache slot
	Logits []bool    // (n,) whether to return logits for this entry
}

// Len returns the number of entries in b.
func (b *Batch) Len() int { return len(b.Tokens) }

// Add appends one entry.
func (b *Batch) Add(tok TokenID, pos int32, seq SeqID, logits bool) {
	b.Tokens = append(b.Tokens, tok)
	b.Pos = append(b.Pos, pos)
	b.Seq = append(b.Seq, seq)
	b.Logits = append(b.Logits, logits)
}

// Reset empties b, keeping its storage.
func (b *Batch) Reset() {
	b.Tokens, b.Pos, b.Seq, b.Logits = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Logits[:0]
}

// Outputs returns the number of entries that ask for logits.
func (b *Batch) Outputs() int {
	n := 0
	for _, l := range b.Logits {
		if l {
			n++
		}
	}
	return n
}

// KVCache is the attention key/value memory of one model: a fixed number of
// sequence slots, each holding up to Positions() consecutive positions from 0.
// The engine owns the cache and decides which slot holds which sequence; the
// model reads and extends it during Forward.
//
// A KVCache is not safe for concurrent use: one goroutine (the engine's
// scheduler) calls its methods and Model.Forward with it.
type KVCache interface {
	// Slots returns the number of sequence slots.
	Slots() int
	// Positions returns how many positions each slot can hold.
	Positions() int
	// Len returns how many positions slot seq holds now.
	Len(seq SeqID) int
	// Truncate drops positions [n, Len(seq)) of seq; n = 0 empties it.
	Truncate(seq SeqID, n int) error
	// CopyPrefix replaces dst's content with positions [0, n) of src.
	CopyPrefix(dst, src SeqID, n int) error
}

// Model evaluates batches of tokens. Weights are immutable and shared; all
// per-sequence state lives in a KVCache created by NewCache.
//
// Forward is not safe for concurrent use on the same cache; Info and
// NewCache are safe for concurrent use.
type Model interface {
	// Info describes the model.
	Info() ModelInfo

	// NewCache allocates a cache of slots sequences of up to positions
	// tokens each (positions ≤ Info().ContextLength).
	NewCache(slots, positions int) (KVCache, error)

	// Forward evaluates b against cache, appending each entry's key and value
	// to its slot, and writes the logits of the entries that ask for them,
	// in batch order, into logits as rows of Info().VocabSize. logits must
	// hold b.Outputs()*VocabSize values; Forward does not retain it or b. On
	// error the cache content of the slots in b is unspecified; the caller
	// truncates them. ctx cancellation is checked at least between layers.
	Forward(ctx context.Context, cache KVCache, b *Batch, logits []float32) error

	// Close releases the weights (e.g. unmaps the file). No other method
	// may be called after Close.
	Close() error
}
