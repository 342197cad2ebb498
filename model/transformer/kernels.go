package transformer

import (
	"math"
	"sync"

	"github.com/pensieve-llm/pensieve/model/quant"
)

// The kernels below take the output first and write into preallocated
// slices. Their arithmetic follows ggml's CPU operators step by step
// (spec §6): f32 values, double only where ggml uses it.

// sqrt32 is sqrtf: the float64 square root rounded to float32 is the
// correctly rounded float32 result.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// exp32, tanh32, cos32, sin32, log32 and pow32 compute in float64 and round:
// that reproduces glibc's float functions except in rare last-bit cases
// (spec §6.6).
func exp32(x float32) float32    { return float32(math.Exp(float64(x))) }
func tanh32(x float32) float32   { return float32(math.Tanh(float64(x))) }
func cos32(x float32) float32    { return float32(math.Cos(float64(x))) }
func sin32(x float32) float32    { return float32(math.Sin(float64(x))) }
func log32(x float32) float32    { return float32(math.Log(float64(x))) }
func pow32(x, y float32) float32 { return float32(math.Pow(float64(x), float64(y))) }

// fma32 is a fused float32 multiply-add, a·b + c rounded once (as ggml's
// FMA instructions compute it). The float64 product of two float32 values
// is exact, so only the final sum is rounded twice (to float64, then to
// float32), which differs from a single rounding in about 2^-29 of cases;
// math.FMA would be exact but is a call on CPUs without GOAMD64=v3.
func fma32(a, b, c float32) float32 { return float32(float64(a)*float64(b) + float64(c)) }

// roundF16 rounds x to the nearest fp16 value (ties to even) and returns it
// widened back to float32. Values in fp16's normal range are rounded in the
// float32 bits directly; the rest (subnormal, overflowing, NaN) go through
// the exact conversions.
func roundF16(x float32) float32 {
	b := math.Float32bits(x)
	if abs := b & 0x7FFFFFFF; abs >= 0x38800000 && abs < 0x477FE000 {
		b += 0xFFF + (b>>13)&1
		return math.Float32frombits(b &^ 0x1FFF)
	}
	return quant.F16ToF32(quant.F32ToF16(x))
}

// halfTable widens every fp16 bit pattern to float32: one load instead of
// a conversion in the attention loops. Built once, read-only afterwards.
var halfTable = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = quant.F16ToF32(uint16(i))
	}
	return t
})

// rmsnorm writes x / √(mean(x²) + eps) · w into out (both (len(w),)).
// As ggml's rms_norm followed by mul (spec §6.2): squares in f32 summed in
// double, ε inside the root, the scale and the weight applied as two
// separate f32 roundings. out may alias x.
func rmsnorm(out, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / sqrt32(mean+eps)
	out = out[:len(x)]
	w = w[:len(x)]
	for i, v := range x {
		out[i] = (v * scale) * w[i]
	}
}

// rmsnormRows applies rmsnorm to each of the n rows of x (n, len(w)).
func rmsnormRows(out, x, w []float32, eps float32, n int) {
	d := len(w)
	for r := range n {
		rmsnorm(out[r*d:(r+1)*d], x[r*d:(r+1)*d], w, eps)
	}
}

// rmsnormHeads applies rmsnorm with weight w (headDim,) to every head of
// every row of x (rows, heads·headDim) in place: the QK-norm of qwen3 and
// gemma3.
func rmsnormHeads(x, w []float32, eps float32) {
	d := len(w)
	for o := 0; o+d <= len(x); o += d {
		rmsnorm(x[o:o+d], x[o:o+d], w, eps)
	}
}

// add sets dst[i] += x[i].
func add(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += x[i]
	}
}

// addBias adds b (width,) to each row of x (rows, width).
func addBias(x, b []float32) {
	d := len(b)
	for o := 0; o+d <= len(x); o += d {
		add(x[o:o+d], b)
	}
}

// scale multiplies x by s.
func scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// softcap replaces x by c·tanh(x/c), as llama.cpp's graph computes it:
// a scale by 1/c, tanh, and a scale by c.
func softcap(x []float32, c float32) {
	inv := 1 / c
	for i, v := range x {
		x[i] = tanh32(v*inv) * c
	}
}

// swigluGo sets out[i] = SiLU(gate[i])·up[i], SiLU(x) = x/(1 + e^(−x)) with
// ggml's vectorized exp (spec §6.5). out may alias gate or up. It is the
// portable form of swiglu, whose assembly kernel rounds each FMA once where
// fma32 may round twice (about 2^-29 of cases).
func swigluGo(out, gate, up []float32) {
	gate, up = gate[:len(out)], up[:len(out)]
	for i, g := range gate {
		out[i] = g / (1 + expVec(-g)) * up[i]
	}
}

// expVec is ggml_v_expf, the exp that ggml's SIMD SiLU uses (AVX2 form,
// adapted from Arm's optimized routines): x = n·ln2 + b with n rounded by
// the 1.5·2^23 trick, a degree-5 polynomial for e^b − 1, and the result
// scaled by 2^n with explicit overflow and underflow handling. Its error is
// up to ~1.5 ulp; matching it rather than a correctly rounded exp keeps
// the activations bit-equal to llama.cpp's.
func expVec(x float32) float32 {
	const shift = float32(0x1.8p23)
	z := fma32(x, 0x1.715476p+0, shift)
	n := z - shift
	b := fma32(-n, 0x1.7f7d1cp-20, fma32(-n, 0x1.62e4p-1, x))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := b * b
	j := fma32(fma32(fma32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fma32(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u, 0x1.ffffecp-1*b)
	if abs := math.Abs(float64(n)); abs <= 126 {
		return fma32(j, k, k)
	} else if abs > 192 {
		if n > 0 {
			return float32(math.Inf(1))
		}
		return 0
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	s2 := math.Float32frombits(e - g)
	return fma32(s2, j, s2) * s1
}

// geglu sets out[i] = GELU(gate[i])·up[i] with ggml's GELU: the tanh form
// evaluated through an fp16 table, so the input is rounded to fp16 and the
// result has fp16 precision; inputs ≤ −10 give 0 and ≥ 10 give x
// (spec §6.5). out may alias gate or up.
func geglu(out, gate, up []float32) {
	gate, up = gate[:len(out)], up[:len(out)]
	for i, g := range gate {
		var y float32
		switch {
		case g <= -10:
			y = 0
		case g >= 10:
			y = g
		default:
			y = roundF16(geluTanh(roundF16(g)))
		}
		out[i] = y * up[i]
	}
}

// geluTanh is ggml_gelu_f32: 0.5x(1 + tanh(√(2/π)·x·(1 + 0.044715x²))).
func geluTanh(x float32) float32 {
	const sqrt2OverPi = float32(0.79788456080286535587989211986876)
	const coefA = float32(0.044715)
	return 0.5 * x * (1 + tanh32(sqrt2OverPi*x*(1+coefA*x*x)))
}
