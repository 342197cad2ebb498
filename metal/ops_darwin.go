//go:build darwin

package metal

import (
	"github.com/pensieve-llm/pensieve/core"
)

// simdWidth is the thread count of the kernels that reduce within one SIMD
// group.
const simdWidth = 32

var matmulKernels = map[core.DType]string{
	core.F32: "matmul_f32", core.F16: "matmul_f16", core.Q8_0: "matmul_q8_0",
	core.Q4_0: "matmul_q4_0", core.Q4_K: "matmul_q4_k", core.Q6_K: "matmul_q6_k",
}

// blockShape gives elements and bytes per block of the types the kernels read.
var blockShape = map[core.DType][2]int{
	core.F32: {1, 4}, core.F16: {1, 2}, core.Q8_0: {32, 34},
	core.Q4_0: {32, 18}, core.Q4_K: {256, 144}, core.Q6_K: {256, 210},
}

type mmArgs struct{ K, Rows, RowBytes uint32 }

// MatMul computes out = x · wᵀ (see core.Backend) for F32, F16, Q8_0, Q4_0,
// Q4_K and Q6_K weights; other types fail with core.KindInvalid.
func (d *Device) MatMul(out []float32, w *core.Tensor, x []float32, n int) error {
	const op = "metal.MatMul"
	kernel, ok := matmulKernels[w.Type]
	if !ok || len(w.Shape) < 1 {
		return core.Errorf(core.KindInvalid, op, "weight %q: type %d not supported by the Metal kernels", w.Name, w.Type)
	}
	k, rows := w.Shape[0], w.Rows()
	bs := blockShape[w.Type]
	if k%bs[0] != 0 {
		return core.Errorf(core.KindInvalid, op, "weight %q: row length %d is not a multiple of %d", w.Name, k, bs[0])
	}
	rowBytes := k / bs[0] * bs[1]
	switch {
	case len(w.Data) < rows*rowBytes:
		return core.Errorf(core.KindInvalid, op, "weight %q: %d bytes, want %d", w.Name, len(w.Data), rows*rowBytes)
	case len(x) < n*k || len(out) < n*rows:
		return core.Errorf(core.KindInvalid, op, "weight %q: x has %d values, out %d; want %d and %d", w.Name, len(x), len(out), n*k, n*rows)
	}
	d.mu.Lock()
	wv, err := d.weightBuffer(w.Data[:rows*rowBytes])
	d.mu.Unlock()
	if err != nil {
		return core.E(core.KindInternal, op, err)
	}
	a := mmArgs{K: uint32(k), Rows: uint32(rows), RowBytes: uint32(rowBytes)}
	return d.run(kernel, mtlSize{uint(rows), uint(n), 1}, mtlSize{simdWidth, 1, 1}, false,
		arg{w: &wv}, floats(x[:n*k]), outFloats(out[:n*rows]), constant(&a))
}

type normArgs struct {
	N   uint32
	Eps float32
}

// RMSNorm normalises each row of len(weight) values of x into out (see
// core.Normer).
func (d *Device) RMSNorm(out, x, weight []float32, eps float32) error {
	n := len(weight)
	if n == 0 || len(x)%n != 0 || len(out) < len(x) {
		return core.Errorf(core.KindInvalid, "metal.RMSNorm", "x has %d values, weight %d, out %d", len(x), n, len(out))
	}
	a := normArgs{N: uint32(n), Eps: eps}
	return d.run("rms_norm", mtlSize{uint(len(x) / n), 1, 1}, mtlSize{simdWidth, 1, 1}, false,
		floats(x), floats(weight), outFloats(out[:len(x)]), constant(&a))
}

type ropeArgs struct {
	Heads, HeadDim uint32
	Base           float32
	NeoX           uint32
}

// RoPE rotates x, laid out (len(pos), heads, headDim), in place: token t is
// at position pos[t]. neox selects rotate-half pairing (i, i+headDim/2)
// instead of adjacent pairs.
func (d *Device) RoPE(x []float32, pos []int32, heads, headDim int, base float32, neox bool) error {
	if headDim%2 != 0 || len(x) != len(pos)*heads*headDim {
		return core.Errorf(core.KindInvalid, "metal.RoPE", "x has %d values, want %d×%d×%d (even head_dim)", len(x), len(pos), heads, headDim)
	}
	a := ropeArgs{Heads: uint32(heads), HeadDim: uint32(headDim), Base: base}
	if neox {
		a.NeoX = 1
	}
	return d.run("rope", mtlSize{uint(headDim / 2), uint(heads), uint(len(pos))}, mtlSize{uint(min(headDim/2, 64)), 1, 1}, true,
		outFloats(x), ints(pos), constant(&a))
}

