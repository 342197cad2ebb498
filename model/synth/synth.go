package synth

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// Write synthesizes the model o describes and writes it to path atomically
// (no partial file on error or cancellation). Bad options fail with
// core.KindInvalid; a canceled ctx stops generation with core.KindCanceled.
func Write(ctx context.Context, path string, o Options) error {
	w, err := build(ctx, o)
	if err != nil {
		return err
	}
	return w.WriteFile(path)
}

// WriteTo synthesizes the model o describes into out and returns the bytes
// written.
func WriteTo(ctx context.Context, out io.Writer, o Options) (int64, error) {
	w, err := build(ctx, o)
	if err != nil {
		return 0, err
	}
	return w.WriteTo(out)
}

// tensorKind says how a tensor's values are drawn.
type tensorKind int

const (
	kindMatrix    tensorKind = iota // N(0, 1/fan-in), fan-in = ne0
	kindNorm                        // 1 ± 0.1
	kindPostNorm                    // 8 ± 0.8 (gemma2 post-norms, as in the fixtures)
	kindBias                        // N(0, 0.02²)
	kindRopeFreqs                   // Llama 3 frequency divisors, computed
)

// tensorSpec is one tensor of the plan.
type tensorSpec struct {
	name  string
	shape []int // ne0 first
	kind  tensorKind
	typ   core.DType
}

