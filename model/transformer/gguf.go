package transformer

import (
	"fmt"
	"math"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// FromGGUF builds the model stored in f. The model takes ownership of f:
// its tensors stay zero-copy views of the mapping, and Model.Close closes
// f. On error f is left open for the caller.
func FromGGUF(f *gguf.File, opts ...Option) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, f, opts...)
	if err != nil {
		return nil, err
	}
	m.closer = f
	m.info.FileBytes = f.FileSize
	return m, nil
}

// ConfigFromGGUF reads the hyperparameters of f's architecture (spec §3.2,
// §3.6). Missing required keys and unsupported architectures fail with
// core.KindInvalid.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	const op = "transformer.ConfigFromGGUF"
	arch := f.Architecture()
	m := meta{f: f, arch: arch}
	c := Config{Arch: arch}
	c.Name, _ = f.String("general.name")
	switch arch {
	case ArchLlama, ArchQwen2, ArchQwen3, ArchPhi3, ArchGemma2, ArchGemma3:
	case "":
		return c, core.Errorf(core.KindInvalid, op, "general.architecture is missing")
	default:
		return c, core.Errorf(core.KindInvalid, op, "unsupported architecture %q", arch)
	}
	c.Context = m.int("context_length", 0)
	c.Dim = m.int("embedding_length", 0)
	c.Layers = m.int("block_count", 0)
	c.FFN = m.int("feed_forward_length", 0)
	c.Heads = m.int("attention.head_count", 0)
	c.KVHeads = m.int("attention.head_count_kv", c.Heads)
	if c.Heads > 0 {
		c.HeadDim = m.int("attention.key_length", c.Dim/c.Heads)
	}
	if v := m.int("attention.value_length", c.HeadDim); v != c.HeadDim {
		m.fail("attention.value_length %d differs from key_length %d (unsupported)", v, c.HeadDim)
	}
	c.Vocab = m.int("vocab_size", 0)
	if c.Vocab == 0 {
		if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
			c.Vocab = len(toks)
		}
	}
	c.NormEps = m.float("attention.layer_norm_rms_epsilon", -1)
	c.Rope = m.rope(c)
	c.KQScale = m.float("attention.scale", 0)
	if c.KQScale == 0 {
		c.KQScale = 1 / sqrt32(float32(c.HeadDim))
	}
	if m.err != nil {
		return c, core.E(core.KindInvalid, op, m.err)
	}
	if c.Rope.Dims != c.HeadDim && arch == ArchLlama {
		return c, core.Errorf(core.KindInvalid, op, "llama: rope dimensions %d must equal head dim %d", c.Rope.Dims, c.HeadDim)
	}
	switch arch {
	case ArchQwen2, ArchQwen3:
		c.Rope.Style = RopeNeoX
	case ArchPhi3:
		c.Rope.Style = RopeNeoX
		c.QScale, c.KQScale = 1/sqrt32(float32(c.HeadDim)), 1
	case ArchGemma2, ArchGemma3:
		gemmaConfig(&c, &m)
	}
	if m.err != nil {
		return c, core.E(core.KindInvalid, op, m.err)
	}
	return c, c.validate()
}

// gemmaConfig applies the gemma2/gemma3 deltas (spec §3.6): NeoX RoPE, the
// hard-coded query scale, √n_embd embedding scale, soft-caps and the
// sliding-window layer pattern.
func gemmaConfig(c *Config, m *meta) {
	c.Rope.Style = RopeNeoX
	c.EmbedScale = sqrt32(float32(c.Dim))
	// llama.cpp takes the scale from n_embd/n_head only for the largest
	// models (gemma2 27B: 46 layers; gemma3 27B: 62 layers).
	c.QScale = 1 / sqrt32(float32(c.HeadDim))
	if c.Arch == ArchGemma2 && c.Layers == 46 || c.Arch == ArchGemma3 && c.Layers == 62 {
		c.QScale = 1 / sqrt32(float32(c.Dim/c.Heads))
	}
	c.KQScale = 1
	c.SWALayers = make([]bool, c.Layers)
	if c.Arch == ArchGemma2 {
		c.SlidingWindow = m.int("attention.sliding_window", 4096)
		c.AttnSoftcap = m.float("attn_logit_softcapping", 50)
		c.FinalSoftcap = m.float("final_logit_softcapping", 30)
		for l := range c.SWALayers {
			c.SWALayers[l] = l%2 == 0
		}
		return
	}
	c.SlidingWindow = m.int("attention.sliding_window", 0)
	c.FinalSoftcap = m.float("final_logit_softcapping", 0)
	for l := range c.SWALayers {
		c.SWALayers[l] = l%6 < 5
	}
	c.LocalRope = c.Rope
	c.LocalRope.Base = m.float("rope.freq_base_swa", 10000)
	c.LocalRope.FreqScale = 1
	c.LocalRope.ExtFactor = 0
	c.LocalRope.AttnFactor = 1
}

