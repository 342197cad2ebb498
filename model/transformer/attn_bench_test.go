package transformer

import (
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/model/quant"
)

// BenchmarkAttnKernels times the score and accumulate kernels of one head
// (head size 64) over a block of cells; ns/op is per block.
func BenchmarkAttnKernels(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const hd, n, stride = 64, attnBlock, 192
	kv := make([]uint16, n*stride)
	for i := range kv {
		kv[i] = quant.F32ToF16(float32(r.NormFloat64()))
	}
	q, acc := make([]float32, hd), make([]float32, hd)
	w, ms := make([]float32, n), make([]float32, n)
	for i := range w {
		w[i], ms[i] = float32(r.Float64()), 1
	}
	ms[0], ms[5] = 0.5, 0.25
	half := halfTable()
	b.Run("scores", func(b *testing.B) {
		for b.Loop() {
			attnScores(w, q, kv, stride, half)
		}
	})
	for i := range w {
		w[i] = float32(r.Float64())
	}
	b.Run("accum", func(b *testing.B) {
		for b.Loop() {
			attnAccum(acc, kv, stride, w, ms, half)
		}
	})
}
