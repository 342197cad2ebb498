package quant

import (
	"math"

	"github.com/pensieve-llm/pensieve/core"
)

// actKind is the type activations are converted to before they meet a
// weight type: ggml's vec_dot_type (spec §2.1, §2.5).
type actKind uint8

const (
	actF32  actKind = iota // F32 weights: activations as they are
	actF16                 // F16 weights: activations rounded to fp16 (kept as float32)
	actBF16                // BF16 weights: activations rounded to bf16 (kept as float32)
	actQ8_0                // Q4_0, Q5_0, Q8_0, IQ4_NL weights
	actQ8_1                // Q4_1, Q5_1 weights
	actQ8_K                // K-quants and IQ4_XS
)

// actBlock returns the elements per scale of an activation kind (1 for the
// float kinds).
func (k actKind) block() int {
	switch k {
	case actQ8_0, actQ8_1:
		return 32
	case actQ8_K:
		return 256
	}
	return 1
}

// acts holds n activation rows of k values converted to one actKind, in a
// planar layout the kernels read directly: int8 quants, float32 scales and,
// where the weight type needs them, sums.
type acts struct {
	kind actKind
	n, k int
	f    []float32 // (n, k) float kinds; aliases the caller's x for actF32
	q    []int8    // (n, k) quantized kinds
	d    []float32 // (n, k/block): the block scale (fp16-rounded for Q8_0/Q8_1)
	s    []float32 // (n, k/32) Q8_1 only: fp16(d·Σq) widened
	bs   []int16   // (n, k/16) Q8_K only: sums of each 16 quants
	fbuf []float32 // storage behind f for actF16/actBF16

	// Token groups for the four-token kernels: rows 4g..4g+3 interleaved
	// block by block — for each block, the four rows' quants one after the
	// other, then the four scales and the four rows' sums. Built only for
	// the Q8 kinds when n ≥ 4; rows past the last whole group are served
	// from the planar fields.
	groups   int
	gq       []int8    // (groups, blocks, 4, block)
	gd       []float32 // (groups, blocks, 4)
	gbs      []int16   // (groups, blocks, 4, block/16) Q8_K only
	gcorr    []int32   // (groups, blocks, 4, 8) Q8_0 with corr: −128 × the sums of each 4 quants
	withCorr bool      // gcorr is filled
	gdx      []float32 // (groups, blocks, 4, 8) Q8_0 with dx: each token's scale repeated 8 times
	withDX   bool      // gdx is filled
}

// prepareGroups interleaves whole groups of four rows (see acts.groups);
// corr also fills gcorr, which the VNNI kernels start from.
func (a *acts) prepareGroups(corr, dx bool) {
	a.setupGroups(corr, dx)
	a.fillGroups(0, a.groups)
}

// setupGroups sizes the group storage (see prepareGroups); fillGroups then
// fills groups, which may happen concurrently for disjoint ranges.
func (a *acts) setupGroups(corr, dx bool) {
	a.groups, a.withCorr, a.withDX = 0, false, false
	if a.n < 4 || (a.kind != actQ8_0 && a.kind != actQ8_K) {
		return
	}
	a.groups = a.n / 4
	nb := a.k / a.kind.block()
	a.gq = grow(a.gq, a.groups*4*a.k)
	a.gd = grow(a.gd, a.groups*4*nb)
	if a.kind == actQ8_K {
		a.gbs = grow(a.gbs, a.groups*4*a.k/16)
	}
	a.withCorr = corr && a.kind == actQ8_0
	if a.withCorr {
		a.gcorr = grow(a.gcorr, a.groups*4*a.k/4)
	}
	a.withDX = dx && a.kind == actQ8_0
	if a.withDX {
		a.gdx = grow(a.gdx, a.groups*nb*4*8)
	}
}

// fillGroups interleaves groups [g0, g1) from the planar rows.
func (a *acts) fillGroups(g0, g1 int) {
	blk := a.kind.block()
	nb := a.k / blk
	for g := g0; g < g1; g++ {
		for t := range 4 {
			row := 4*g + t
			for b := range nb {
				dst := ((g*nb+b)*4 + t) * blk
				copy(a.gq[dst:dst+blk], a.q[row*a.k+b*blk:row*a.k+(b+1)*blk])
				a.gd[(g*nb+b)*4+t] = a.d[row*nb+b]
				if a.withDX {
					dx := a.gdx[((g*nb+b)*4+t)*8:][:8]
					for l := range dx {
						dx[l] = a.d[row*nb+b]
					}
				}
				if a.withCorr {
					c := a.gcorr[((g*nb+b)*4+t)*8:][:8]
					for l := range c {
						s := 0
						for _, v := range a.gq[dst+4*l : dst+4*l+4] {
							s += int(v)
						}
						c[l] = int32(-128 * s)
					}
				}
				if a.kind == actQ8_K {
					dst := ((g*nb+b)*4 + t) * 16
					copy(a.gbs[dst:dst+16], a.bs[row*a.k/16+b*16:row*a.k/16+(b+1)*16])
				}
			}
		}
	}
}

