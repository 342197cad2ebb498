//go:build !purego

package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

// TestVNNI512MatchesVNNI: the 512-bit Q8_0 four-token kernel gives the
// same bits as the 256-bit one.
func TestVNNI512MatchesVNNI(t *testing.T) {
	if !hasVNNI512 {
		t.Skip("no AVX-512 VNNI and DQ")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range []int{32, 96, 576, 2048} {
		w := randomBlocks(r, core.Q8_0, k)
		const n = 8
		x := make([]float32, n*k)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		var a acts
		a.prepare(actQ8_0, x, n, k)
		a.prepareGroups(true, true)
		for g := range a.groups {
			var got, want [4]float32
			vnni512Kernels.dot4[core.Q8_0](w, &a, g, &got)
			vnniKernels.dot4[core.Q8_0](w, &a, g, &want)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("k=%d group %d token %d: %v, want %v", k, g, i, got[i], want[i])
				}
			}
		}
	}
}
