package transformer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fmaExact is a float32 FMA rounded once, the oracle for the assembly
// kernels (fma32 may round twice).
func fmaExact(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// expVecExact is expVec with single-rounding FMAs, as ggml_v_expf
// computes it on the CPU.
func expVecExact(x float32) float32 {
	const shift = float32(0x1.8p23)
	z := fmaExact(x, 0x1.715476p+0, shift)
	n := z - shift
	b := fmaExact(-n, 0x1.7f7d1cp-20, fmaExact(-n, 0x1.62e4p-1, x))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := b * b
	j := fmaExact(fmaExact(fmaExact(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fmaExact(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u, 0x1.ffffecp-1*b)
	if abs := math.Abs(float64(n)); abs <= 126 {
		return fmaExact(j, k, k)
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
	return fmaExact(s2, j, s2) * s1
}

// TestSwiGLU checks swiglu bit for bit against the single-rounding form of
// ggml's SiLU·up, over normal activations, the ranges where exp's scaling
// takes its two-step and overflow paths, and lengths with a tail, and
// checks that the portable form stays within an ulp of it.
func TestSwiGLU(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	var gate []float32
	for range 4000 {
		gate = append(gate, float32(r.NormFloat64()*4))
	}
	for range 2000 {
		gate = append(gate, float32((r.Float64()*2-1)*150)) // |x·log2 e| past 126 and 192
	}
	for _, v := range []float32{0, -0, 1e-30, -1e-30, 87.3, -87.3, 88.7, -88.7, 89, -89, 103, -103, 104, -104, 133, -133, 134, -134, 1000, -1000} {
		gate = append(gate, v)
	}
	for len(gate)%8 != 5 {
		gate = append(gate, float32(r.NormFloat64()))
	}
	up := make([]float32, len(gate))
	for i := range up {
		up[i] = float32(r.NormFloat64())
	}
	for _, n := range []int{len(gate), 8, 13, 3} {
		got := make([]float32, n)
		swiglu(got, gate[:n], up[:n])
		portable := make([]float32, n)
		swigluGo(portable, gate[:n], up[:n])
		for i, g := range gate[:n] {
			want := g / (1 + expVecExact(-g)) * up[i]
			if hasActAVX2 && i < n&^7 { // the tail goes through swigluGo
				if math.Float32bits(got[i]) != math.Float32bits(want) {
					t.Fatalf("n=%d, gate %v, up %v: %v, want %v", n, g, up[i], got[i], want)
				}
			}
			if d := math.Abs(float64(portable[i]) - float64(want)); d > 2*ulp32(want) {
				t.Fatalf("portable: gate %v, up %v: %v, want %v", g, up[i], portable[i], want)
			}
		}
	}
}

// ulp32 is the spacing of float32 values at x.
func ulp32(x float32) float64 {
	a := math.Abs(float64(x))
	if a == 0 || math.IsInf(a, 0) {
		return 0
	}
	return float64(math.Nextafter32(float32(a), float32(math.Inf(1)))) - a
}