// Softmax normalises each row of n values of x in place.
func (d *Device) Softmax(x []float32, n int) error {
	if n <= 0 || len(x)%n != 0 {
		return core.Errorf(core.KindInvalid, "metal.Softmax", "%d values are not rows of %d", len(x), n)
	}
	nn := uint32(n)
	return d.run("softmax", mtlSize{uint(len(x) / n), 1, 1}, mtlSize{simdWidth, 1, 1}, false, outFloats(x), constant(&nn))
}

// maxAttentionLen is the longest KV range the attention kernel keeps scores
// for (its threadgroup array).
const maxAttentionLen = 8192

type attnArgs struct {
	Heads, KVHeads, HeadDim, KVLen, Pos0 uint32
	Scale                                float32
}

// Attention computes causal attention for tokens at positions pos0, pos0+1,
// …: q is (tokens, heads, headDim), k and v are (kvLen, kvHeads, headDim),
// out is (tokens, heads, headDim). Scores are scaled by scale.
func (d *Device) Attention(out, q, k, v []float32, heads, kvHeads, headDim, kvLen, pos0 int, scale float32) error {
	const op = "metal.Attention"
	switch {
	case heads <= 0 || kvHeads <= 0 || heads%kvHeads != 0 || headDim <= 0:
		return core.Errorf(core.KindInvalid, op, "heads %d, kv heads %d, head dim %d", heads, kvHeads, headDim)
	case kvLen > maxAttentionLen:
		return core.Errorf(core.KindInvalid, op, "kv length %d beyond the kernel's %d", kvLen, maxAttentionLen)
	case len(q)%(heads*headDim) != 0 || len(out) < len(q) || len(k) < kvLen*kvHeads*headDim || len(v) < kvLen*kvHeads*headDim:
		return core.Errorf(core.KindInvalid, op, "buffer sizes q %d, k %d, v %d, out %d do not match the shape", len(q), len(k), len(v), len(out))
	}
	tokens := len(q) / (heads * headDim)
	if pos0+tokens > kvLen {
		return core.Errorf(core.KindInvalid, op, "tokens at %d..%d lie beyond the %d cached positions", pos0, pos0+tokens-1, kvLen)
	}
	a := attnArgs{Heads: uint32(heads), KVHeads: uint32(kvHeads), HeadDim: uint32(headDim), KVLen: uint32(kvLen), Pos0: uint32(pos0), Scale: scale}
	return d.run("attention", mtlSize{uint(heads), uint(tokens), 1}, mtlSize{simdWidth, 1, 1}, false,
		floats(q), floats(k[:kvLen*kvHeads*headDim]), floats(v[:kvLen*kvHeads*headDim]), outFloats(out[:len(q)]), constant(&a))
}

// unary runs an element-wise kernel of one input.
func (d *Device) unary(kernel string, out, x []float32) error {
	if len(out) < len(x) {
		return core.Errorf(core.KindInvalid, "metal."+kernel, "out has %d values, x %d", len(out), len(x))
	}
	return d.run(kernel, mtlSize{uint(len(x)), 1, 1}, mtlSize{256, 1, 1}, true, floats(x), outFloats(out[:len(x)]))
}

// binary runs an element-wise kernel of two inputs.
func (d *Device) binary(kernel string, out, a, b []float32) error {
	if len(a) != len(b) || len(out) < len(a) {
		return core.Errorf(core.KindInvalid, "metal."+kernel, "lengths a %d, b %d, out %d", len(a), len(b), len(out))
	}
	return d.run(kernel, mtlSize{uint(len(a)), 1, 1}, mtlSize{256, 1, 1}, true, floats(a), floats(b), outFloats(out[:len(a)]))
}

// SiLU computes out = x·σ(x).
func (d *Device) SiLU(out, x []float32) error { return d.unary("silu", out, x) }

// GELU computes out = GELU(x) with ggml's tanh approximation.
func (d *Device) GELU(out, x []float32) error { return d.unary("gelu", out, x) }

// Add computes out = a + b element-wise.
func (d *Device) Add(out, a, b []float32) error { return d.binary("add", out, a, b) }

// Mul computes out = a · b element-wise.
func (d *Device) Mul(out, a, b []float32) error { return d.binary("mul", out, a, b) }
