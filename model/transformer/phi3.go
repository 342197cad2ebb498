package transformer

import "fmt"

// phi3Weights maps the GGUF tensors of phi3 (spec §3.3, §3.6): a fused
// Q|K|V projection, a fused gate|up projection of width 2·ffn, and the
// optional LongRoPE factor tables. Its blocks run through decoderForward.
func phi3Weights(ld *loader, c *Config) *Weights {
	w := &Weights{}
	loadEmbeddings(ld, c, w)
	w.RopeLong = ld.optVector("rope_factors_long.weight", c.Rope.Dims/2)
	w.RopeShort = ld.optVector("rope_factors_short.weight", c.Rope.Dims/2)
	w.Layers = make([]Layer, c.Layers)
	q, kv := c.QDim(), c.KVDim()
	for l := range w.Layers {
		L := &w.Layers[l]
		name := func(s string) string { return fmt.Sprintf("blk.%d.%s", l, s) }
		L.AttnNorm = ld.vector(name("attn_norm.weight"), c.Dim)
		L.Wqkv = ld.matrix(name("attn_qkv.weight"), q+2*kv, c.Dim)
		L.Wo = ld.matrix(name("attn_output.weight"), c.Dim, q)
		L.FFNNorm = ld.vector(name("ffn_norm.weight"), c.Dim)
		L.WgateUp = ld.matrix(name("ffn_up.weight"), 2*c.FFN, c.Dim)
		L.Wdown = ld.matrix(name("ffn_down.weight"), c.Dim, c.FFN)
	}
	return w
}