// build validates o, lays out metadata and tensors, and returns a Writer
// whose tensor data are generated while it writes.
func build(ctx context.Context, o Options) (*gguf.Writer, error) {
	p, ft, err := o.check()
	if err != nil {
		return nil, err
	}
	vocab := byteVocab()
	nVocab := 256 + len(byteVocabSpecials)
	if o.VocabFile != "" {
		if vocab, nVocab, err = vocabFrom(o.VocabFile); err != nil {
			return nil, err
		}
	}
	tied := p.tied || o.Arch == "gemma2"
	specs := plan(o.Arch, p, nVocab, tied)
	m := &mixer{ft: ft, hasOutput: !tied, gqa: p.heads / p.kvHeads}
	// llama.cpp's quantizer records general.quantization_version for every
	// output type; only an all-F32 file (no conversion at all) lacks it.
	converted := false
	for _, s := range specs {
		countForMix(m, s.name)
	}
	for i := range specs {
		s := &specs[i]
		s.typ = core.F32
		if s.kind == kindMatrix {
			s.typ = m.typeOf(s.name, s.shape)
		}
		converted = converted || s.typ != core.F32
	}
	w := gguf.NewWriter()
	for _, e := range metadata(o, p, ft, nVocab, converted) {
		if err := w.SetKV(e.key, e.v); err != nil {
			return nil, err
		}
	}
	for _, e := range append(vocab, archExtras(o, p)...) {
		if err := w.SetKV(e.key, e.v); err != nil {
			return nil, err
		}
	}
	g := newGenerator(ctx, o)
	for i, s := range specs {
		if err := w.AddTensorFunc(s.name, s.typ, s.shape, g.fill(i, s, p)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// countForMix counts the tensors whose type depends on their position among
// their kind, as llama.cpp does before choosing types.
func countForMix(m *mixer, name string) {
	switch {
	case strings.Contains(name, "attn_v.weight") || strings.Contains(name, "attn_qkv.weight"):
		m.nAttnV++
	case strings.Contains(name, "ffn_down"):
		m.nFFNDown++
	}
}

// plan lists the tensors of arch with preset p in the order llama.cpp's
// converter writes them (spec §3.3).
func plan(arch string, p preset, nVocab int, tied bool) []tensorSpec {
	var out []tensorSpec
	add := func(name string, kind tensorKind, shape ...int) {
		out = append(out, tensorSpec{name: name, shape: shape, kind: kind})
	}
	qDim, kvDim := p.heads*p.headDim, p.kvHeads*p.headDim
	add("token_embd.weight", kindMatrix, p.embd, nVocab)
	add("output_norm.weight", kindNorm, p.embd)
	if !tied {
		add("output.weight", kindMatrix, p.embd, nVocab)
	}
	if arch == "llama" && p.llama3Rope {
		add("rope_freqs.weight", kindRopeFreqs, p.headDim/2)
	}
	for i := range p.layers {
		b := func(s string) string { return fmt.Sprintf("blk.%d.%s", i, s) }
		add(b("attn_norm.weight"), kindNorm, p.embd)
		if arch == "phi3" {
			add(b("attn_qkv.weight"), kindMatrix, p.embd, qDim+2*kvDim)
		} else {
			add(b("attn_q.weight"), kindMatrix, p.embd, qDim)
			add(b("attn_k.weight"), kindMatrix, p.embd, kvDim)
			add(b("attn_v.weight"), kindMatrix, p.embd, kvDim)
		}
		if arch == "qwen2" {
			add(b("attn_q.bias"), kindBias, qDim)
			add(b("attn_k.bias"), kindBias, kvDim)
			add(b("attn_v.bias"), kindBias, kvDim)
		}
		if arch == "qwen3" {
			add(b("attn_q_norm.weight"), kindNorm, p.headDim)
			add(b("attn_k_norm.weight"), kindNorm, p.headDim)
		}
		add(b("attn_output.weight"), kindMatrix, qDim, p.embd)
		if arch == "gemma2" {
			add(b("post_attention_norm.weight"), kindPostNorm, p.embd)
		}
		add(b("ffn_norm.weight"), kindNorm, p.embd)
		if arch == "phi3" {
			add(b("ffn_up.weight"), kindMatrix, p.embd, 2*p.ff)
		} else {
			add(b("ffn_gate.weight"), kindMatrix, p.embd, p.ff)
			add(b("ffn_up.weight"), kindMatrix, p.embd, p.ff)
		}
		add(b("ffn_down.weight"), kindMatrix, p.ff, p.embd)
		if arch == "gemma2" {
			add(b("post_ffw_norm.weight"), kindPostNorm, p.embd)
		}
	}
	return out
}

// metadata returns the general.* and architecture keys (spec §1.7, §3.2)
// in the order llama.cpp's converter writes them.
func metadata(o Options, p preset, ft fileType, nVocab int, converted bool) []entry {
	a := o.Arch + "."
	out := []entry{
		{"general.architecture", o.Arch},
		{"general.name", "synthetic-" + o.Preset},
		{"general.alignment", uint32(gguf.DefaultAlignment)},
		{"general.file_type", ft.code},
	}
	if converted {
		out = append(out, entry{"general.quantization_version", uint32(2)})
	}
	out = append(out,
		entry{a + "context_length", p.ctx},
		entry{a + "embedding_length", uint32(p.embd)},
		entry{a + "block_count", uint32(p.layers)},
		entry{a + "feed_forward_length", uint32(p.ff)},
		entry{a + "attention.head_count", uint32(p.heads)},
		entry{a + "attention.head_count_kv", uint32(p.kvHeads)},
		entry{a + "rope.freq_base", p.ropeBase},
		entry{a + "rope.dimension_count", uint32(p.headDim)},
		entry{a + "attention.layer_norm_rms_epsilon", p.eps},
		entry{a + "vocab_size", uint32(nVocab)},
		entry{a + "attention.key_length", uint32(p.headDim)},
		entry{a + "attention.value_length", uint32(p.headDim)},
	)
	return out
}

// archExtras returns the architecture keys the converter writes after the
// tokenizer: gemma2's sliding window and soft-caps (spec §3.6).
func archExtras(o Options, p preset) []entry {
	if o.Arch != "gemma2" {
		return nil
	}
	a := o.Arch + "."
	return []entry{
		{a + "attention.sliding_window", p.slidingWindow},
		{a + "attn_logit_softcapping", float32(50)},
		{a + "final_logit_softcapping", float32(30)},
	}
}
