package transformer

import (
	"context"
	"fmt"

	"github.com/pensieve-llm/pensieve/core"
)

// gemmaWeights maps the GGUF tensors of gemma2 and gemma3 (spec §3.3):
// tied embeddings, post-attention and post-feed-forward norms, and in
// gemma3 per-head Q/K norms. The norms are already 1 + w in GGUF.
func gemmaWeights(ld *loader, c *Config) *Weights {
	w := &Weights{}
	loadEmbeddings(ld, c, w)
	w.Layers = make([]Layer, c.Layers)
	q, kv := c.QDim(), c.KVDim()
	for l := range w.Layers {
		L := &w.Layers[l]
		name := func(s string) string { return fmt.Sprintf("blk.%d.%s", l, s) }
		L.AttnNorm = ld.vector(name("attn_norm.weight"), c.Dim)
		L.Wq = ld.matrix(name("attn_q.weight"), q, c.Dim)
		L.Wk = ld.matrix(name("attn_k.weight"), kv, c.Dim)
		L.Wv = ld.matrix(name("attn_v.weight"), kv, c.Dim)
		if c.Arch == ArchGemma3 {
			L.QNorm = ld.vector(name("attn_q_norm.weight"), c.HeadDim)
			L.KNorm = ld.vector(name("attn_k_norm.weight"), c.HeadDim)
		}
		L.Wo = ld.matrix(name("attn_output.weight"), c.Dim, q)
		L.PostAttnNorm = ld.vector(name("post_attention_norm.weight"), c.Dim)
		L.FFNNorm = ld.vector(name("ffn_norm.weight"), c.Dim)
		L.Wgate = ld.matrix(name("ffn_gate.weight"), c.FFN, c.Dim)
		L.Wup = ld.matrix(name("ffn_up.weight"), c.FFN, c.Dim)
		L.Wdown = ld.matrix(name("ffn_down.weight"), c.Dim, c.FFN)
		L.PostFFNNorm = ld.vector(name("post_ffw_norm.weight"), c.Dim)
	}
	return w
}

// gemmaForward runs the sandwich-norm blocks of gemma2 and gemma3 over the
// residual stream st.x, which already holds the embeddings scaled by √dim
// (spec §3.6):
//
//	h = h + RMSNorm(Attention(RMSNorm(h)·attn_norm))·post_attention_norm
//	h = h + RMSNorm(Wdown·(GELU(Wgate·f) ⊙ Wup·f))·post_ffw_norm,  f = RMSNorm(h)·ffn_norm
func (m *Model) gemmaForward(ctx context.Context, c *Cache, b *core.Batch) error {
	st, n, cfg := &c.st, b.Len(), &m.cfg
	x, xb, xb2 := st.x[:n*cfg.Dim], st.xb[:n*cfg.Dim], st.xb2[:n*cfg.Dim]
	for l := range m.w.Layers {
		if err := ctx.Err(); err != nil {
			return core.E(core.KindCanceled, "transformer.Forward", err)
		}
		L := &m.w.Layers[l]

		m.normRows(st, xb, x, L.AttnNorm, n)
		if err := m.selfAttention(xb2, xb, c, l, b); err != nil {
			return err
		}
		m.normRows(st, xb2, xb2, L.PostAttnNorm, n)
		m.addNormRows(st, xb, x, xb2, L.FFNNorm, cfg.Dim, n)

		if err := m.feedForward(xb2, xb, L, n, geglu, st); err != nil {
			return err
		}
		m.normRows(st, xb2, xb2, L.PostFFNNorm, n)
		m.addNormRows(st, nil, x, xb2, nil, cfg.Dim, n)
	}
	return nil
}
