package transformer

import "github.com/pensieve-llm/pensieve/core"

// state is the activation scratch of Forward (llama2.c's RunState), owned
// by a Cache and grown to the largest batch seen, so that steady decoding
// allocates nothing. Row counts n are batch entries.
type state struct {
	rows int // batch entries the buffers hold

	x, xb, xb2 []float32 // (n, dim) residual stream and two branch buffers
	q, att     []float32 // (n, heads·headDim) queries, attention output
	k, v       []float32 // (n, kvHeads·headDim)
	qkv        []float32 // (n, heads·headDim + 2·kvHeads·headDim) fused projection (phi3)
	hb         []float32 // (n, ffn) gate, then the activated hidden layer
	hb2        []float32 // (n, ffn) up; (n, 2·ffn) fused gate|up (phi3)
	rope       []float32 // (n, ropeDims) cos/sin of the global RoPE
	ropeLocal  []float32 // (n, ropeDims) cos/sin of the local RoPE (gemma3)

	attn    attnTask // the attention job with its per-worker scratch
	rowTask rowTask  // the current element-wise step

	mmOuts  [3][]float32 // arguments of matmulShared, kept here so that passing them allocates nothing
	mmWs    [3]*core.Tensor
	seqNext []int // (slots,) next expected position per slot while checking a batch
}

// ensure sizes the buffers for a batch of n entries of cfg's model.
func (st *state) ensure(cfg *Config, workers, n int) {
	if n <= st.rows {
		return
	}
	qd, kvd := cfg.QDim(), cfg.KVDim()
	st.rows = n
	st.x = make([]float32, n*cfg.Dim)
	st.xb = make([]float32, n*cfg.Dim)
	st.xb2 = make([]float32, n*cfg.Dim)
	st.q = make([]float32, n*qd)
	st.att = make([]float32, n*qd)
	st.k = make([]float32, n*kvd)
	st.v = make([]float32, n*kvd)
	if cfg.Arch == ArchPhi3 {
		st.qkv = make([]float32, n*(qd+2*kvd))
		st.hb2 = make([]float32, n*2*cfg.FFN)
	} else {
		st.hb2 = make([]float32, n*cfg.FFN)
	}
	st.hb = make([]float32, n*cfg.FFN)
	st.rope = make([]float32, n*cfg.Rope.Dims)
	st.ropeLocal = make([]float32, n*cfg.LocalRope.Dims)
	st.attn.scratch = make([]attnScratch, workers)
	for w := range workers {
		st.attn.scratch[w] = newAttnScratch(cfg.HeadDim)
	}
}

// next returns the (slots,) scratch of checkBatch.
func (st *state) next(slots int) []int {
	if len(st.seqNext) < slots {
		st.seqNext = make([]int, slots)
	}
	return st.seqNext[:slots]
}
