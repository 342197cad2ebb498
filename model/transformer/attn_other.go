//go:build !amd64 || purego

package transformer

func attnScores(out, q []float32, k []uint16, stride int, half *[1 << 16]float32) {
	attnScoresGo(out, q, k, stride, half)
}

func attnAccum(acc []float32, v []uint16, stride int, w, ms []float32, half *[1 << 16]float32) {
	attnAccumGo(acc, v, stride, w, ms, half)
}

func expRow(dst, src []float32) {
	for i, x := range src[:len(dst)] {
		dst[i] = exp32(x)
	}
}
