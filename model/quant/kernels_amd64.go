//go:build !purego

package quant

import (
	"maps"

	"github.com/pensieve-llm/pensieve/core"
	"golang.org/x/sys/cpu"
)

// The AVX2 kernels of dot_amd64.s. Pointers must cover the lengths given;
// the wrappers below guarantee it.

//go:noescape
func quantizeQ8KAVX2(x *float32, q *int8, bs *int16) float32

// quantizeQ8KBlock is quantizeQ8K, in assembly where it can run.
func quantizeQ8KBlock(q []int8, bs []int16, x []float32) float32 {
	if !hasAVX2 {
		return quantizeQ8K(q, bs, x)
	}
	_, _, _ = q[255], bs[15], x[255]
	return quantizeQ8KAVX2(&x[0], &q[0], &bs[0])
}

//go:noescape
func quantizeQ8_0AVX2(x *float32, q *int8, d *float32, nb int)

// quantizeQ8_0Blocks quantizes whole blocks of 32 of x into q and d as
// quantizeQ8x86 does, in assembly where it can run.
func quantizeQ8_0Blocks(q []int8, d []float32, x []float32) {
	nb := len(x) / 32
	if !hasAVX2 || nb == 0 {
		for b := range nb {
			quantizeQ8x86(q[32*b:32*b+32], &d[b], x[32*b:32*b+32])
		}
		return
	}
	_, _ = q[32*nb-1], d[nb-1]
	quantizeQ8_0AVX2(&x[0], &q[0], &d[0], nb)
}

//go:noescape
func dotF32AVX2(w *byte, x *float32, n int) float32

//go:noescape
func dotF16AVX2(w *byte, x *float32, n int) float32

//go:noescape
func dotQ8_0RowsAVX2(w *byte, q *int8, d *float32, nb int, out *float32, rows int)

