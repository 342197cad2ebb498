package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// BenchmarkMatVecSmall measures one-token products with the shapes of a
// small model (SmolLM2-135M: 576 wide, 1536 FFN) whose weights stay in the
// last-level cache, for each kernel set.
func BenchmarkMatVecSmall(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, shape := range [][2]int{{576, 1536}, {1536, 576}, {576, 49152}} {
		k, rows := shape[0], shape[1]
		x := randNormal(3, k)
		w := &core.Tensor{Name: "bench", Type: core.Q8_0, Shape: []int{k, rows}, Data: randomBlocks(r, core.Q8_0, k*rows)}
		out := make([]float32, rows)
		for _, ks := range runnableKernels()[1:] {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%dx%d/%s/threads=%d", rows, k, ks.name, threads), func(b *testing.B) {
					p := parallel.New(threads)
					defer p.Close()
					b.SetBytes(int64(len(w.Data)))
					for b.Loop() {
						if err := matMul(out, w, x, 1, p, ks); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
