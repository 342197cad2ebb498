//go:build !purego

package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestQuantizeQ8KAssembly checks the assembly Q8_K block quantization bit
// for bit against quantizeQ8K: random blocks, blocks where +m and −m are
// both the largest magnitude (the first one decides the sign), values on
// rounding ties, a single non-zero value and all zeros.
func TestQuantizeQ8KAssembly(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(5, 5))
	var blocks [][]float32
	for trial := range 200 {
		x := make([]float32, 256)
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Pow(10, float64(trial%7-3)))
		}
		switch trial % 5 {
		case 1: // ±m tie, either order
			i, j := r.IntN(256), r.IntN(256)
			x[i], x[j] = 9, -9
		case 2: // rounding ties: iscale = −127/−127 = 1, values k + 0.5
			for i := range x {
				x[i] = float32(r.IntN(254)-127) + 0.5
			}
			x[r.IntN(256)] = -127
		case 3: // one non-zero value
			clear(x)
			x[r.IntN(256)] = float32(r.NormFloat64())
		}
		blocks = append(blocks, x)
	}
	blocks = append(blocks, make([]float32, 256))
	for n, x := range blocks {
		wq, gq := make([]int8, 256), make([]int8, 256)
		wbs, gbs := make([]int16, 16), make([]int16, 16)
		for i := range gq {
			gq[i] = 55 // must be overwritten
		}
		want := quantizeQ8K(wq, wbs, x)
		got := quantizeQ8KBlock(gq, gbs, x)
		if math.Float32bits(got) != math.Float32bits(want) || !slices.Equal(gq, wq) || !slices.Equal(gbs, wbs) {
			t.Fatalf("block %d: d %v, want %v; quants equal %v, sums %v want %v", n, got, want, slices.Equal(gq, wq), gbs, wbs)
		}
	}
}

// TestQuantizeQ8_0Assembly checks the assembly Q8_0 activation
// quantization bit for bit against quantizeQ8x86, over rows of several
// blocks with all-zero blocks, rounding ties and fp16 scale edge cases.
func TestQuantizeQ8_0Assembly(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(6, 6))
	for trial := range 100 {
		nb := 1 + trial%19
		x := make([]float32, 32*nb)
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Pow(10, float64(trial%9-4)))
		}
		switch trial % 4 {
		case 1:
			clear(x[:32]) // a zero block
		case 2:
			for i := range x[:32] { // ties: id = 1
				x[i] = float32(r.IntN(254)-127) + 0.5
			}
			x[0] = 127
		case 3:
			x[5] = 1e-6 * float32(r.NormFloat64()) // tiny scales: fp16 subnormal or zero
		}
		wq, gq := make([]int8, len(x)), make([]int8, len(x))
		wd, gd := make([]float32, nb), make([]float32, nb)
		for b := range nb {
			quantizeQ8x86(wq[32*b:32*b+32], &wd[b], x[32*b:32*b+32])
		}
		quantizeQ8_0Blocks(gq, gd, x)
		if !slices.Equal(gq, wq) || !slices.EqualFunc(gd, wd, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Fatalf("trial %d (%d blocks): scales %v, want %v; quants equal %v", trial, nb, gd, wd, slices.Equal(gq, wq))
		}
	}
}