// prepare converts x (n rows of k values) to kind, reusing a's storage.
// For actF32 it aliases x, which must then outlive the use of a.
func (a *acts) prepare(kind actKind, x []float32, n, k int) {
	a.setup(kind, x, n, k)
	a.convert(x, 0, n)
}

// setup sizes a's storage for n rows of k values of kind (aliasing x for
// actF32); convert then fills the rows.
func (a *acts) setup(kind actKind, x []float32, n, k int) {
	a.kind, a.n, a.k = kind, n, k
	switch kind {
	case actF32:
		a.f = x[:n*k]
	case actF16, actBF16:
		a.fbuf = grow(a.fbuf, n*k)
		a.f = a.fbuf
	case actQ8_0, actQ8_1:
		a.q, a.d = grow(a.q, n*k), grow(a.d, n*k/32)
		if kind == actQ8_1 {
			a.s = grow(a.s, n*k/32)
		}
	case actQ8_K:
		a.q, a.d, a.bs = grow(a.q, n*k), grow(a.d, n*k/256), grow(a.bs, n*k/16)
	}
}

// convert converts rows [lo, hi) of x; rows are independent, so disjoint
// ranges may be converted concurrently.
func (a *acts) convert(x []float32, lo, hi int) {
	k := a.k
	x = x[lo*k : hi*k]
	switch a.kind {
	case actF16:
		f := a.f[lo*k : hi*k]
		for i, v := range x {
			f[i] = F16ToF32(F32ToF16(v))
		}
	case actBF16:
		f := a.f[lo*k : hi*k]
		for i, v := range x {
			f[i] = BF16ToF32(F32ToBF16(v))
		}
	case actQ8_0:
		quantizeQ8_0Blocks(a.q[lo*k:hi*k], a.d[lo*k/32:hi*k/32], x)
	case actQ8_1:
		b0 := lo * k / 32
		for b := range (hi - lo) * k / 32 {
			a.s[b0+b] = quantizeQ8x86(a.q[32*(b0+b):32*(b0+b)+32], &a.d[b0+b], x[32*b:32*b+32])
		}
	case actQ8_K:
		b0 := lo * k / 256
		for b := range (hi - lo) * k / 256 {
			bb := b0 + b
			a.d[bb] = quantizeQ8KBlock(a.q[256*bb:256*bb+256], a.bs[16*bb:16*bb+16], x[256*b:256*b+256])
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// quantizeQ8x86 quantizes one block of 32 the way ggml's x86 (AVX/AVX2/
// AVX-512) quantize_row_q8_0/q8_1 do: id = 127/amax, round to nearest even
// (spec §2.5). It stores the fp16-rounded scale in *d and returns the Q8_1
// sum term fp16(d·Σq) (d unrounded), widened to float32.
func quantizeQ8x86(q []int8, d *float32, x []float32) float32 {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	dd := amax / 127
	*d = F16ToF32(F32ToF16(dd))
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	sum := 0
	for j, v := range x {
		l := int(math.RoundToEven(float64(v * id)))
		q[j] = int8(l)
		sum += l
	}
	return F16ToF32(F32ToF16(dd * float32(sum)))
}

// quantizeQ8K is ggml's quantize_row_q8_K_ref for one block of 256: it
// writes the quants and the 16 sums and returns the scale.
func quantizeQ8K(q []int8, bs []int16, x []float32) float32 {
	max, amax := absMax(x)
	if amax == 0 {
		clear(q)
		clear(bs)
		return 0
	}
	iscale := -127 / max
	for j, v := range x {
		q[j] = int8(min(127, nearestInt(iscale*v)))
	}
	for j := range 16 {
		s := 0
		for _, v := range q[16*j : 16*j+16] {
			s += int(v)
		}
		bs[j] = int16(s)
	}
	return 1 / iscale
}

// actKindOf returns the activation kind paired with weight type t.
func actKindOf(t core.DType) (actKind, bool) {
	switch t {
	case core.F32:
		return actF32, true
	case core.F16:
		return actF16, true
	case core.BF16:
		return actBF16, true
	case core.Q4_0, core.Q5_0, core.Q8_0, core.IQ4_NL:
		return actQ8_0, true
	case core.Q4_1, core.Q5_1:
		return actQ8_1, true
	case core.Q2_K, core.Q3_K, core.Q4_K, core.Q5_K, core.Q6_K, core.IQ4_XS:
		return actQ8_K, true
	}
	return 0, false
}
