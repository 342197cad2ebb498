//go:build !purego

package transformer

import "golang.org/x/sys/cpu"

//go:noescape
func attnScoresAVX2(q *float32, k *uint16, stride, n, hd int, out *float32)

//go:noescape
func attnAccumAVX2(acc *float32, v *uint16, stride, n, hd int, w, ms *float32)

// hasAttnAVX2 reports whether the assembly attention kernels can run.
var hasAttnAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// attnScores sets out[c] = q·k[c·stride:][:len(q)] for c < len(out), with
// ggml's AVX2 summation order (see dotF16).
func attnScores(out, q []float32, k []uint16, stride int, half *[1 << 16]float32) {
	n, hd := len(out), len(q)
	if n == 0 {
		return
	}
	if !hasAttnAVX2 || hd%32 != 0 {
		attnScoresGo(out, q, k, stride, half)
		return
	}
	_ = k[(n-1)*stride+hd-1]
	attnScoresAVX2(&q[0], &k[0], stride, n, hd, &out[0])
}

// attnAccum updates the fp16-exact accumulator acc for the len(w) cells
// of v (see attnAccumGo).
func attnAccum(acc []float32, v []uint16, stride int, w, ms []float32, half *[1 << 16]float32) {
	n, hd := len(w), len(acc)
	if n == 0 {
		return
	}
	if !hasAttnAVX2 || hd%32 != 0 {
		attnAccumGo(acc, v, stride, w, ms, half)
		return
	}
	_ = v[(n-1)*stride+hd-1]
	_ = ms[n-1]
	attnAccumAVX2(&acc[0], &v[0], stride, n, hd, &w[0], &ms[0])
}

//go:noescape
func expAVX2(dst, src *float32, n int)

// expRow sets dst[i] = e^src[i] (rounded to float32) for i < len(dst);
// values above 0 must stay below ~88.
func expRow(dst, src []float32) {
	n := len(dst) &^ 3
	if hasAttnAVX2 && n > 0 {
		_ = src[n-1]
		expAVX2(&dst[0], &src[0], n)
	} else {
		n = 0
	}
	for i := n; i < len(dst); i++ {
		dst[i] = exp32(src[i])
	}
}
