package transformer

import (
	"math"

	"github.com/pensieve-llm/pensieve/core"
)

// Arch names the supported architectures by their GGUF general.architecture.
const (
	ArchLlama  = "llama"
	ArchQwen2  = "qwen2"
	ArchQwen3  = "qwen3"
	ArchPhi3   = "phi3"
	ArchGemma2 = "gemma2"
	ArchGemma3 = "gemma3"
)

// RopeStyle selects which dimensions RoPE rotates together (spec §3.5).
type RopeStyle uint8

const (
	// RopeNorm rotates adjacent pairs (2i, 2i+1): llama GGUFs, whose Q/K
	// rows the converter permuted.
	RopeNorm RopeStyle = iota
	// RopeNeoX rotates (i, i + nRot/2): qwen, phi3, gemma and every raw
	// Hugging Face checkpoint.
	RopeNeoX
)

// Rope holds the parameters of one rotary embedding (spec §3.5, §6.4).
type Rope struct {
	Style     RopeStyle
	Dims      int     // n_rot: leading dimensions of each head that rotate
	Base      float32 // freq_base
	FreqScale float32 // 1/scaling factor (linear and YaRN); 1 = none
	// YaRN (spec §3.5): ExtFactor ≠ 0 enables the ramp between
	// interpolated and extrapolated angles.
	ExtFactor  float32
	AttnFactor float32 // cos/sin multiplier (rope.scaling.attn_factor), 1 by default
	BetaFast   float32
	BetaSlow   float32
	OrigCtx    int // original (pre-scaling) context length
}

// Config holds the hyperparameters of a model: everything the forward pass
// needs besides the weights.
type Config struct {
	Arch      string // one of the Arch constants
	Name      string // display name
	Dim       int    // n_embd: width of the residual stream
	Layers    int    // n_layer
	Heads     int    // n_head: query heads
	KVHeads   int    // n_head_kv: key/value heads (GQA when < Heads)
	HeadDim   int    // key_length = value_length
	FFN       int    // n_ff: hidden width of the feed-forward block
	Vocab     int    // rows of the logits
	Context   int    // n_ctx_train
	NormEps   float32
	Rope      Rope // RoPE of every layer (gemma3: of the global layers)
	LocalRope Rope // gemma3: RoPE of the sliding-window layers
	// KQScale multiplies the attention scores (llama, qwen: 1/√head_dim);
	// QScale multiplies Q before attention instead (phi3, gemma), in which
	// case KQScale is 1. The placement matters for rounding (spec §3.6).
	KQScale float32
	QScale  float32
	// SlidingWindow is the attention window of the layers marked in
	// SWALayers (gemma2/3); a key at distance ≥ SlidingWindow is hidden.
	SlidingWindow int
	SWALayers     []bool  // (Layers,) true = sliding-window layer
	AttnSoftcap   float32 // c·tanh(s/c) on scores when > 0 (gemma2)
	FinalSoftcap  float32 // c·tanh(z/c) on logits when > 0 (gemma2/3)
	EmbedScale    float32 // multiplies the embedding when ≠ 0 (gemma: √Dim)
}

// QDim returns the width of Q: Heads·HeadDim.
func (c *Config) QDim() int { return c.Heads * c.HeadDim }

// KVDim returns the width of K and V: KVHeads·HeadDim.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadDim }

// Limits on hyperparameters, far beyond any real model, so that a corrupt
// file fails cleanly instead of asking for absurd allocations.
const (
	maxLayers  = 1 << 12
	maxHeads   = 1 << 12
	maxWidth   = 1 << 20 // dim, ffn
	maxHeadDim = 1 << 12
	maxVocab   = 1 << 24
	maxContext = 1 << 24
)

// validate checks the invariants the forward pass relies on.
func (c *Config) validate() error {
	const op = "transformer.Config"
	switch {
	case c.Layers > maxLayers || c.Heads > maxHeads || c.KVHeads > maxHeads || c.Dim > maxWidth || c.FFN > maxWidth ||
		c.HeadDim > maxHeadDim || c.Vocab > maxVocab || c.Context > maxContext:
		return core.Errorf(core.KindInvalid, op, "%s: implausible shape (dim %d, layers %d, heads %d/%d, head dim %d, ffn %d, vocab %d, context %d)",
			c.Arch, c.Dim, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.FFN, c.Vocab, c.Context)
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.FFN <= 0:
		return core.Errorf(core.KindInvalid, op, "%s: non-positive shape (dim %d, layers %d, heads %d/%d, head dim %d, ffn %d)",
			c.Arch, c.Dim, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.FFN)
	case c.Heads%c.KVHeads != 0:
		return core.Errorf(core.KindInvalid, op, "%s: %d query heads are not a multiple of %d KV heads", c.Arch, c.Heads, c.KVHeads)
	case c.Vocab <= 0:
		return core.Errorf(core.KindInvalid, op, "%s: vocabulary size %d", c.Arch, c.Vocab)
	case c.Context <= 0:
		return core.Errorf(core.KindInvalid, op, "%s: context length %d", c.Arch, c.Context)
	case c.Rope.Dims <= 0 || c.Rope.Dims > c.HeadDim || c.Rope.Dims%2 != 0:
		return core.Errorf(core.KindInvalid, op, "%s: rope dimensions %d for head dim %d", c.Arch, c.Rope.Dims, c.HeadDim)
	case !(c.NormEps > 0) || math.IsInf(float64(c.NormEps), 0):
		return core.Errorf(core.KindInvalid, op, "%s: norm epsilon %g", c.Arch, c.NormEps)
	case !(c.Rope.Base > 0) || !(c.Rope.FreqScale > 0):
		return core.Errorf(core.KindInvalid, op, "%s: rope base %g, freq scale %g", c.Arch, c.Rope.Base, c.Rope.FreqScale)
	case len(c.SWALayers) != 0 && len(c.SWALayers) != c.Layers:
		return core.Errorf(core.KindInvalid, op, "%s: %d sliding-window flags for %d layers", c.Arch, len(c.SWALayers), c.Layers)
	}
	return nil
}

// isSWA reports whether layer l attends through a sliding window.
func (c *Config) isSWA(l int) bool {
	return c.SlidingWindow > 0 && len(c.SWALayers) > l && c.SWALayers[l]
}

// rope returns the RoPE parameters of layer l.
func (c *Config) rope(l int) *Rope {
	if c.isSWA(l) && c.LocalRope.Dims > 0 {
		return &c.LocalRope
	}
	return &c.Rope
}
