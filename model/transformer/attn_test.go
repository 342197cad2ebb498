package transformer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/model/quant"
)

// TestAttnKernelsMatchGo checks the attention kernels in use (assembly on
// amd64) bit for bit against the portable Go ones, for head sizes with and
// without an assembly path and for rescales between cells.
func TestAttnKernelsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	half := halfTable()
	f16 := func(x float64) uint16 { return quant.F32ToF16(float32(x)) }
	for _, hd := range []int{32, 64, 80, 96, 128, 256} {
		for _, n := range []int{1, 7, 128} {
			stride := 3*hd + 16
			k := make([]uint16, n*stride)
			for i := range k {
				k[i] = f16(r.NormFloat64() * 2)
			}
			q := make([]float32, hd)
			for i := range q {
				q[i] = roundF16(float32(r.NormFloat64()))
			}
			got, want := make([]float32, n), make([]float32, n)
			attnScores(got, q, k, stride, half)
			attnScoresGo(want, q, k, stride, half)
			for c := range n {
				if math.Float32bits(got[c]) != math.Float32bits(want[c]) {
					t.Fatalf("hd %d, n %d: score %d = %g, want %g", hd, n, c, got[c], want[c])
				}
			}

			w, ms := make([]float32, n), make([]float32, n)
			for c := range n {
				w[c], ms[c] = float32(r.Float64()), 1
				if r.IntN(4) == 0 {
					ms[c] = float32(r.Float64())
				}
			}
			accGot, accWant := make([]float32, hd), make([]float32, hd)
			for j := range accGot {
				accGot[j] = roundF16(float32(r.NormFloat64()))
				accWant[j] = accGot[j]
			}
			attnAccum(accGot, k, stride, w, ms, half)
			attnAccumGo(accWant, k, stride, w, ms, half)
			for j := range hd {
				if math.Float32bits(accGot[j]) != math.Float32bits(accWant[j]) {
					t.Fatalf("hd %d, n %d: acc[%d] = %g, want %g", hd, n, j, accGot[j], accWant[j])
				}
			}
		}
	}
}

// TestExpRow checks the vectorized exp against the float64 exp rounded to
// float32 (exp32) over the range attention uses (x ≤ 0), underflow and −Inf
// included: equal in all but a negligible share of cases, within one ulp.
func TestExpRow(t *testing.T) {
	var src []float32
	for x := float32(-120); x <= 0.5; x += 0.000373 {
		src = append(src, x)
	}
	src = append(src, float32(math.Inf(-1)), 0, -0.0, -87.33655, -103.97, -1e-30)
	dst := make([]float32, len(src))
	expRow(dst, src)
	diff := 0
	for i, x := range src {
		want := exp32(x)
		d := int64(math.Float32bits(dst[i])) - int64(math.Float32bits(want))
		if d < -1 || d > 1 {
			t.Fatalf("exp(%g) = %g, want %g", x, dst[i], want)
		}
		if d != 0 {
			diff++
		}
	}
	if diff > len(src)/100000 {
		t.Errorf("%d of %d values differ from the rounded float64 exp", diff, len(src))
	}
	t.Logf("%d of %d differ in the last bit", diff, len(src))
}