//go:noescape
func dotQ4_0AVX2(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ4_KRowsAVX2(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32, rows int)

//go:noescape
func dotQ6_KRowsAVX2(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32, rows int)

//go:noescape
func dotBF16AVX2(w *byte, x *float32, n int) float32

//go:noescape
func dotIQ4_NLAVX2(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ5_0RowsAVX2(w *byte, q *int8, d *float32, nb int, out *float32, rows int)

//go:noescape
func dotQ4_1AVX2(w *byte, q *int8, d *float32, s *float32, nb int) float32

//go:noescape
func dotQ5_1AVX2(w *byte, q *int8, d *float32, s *float32, nb int) float32

//go:noescape
func dotQ5_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ3_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ2_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotIQ4_XSAVX2(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ8_0AVX2x4(w *byte, q *int8, d *float32, nb int, out *float32)

//go:noescape
func dotQ4_0AVX2x4(w *byte, q *int8, d *float32, nb int, out *float32)

//go:noescape
func dotQ4_KAVX2x4(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32)

//go:noescape
func dotQ5_KAVX2x4(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32)

//go:noescape
func dotQ6_KAVX2x4(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32)

//go:noescape
func dotQ8_0VNNIx4(w *byte, q *int8, d *float32, corr *int32, nb int, out *float32)

//go:noescape
func dotQ8_0VNNIx4Z(w *byte, q *int8, dx *float32, corr *int32, nb int, out *float32)

//go:noescape
func dotQ4_0VNNIx4(w *byte, q *int8, d *float32, corr *int32, nb int, out *float32)

// hasAVX2 reports whether the AVX2 kernels can run: AVX2 and FMA (every
// such CPU also has F16C, which the fp16 scale loads use). hasVNNI adds
// the AVX-512 VNNI four-token kernels (EVEX-encoded on 256-bit registers).
var (
	hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasVNNI = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI
	// hasVNNI512 adds the 512-bit two-tokens-per-register Q8_0 kernel.
	hasVNNI512 = hasVNNI && cpu.X86.HasAVX512DQ
)

var (
	avx2Kernels    = withRows(mergeKernels("avx2", avx2Dots, avx2Dots4), avx2Rows)
	vnniKernels    = withVNNI(avx2Kernels)
	vnni512Kernels = withVNNI512(vnniKernels)
)

// withVNNI returns ks with the VNNI four-token kernels for Q8_0 and Q4_0.
func withVNNI(ks *kernelSet) *kernelSet {
	v := *ks
	v.name = "avx2+avx512vnni"
	v.dot4 = map[core.DType]dot4Func{
		core.Q8_0: func(w []byte, a *acts, g int, out *[4]float32) { groupVNNI(dotQ8_0VNNIx4, 34, w, a, g, out) },
		core.Q4_0: func(w []byte, a *acts, g int, out *[4]float32) { groupVNNI(dotQ4_0VNNIx4, 18, w, a, g, out) },
	}
	for t, f := range ks.dot4 {
		if v.dot4[t] == nil {
			v.dot4[t] = f
		}
	}
	v.corr = true
	return &v
}

// withVNNI512 returns ks with the 512-bit four-token Q8_0 kernel.
func withVNNI512(ks *kernelSet) *kernelSet {
	v := *ks
	v.name = "avx2+avx512vnni-512"
	v.dot4 = maps.Clone(ks.dot4)
	v.dot4[core.Q8_0] = func(w []byte, a *acts, g int, out *[4]float32) {
		nb := a.k / 32
		q := a.gq[g*4*a.k : (g+1)*4*a.k]
		dx := a.gdx[g*nb*32 : (g+1)*nb*32]
		corr := a.gcorr[g*a.k : (g+1)*a.k]
		_ = w[34*nb-1]
		dotQ8_0VNNIx4Z(&w[0], &q[0], &dx[0], &corr[0], nb, &out[0])
	}
	v.dx = true
	return &v
}

func bestKernels() *kernelSet {
	switch {
	case hasVNNI512:
		return vnni512Kernels
	case hasVNNI:
		return vnniKernels
	case hasAVX2:
		return avx2Kernels
	}
	return genericKernels
}

// runnableKernels lists every kernel set this CPU can run, for tests.
func runnableKernels() []*kernelSet {
	ks := []*kernelSet{genericKernels}
	if hasAVX2 {
		ks = append(ks, avx2Kernels)
	}
	if hasVNNI {
		ks = append(ks, vnniKernels)
	}
	if hasVNNI512 {
		ks = append(ks, vnni512Kernels)
	}
	return ks
}

var avx2Dots = map[core.DType]dotFunc{
	core.F32:  dotF32Fast,
	core.F16:  dotF16Fast,
	core.Q8_0: dotQ8_0Fast,
	core.Q4_0: dotQ4_0Fast,
	core.Q4_K: dotQ4_KFast,
	core.Q6_K: dotQ6_KFast,

	core.BF16:   dotBF16Fast,
	core.IQ4_NL: dotIQ4_NLFast,
	core.Q5_0:   dotQ5_0Fast,
	core.Q4_1:   dotQ4_1Fast,
	core.Q5_1:   dotQ5_1Fast,
	core.Q5_K:   dotQ5_KFast,
	core.Q3_K:   dotQ3_KFast,
	core.Q2_K:   dotQ2_KFast,
	core.IQ4_XS: dotIQ4_XSFast,
}

// The float kernels take multiples of 32 elements; the tail (rows of other
// lengths) is finished in Go.

func dotF32Fast(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.k : (i+1)*a.k]
	m := len(x) &^ 31
	var s float32
	if m > 0 {
		_ = w[4*m-1]
		s = dotF32AVX2(&w[0], &x[0], m)
	}
	for j := m; j < len(x); j++ {
		s += float32(f32At(w, j) * x[j])
	}
	return s
}

func dotF16Fast(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.k : (i+1)*a.k]
	m := len(x) &^ 31
	var s float32
	if m > 0 {
		_ = w[2*m-1]
		s = dotF16AVX2(&w[0], &x[0], m)
	}
	for j := m; j < len(x); j++ {
		s += float32(F16ToF32(uint16(w[2*j])|uint16(w[2*j+1])<<8) * x[j])
	}
	return s
}

func dotQ8_0Fast(w []byte, a *acts, i int) float32 {
	var s [1]float32
	rowsQ8_0Fast(w, a, i, s[:])
	return s[0]
}

func dotQ4_0Fast(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	_ = w[18*len(d)-1]
	return dotQ4_0AVX2(&w[0], &q[0], &d[0], len(d))
}

func dotQ4_KFast(w []byte, a *acts, i int) float32 {
	var s [1]float32
	rowsQ4_KFast(w, a, i, s[:])
	return s[0]
}

func dotQ6_KFast(w []byte, a *acts, i int) float32 {
	var s [1]float32
	rowsQ6_KFast(w, a, i, s[:])
	return s[0]
}

// withRows returns ks with the kernels over several rows.
func withRows(ks *kernelSet, rows map[core.DType]rowsFunc) *kernelSet {
	ks.rows = rows
	return ks
}

// avx2Rows are the kernels that run over several consecutive weight rows
// in one call.
var avx2Rows = map[core.DType]rowsFunc{
	core.Q8_0: rowsQ8_0Fast,
	core.Q4_K: rowsQ4_KFast,
	core.Q6_K: rowsQ6_KFast,
	core.Q5_0: rowsQ5_0Fast,
}

func rowsQ8_0Fast(w []byte, a *acts, i int, out []float32) {
	q, d := a.rowQ(i, 32)
	_ = w[len(out)*34*len(d)-1]
	dotQ8_0RowsAVX2(&w[0], &q[0], &d[0], len(d), &out[0], len(out))
}

func rowsQ4_KFast(w []byte, a *acts, i int, out []float32) {
	q, d := a.rowQ(i, 256)
	_ = w[len(out)*144*len(d)-1]
	dotQ4_KRowsAVX2(&w[0], &q[0], &d[0], &a.rowBsums(i)[0], len(d), &out[0], len(out))
}

func rowsQ6_KFast(w []byte, a *acts, i int, out []float32) {
	q, d := a.rowQ(i, 256)
	_ = w[len(out)*210*len(d)-1]
	dotQ6_KRowsAVX2(&w[0], &q[0], &d[0], &a.rowBsums(i)[0], len(d), &out[0], len(out))
}

func dotBF16Fast(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.k : (i+1)*a.k]
	m := len(x) &^ 31
	var s float32
	if m > 0 {
		_ = w[2*m-1]
		s = dotBF16AVX2(&w[0], &x[0], m)
	}
	for j := m; j < len(x); j++ {
		s += float32(BF16ToF32(uint16(w[2*j])|uint16(w[2*j+1])<<8) * x[j])
	}
	return s
}

