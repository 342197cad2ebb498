package transformer

import (
	"fmt"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// Source provides weight tensors by their GGUF names (spec §3.3); a
// missing tensor fails with core.KindNotFound. *gguf.File is a Source.
type Source interface {
	Tensor(name string) (*core.Tensor, error)
}

// Layer holds the weights of one decoder block. Shapes are row-major
// (rows, columns): a matrix (out, in) is a GGUF tensor [in, out] whose rows
// are the output units. Optional tensors are nil when the file lacks them.
type Layer struct {
	AttnNorm []float32    // (dim,)
	Wq       *core.Tensor // (heads·headDim, dim)
	Wk       *core.Tensor // (kvHeads·headDim, dim)
	Wv       *core.Tensor // (kvHeads·headDim, dim)
	Wqkv     *core.Tensor // (heads·headDim + 2·kvHeads·headDim, dim): phi3's fused Q|K|V, instead of Wq, Wk, Wv
	Bq       []float32    // (heads·headDim,) optional (qwen2)
	Bk       []float32    // (kvHeads·headDim,) optional (qwen2)
	Bv       []float32    // (kvHeads·headDim,) optional (qwen2)
	QNorm    []float32    // (headDim,) per-head RMSNorm of Q (qwen3, gemma3)
	KNorm    []float32    // (headDim,) per-head RMSNorm of K (qwen3, gemma3)
	Wo       *core.Tensor // (dim, heads·headDim)
	Bo       []float32    // (dim,) optional

	PostAttnNorm []float32 // (dim,) gemma: RMSNorm of the attention output

	FFNNorm     []float32    // (dim,)
	Wgate       *core.Tensor // (ffn, dim)
	Wup         *core.Tensor // (ffn, dim)
	WgateUp     *core.Tensor // (2·ffn, dim): phi3's fused gate|up, instead of Wgate, Wup
	Wdown       *core.Tensor // (dim, ffn)
	PostFFNNorm []float32    // (dim,) gemma: RMSNorm of the feed-forward output
}

// Weights are the parameters of a model: read-only views of the mapped
// file, except the small vectors (norms, biases, rope factors), which are
// widened to f32 once at load.
type Weights struct {
	Embed      *core.Tensor // (vocab, dim) token embeddings
	OutputNorm []float32    // (dim,)
	Output     *core.Tensor // (vocab, dim); Embed itself when the embeddings are tied
	OutputBias []float32    // (vocab,) optional (qwen2)
	RopeFreqs  []float32    // (ropeDims/2,) Llama 3 frequency divisors, optional
	RopeLong   []float32    // (ropeDims/2,) phi3 LongRoPE factors beyond the original context, optional
	RopeShort  []float32    // (ropeDims/2,) phi3 LongRoPE factors within it, optional
	Layers     []Layer      // (layers,)
}

// loader reads tensors from a Source, checking shapes and remembering the
// first error so that an architecture's name mapping reads as a list.
type loader struct {
	src Source
	err error
}

// matrix returns the named (rows, cols) tensor: GGUF shape [cols, rows].
func (ld *loader) matrix(name string, rows, cols int) *core.Tensor {
	t := ld.tensor(name, true)
	if t != nil && !ld.checkShape(t, cols, rows) {
		return nil
	}
	return t
}

// optMatrix is matrix for a tensor that may be absent (nil, no error).
func (ld *loader) optMatrix(name string, rows, cols int) *core.Tensor {
	t := ld.tensor(name, false)
	if t != nil && !ld.checkShape(t, cols, rows) {
		return nil
	}
	return t
}

// vector returns the named (n,) tensor widened to f32.
func (ld *loader) vector(name string, n int) []float32 {
	return ld.widen(ld.tensor(name, true), n)
}

// optVector is vector for a tensor that may be absent (nil, no error).
func (ld *loader) optVector(name string, n int) []float32 {
	return ld.widen(ld.tensor(name, false), n)
}

func (ld *loader) tensor(name string, required bool) *core.Tensor {
	if ld.err != nil {
		return nil
	}
	t, err := ld.src.Tensor(name)
	switch {
	case err == nil:
		if !dtype.Known(t.Type) {
			ld.err = core.Errorf(core.KindInvalid, "transformer.load", "tensor %q: unsupported type %d", name, t.Type)
			return nil
		}
		return t
	case core.KindOf(err) == core.KindNotFound:
		if !required {
			return nil
		}
		// The file exists but is not a complete model: invalid, not "not found".
		ld.err = core.Errorf(core.KindInvalid, "transformer.load", "required tensor %q is missing", name)
		return nil
	}
	ld.err = fmt.Errorf("transformer.load: %w", err)
	return nil
}

func (ld *loader) checkShape(t *core.Tensor, want ...int) bool {
	ok := len(t.Shape) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = t.Shape[i] == want[i]
	}
	if !ok {
		ld.err = core.Errorf(core.KindInvalid, "transformer.load", "tensor %q: shape %v, want %v (ne0 first)", t.Name, t.Shape, want)
	}
	return ok
}

func (ld *loader) widen(t *core.Tensor, n int) []float32 {
	if t == nil || !ld.checkShape(t, n) {
		return nil
	}
	out := make([]float32, n)
	if err := quant.Dequantize(out, t.Type, t.Data); err != nil {
		ld.err = fmt.Errorf("transformer.load: tensor %q: %w", t.Name, err)
		return nil
	}
	return out
}

// params counts the weights' elements.
func (w *Weights) params() int64 {
	var n int64
	count := func(t *core.Tensor) {
		if t != nil {
			n += int64(t.Shape[0]) * int64(t.Rows())
		}
	}
	vec := func(v []float32) { n += int64(len(v)) }
	count(w.Embed)
	if w.Output != w.Embed {
		count(w.Output)
	}
	vec(w.OutputNorm)
	vec(w.OutputBias)
	for i := range w.Layers {
		L := &w.Layers[i]
		for _, t := range []*core.Tensor{L.Wq, L.Wk, L.Wv, L.Wqkv, L.Wo, L.Wgate, L.Wup, L.WgateUp, L.Wdown} {
			count(t)
		}
		for _, v := range [][]float32{L.AttnNorm, L.Bq, L.Bk, L.Bv, L.QNorm, L.KNorm, L.Bo, L.PostAttnNorm, L.FFNNorm, L.PostFFNNorm} {
			vec(v)
		}
	}
	return n
}

// embed writes the embedding rows of toks into x (len(toks), dim).
func (w *Weights) embed(x []float32, toks []core.TokenID, dim int) error {
	rowBytes, err := dtype.RowSize(w.Embed.Type, dim)
	if err != nil {
		return err
	}
	for i, t := range toks {
		row := w.Embed.Data[int(t)*rowBytes : (int(t)+1)*rowBytes]
		if err := quant.Dequantize(x[i*dim:(i+1)*dim], w.Embed.Type, row); err != nil {
			return err
		}
	}
	return nil
}