// meta reads {arch}.-prefixed keys, remembering the first error.
type meta struct {
	f    *gguf.File
	arch string
	err  error
}

func (m *meta) fail(format string, args ...any) {
	if m.err == nil {
		m.err = fmt.Errorf(format, args...)
	}
}

// int reads a non-negative integer key, def when it is absent (an error for
// the keys isRequired lists). A per-layer array is accepted when all its
// values are equal.
func (m *meta) int(key string, def int) int {
	full := m.arch + "." + key
	if v, ok := m.f.Uint(full); ok {
		if v > math.MaxInt32 {
			m.fail("%s = %d is out of range", full, v)
			return 0
		}
		return int(v)
	}
	if a, ok := m.f.Int32s(full); ok && len(a) > 0 {
		for _, x := range a {
			if x != a[0] {
				m.fail("%s varies per layer (unsupported)", full)
				return 0
			}
		}
		if a[0] < 0 {
			m.fail("%s = %d is negative", full, a[0])
			return 0
		}
		return int(a[0])
	}
	if _, present := m.f.Get(full); present {
		m.fail("%s has a non-integer type", full)
		return 0
	}
	if def == 0 && isRequired(key) {
		m.fail("required key %s is missing", full)
	}
	return def
}

// isRequired lists the keys without a default (spec §3.2).
func isRequired(key string) bool {
	switch key {
	case "context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count":
		return true
	}
	return false
}

// float reads a float key; def < 0 marks it required.
func (m *meta) float(key string, def float32) float32 {
	full := m.arch + "." + key
	if v, ok := m.f.Float(full); ok {
		return float32(v)
	}
	if _, present := m.f.Get(full); present {
		m.fail("%s has a non-float type", full)
		return 0
	}
	if def < 0 {
		m.fail("required key %s is missing", full)
	}
	return def
}

// rope reads the RoPE keys (spec §3.2, §3.5).
func (m *meta) rope(c Config) Rope {
	r := Rope{Style: RopeNorm, AttnFactor: 1, BetaFast: 32, BetaSlow: 1}
	r.Dims = m.int("rope.dimension_count", c.HeadDim)
	r.Base = m.float("rope.freq_base", 10000)
	factor := m.float("rope.scaling.factor", 0)
	if factor == 0 {
		factor = m.float("rope.scale_linear", 0)
	}
	r.FreqScale = 1
	if factor != 0 {
		r.FreqScale = 1 / factor
	}
	typ, _ := m.f.String(m.arch + ".rope.scaling.type")
	switch typ {
	case "", "none", "linear", "longrope":
	case "yarn":
		r.ExtFactor = 1
	default:
		m.fail("unsupported rope scaling type %q", typ)
	}
	r.ExtFactor = m.float("rope.scaling.yarn_ext_factor", r.ExtFactor)
	r.AttnFactor = m.float("rope.scaling.attn_factor", 1)
	r.BetaFast = m.float("rope.scaling.yarn_beta_fast", 32)
	r.BetaSlow = m.float("rope.scaling.yarn_beta_slow", 1)
	r.OrigCtx = m.int("rope.scaling.original_context_length", c.Context)
	return r
}
