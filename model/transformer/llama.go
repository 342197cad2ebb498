package transformer

import (
	"context"
	"fmt"

	"github.com/pensieve-llm/pensieve/core"
)

// llamaWeights maps the GGUF tensors of llama, qwen2 and qwen3 (spec §3.3):
// the same names, with Q/K/V biases required in qwen2 and per-head Q/K
// norms required in qwen3; any other optional tensor is taken when present.
func llamaWeights(ld *loader, c *Config) *Weights {
	w := &Weights{}
	loadEmbeddings(ld, c, w)
	w.RopeFreqs = ld.optVector("rope_freqs.weight", c.Rope.Dims/2)
	w.Layers = make([]Layer, c.Layers)
	q, kv := c.QDim(), c.KVDim()
	for l := range w.Layers {
		L := &w.Layers[l]
		name := func(s string) string { return fmt.Sprintf("blk.%d.%s", l, s) }
		L.AttnNorm = ld.vector(name("attn_norm.weight"), c.Dim)
		L.Wq = ld.matrix(name("attn_q.weight"), q, c.Dim)
		L.Wk = ld.matrix(name("attn_k.weight"), kv, c.Dim)
		L.Wv = ld.matrix(name("attn_v.weight"), kv, c.Dim)
		bias, norm := ld.optVector, ld.optVector
		switch c.Arch {
		case ArchQwen2:
			bias = ld.vector
		case ArchQwen3:
			norm = ld.vector
		}
		L.Bq = bias(name("attn_q.bias"), q)
		L.Bk = bias(name("attn_k.bias"), kv)
		L.Bv = bias(name("attn_v.bias"), kv)
		L.QNorm = norm(name("attn_q_norm.weight"), c.HeadDim)
		L.KNorm = norm(name("attn_k_norm.weight"), c.HeadDim)
		L.Wo = ld.matrix(name("attn_output.weight"), c.Dim, q)
		L.Bo = ld.optVector(name("attn_output.bias"), c.Dim)
		L.FFNNorm = ld.vector(name("ffn_norm.weight"), c.Dim)
		L.Wgate = ld.matrix(name("ffn_gate.weight"), c.FFN, c.Dim)
		L.Wup = ld.matrix(name("ffn_up.weight"), c.FFN, c.Dim)
		L.Wdown = ld.matrix(name("ffn_down.weight"), c.Dim, c.FFN)
	}
	return w
}

// loadEmbeddings maps the token embeddings and the output head; a missing
// output.weight means tied embeddings (spec §3.3).
func loadEmbeddings(ld *loader, c *Config, w *Weights) {
	w.Embed = ld.matrix("token_embd.weight", c.Vocab, c.Dim)
	w.OutputNorm = ld.vector("output_norm.weight", c.Dim)
	w.Output = ld.optMatrix("output.weight", c.Vocab, c.Dim)
	if w.Output == nil {
		w.Output = w.Embed
	}
	w.OutputBias = ld.optVector("output.bias", c.Vocab)
}

// decoderForward runs the pre-norm decoder blocks of llama, qwen2, qwen3
// and phi3 over the batch's residual stream st.x (spec §3.4):
//
//	h = h + Wo·Attention(RMSNorm(h)·attn_norm)
//	h = h + Wdown·(SiLU(Wgate·f) ⊙ Wup·f),  f = RMSNorm(h)·ffn_norm
func (m *Model) decoderForward(ctx context.Context, c *Cache, b *core.Batch) error {
	st, n, cfg := &c.st, b.Len(), &m.cfg
	x, xb, xb2 := st.x[:n*cfg.Dim], st.xb[:n*cfg.Dim], st.xb2[:n*cfg.Dim]
	m.normRows(st, xb, x, m.w.Layers[0].AttnNorm, n)
	for l := range m.w.Layers {
		if err := ctx.Err(); err != nil {
			return core.E(core.KindCanceled, "transformer.Forward", err)
		}
		L := &m.w.Layers[l]

		if err := m.selfAttention(xb2, xb, c, l, b); err != nil {
			return err
		}
		m.addNormRows(st, xb, x, xb2, L.FFNNorm, cfg.Dim, n)

		if err := m.feedForward(xb2, xb, L, n, swiglu, st); err != nil {
			return err
		}
		// The residual add, fused with the next block's attention norm.
		var next []float32
		if l+1 < len(m.w.Layers) {
			next = m.w.Layers[l+1].AttnNorm
		}
		m.addNormRows(st, xb, x, xb2, next, cfg.Dim, n)
	}
	return nil
}
