package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// BenchmarkMatVecShapes measures one-token products on the row lengths of
// the bench models (576: SmolLM2-135M, 2048 and 8192: Llama-3.2-1B) for
// the types their files use (SmolLM2's Q4_K_M is mostly Q5_0), on a matrix that stays in the caches (4 MiB)
// and on one streamed from memory (256 MiB), so that the cost per row shows
// next to the cost per byte. MB/cpu-s is the rate per CPU second used, which
// a shared machine's load disturbs much less than the wall-clock rate (with
// 2 threads it counts the workers' waiting too).
func BenchmarkMatVecShapes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []core.DType{core.Q4_K, core.Q6_K, core.Q8_0, core.Q5_0} {
		for _, k := range []int{576, 2048, 8192} {
			if k%dtype.BlockSize(typ) != 0 {
				continue
			}
			x := randNormal(3, k)
			tile := randomBlocks(r, typ, k*64)
			for _, size := range []int{4 << 20, 256 << 20} {
				rows := size / (len(tile) / 64) / 64 * 64
				data := make([]byte, rows*(len(tile)/64))
				for off := 0; off < len(data); off += len(tile) {
					copy(data[off:], tile)
				}
				w := &core.Tensor{Name: "bench", Type: typ, Shape: []int{k, rows}, Data: data}
				out := make([]float32, rows)
				for _, threads := range []int{1, 2} {
					b.Run(fmt.Sprintf("%s/k=%d/%dMiB/threads=%d", typeNameForTest(typ), k, size>>20, threads), func(b *testing.B) {
						p := parallel.New(threads)
						defer p.Close()
						b.SetBytes(int64(len(data)))
						cpu0 := cpuSeconds()
						for b.Loop() {
							if err := MatMul(out, w, x, 1, p); err != nil {
								b.Fatal(err)
							}
						}
						cpu := cpuSeconds() - cpu0
						if cpu > 0 {
							b.ReportMetric(float64(b.N)*float64(len(data))/cpu/1e6, "MB/cpu-s")
						}
					})
				}
			}
		}
	}
}

// BenchmarkActQuant measures the conversion of one activation row of 8192
// (a decode step's FFN width) to Q8_K and Q8_0, done on the caller before
// every one-token product.
func BenchmarkActQuant(b *testing.B) {
	x := randNormal(4, 8192)
	for _, kind := range []actKind{actQ8_K, actQ8_0} {
		b.Run(fmt.Sprintf("kind=%d", kind), func(b *testing.B) {
			var a acts
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				a.prepare(kind, x, 1, len(x))
			}
		})
	}
}