// q32 is the shared wrapper of the kernels over 32-element blocks paired
// with Q8_0 activations.
func q32(kernel func(w *byte, q *int8, d *float32, nb int) float32, size int, w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	_ = w[size*len(d)-1]
	return kernel(&w[0], &q[0], &d[0], len(d))
}

func dotIQ4_NLFast(w []byte, a *acts, i int) float32 { return q32(dotIQ4_NLAVX2, 18, w, a, i) }

func dotQ5_0Fast(w []byte, a *acts, i int) float32 {
	var s [1]float32
	rowsQ5_0Fast(w, a, i, s[:])
	return s[0]
}

func rowsQ5_0Fast(w []byte, a *acts, i int, out []float32) {
	q, d := a.rowQ(i, 32)
	_ = w[len(out)*22*len(d)-1]
	dotQ5_0RowsAVX2(&w[0], &q[0], &d[0], len(d), &out[0], len(out))
}

// q32s wraps the kernels over 32-element blocks paired with Q8_1.
func q32s(kernel func(w *byte, q *int8, d, s *float32, nb int) float32, size int, w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	s := a.s[i*len(d) : (i+1)*len(d)]
	_ = w[size*len(d)-1]
	return kernel(&w[0], &q[0], &d[0], &s[0], len(d))
}

func dotQ4_1Fast(w []byte, a *acts, i int) float32 { return q32s(dotQ4_1AVX2, 20, w, a, i) }
func dotQ5_1Fast(w []byte, a *acts, i int) float32 { return q32s(dotQ5_1AVX2, 24, w, a, i) }

// qk wraps the kernels over 256-element blocks paired with Q8_K.
func qk(kernel func(w *byte, q *int8, d *float32, bs *int16, nb int) float32, size int, w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	_ = w[size*len(d)-1]
	return kernel(&w[0], &q[0], &d[0], &a.rowBsums(i)[0], len(d))
}

func dotQ5_KFast(w []byte, a *acts, i int) float32 { return qk(dotQ5_KAVX2, 176, w, a, i) }
func dotQ3_KFast(w []byte, a *acts, i int) float32 { return qk(dotQ3_KAVX2, 110, w, a, i) }
func dotQ2_KFast(w []byte, a *acts, i int) float32 { return qk(dotQ2_KAVX2, 84, w, a, i) }

func dotIQ4_XSFast(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	_ = w[136*len(d)-1]
	return dotIQ4_XSAVX2(&w[0], &q[0], &d[0], len(d))
}

var avx2Dots4 = map[core.DType]dot4Func{
	core.Q8_0: func(w []byte, a *acts, g int, out *[4]float32) { group32(dotQ8_0AVX2x4, 34, w, a, g, out) },
	core.Q4_0: func(w []byte, a *acts, g int, out *[4]float32) { group32(dotQ4_0AVX2x4, 18, w, a, g, out) },
	core.Q4_K: func(w []byte, a *acts, g int, out *[4]float32) { groupK(dotQ4_KAVX2x4, 144, w, a, g, out) },
	core.Q5_K: func(w []byte, a *acts, g int, out *[4]float32) { groupK(dotQ5_KAVX2x4, 176, w, a, g, out) },
	core.Q6_K: func(w []byte, a *acts, g int, out *[4]float32) { groupK(dotQ6_KAVX2x4, 210, w, a, g, out) },
}

// group32 wraps a four-token kernel over 32-element blocks (Q8_0 groups).
func group32(kernel func(w *byte, q *int8, d *float32, nb int, out *float32), size int, w []byte, a *acts, g int, out *[4]float32) {
	nb := a.k / 32
	q, d := a.gq[g*4*a.k:(g+1)*4*a.k], a.gd[g*4*nb:(g+1)*4*nb]
	_ = w[size*nb-1]
	kernel(&w[0], &q[0], &d[0], nb, &out[0])
}

// groupK wraps a four-token kernel over 256-element blocks (Q8_K groups).
func groupK(kernel func(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32), size int, w []byte, a *acts, g int, out *[4]float32) {
	nb := a.k / 256
	q, d := a.gq[g*4*a.k:(g+1)*4*a.k], a.gd[g*4*nb:(g+1)*4*nb]
	bs := a.gbs[g*4*a.k/16 : (g+1)*4*a.k/16]
	_ = w[size*nb-1]
	kernel(&w[0], &q[0], &d[0], &bs[0], nb, &out[0])
}

// groupVNNI wraps a VNNI four-token kernel over 32-element blocks.
func groupVNNI(kernel func(w *byte, q *int8, d *float32, corr *int32, nb int, out *float32), size int, w []byte, a *acts, g int, out *[4]float32) {
	nb := a.k / 32
	q, d := a.gq[g*4*a.k:(g+1)*4*a.k], a.gd[g*4*nb:(g+1)*4*nb]
	corr := a.gcorr[g*a.k : (g+1)*a.k]
	_ = w[size*nb-1]
	kernel(&w[0], &q[0], &d[0], &corr[0], nb, &out[0])
}
