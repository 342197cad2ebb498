package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
)

func TestMatMulFast(t *testing.T) {
	t.Logf("best kernel set: %s", kernels.name)
	for _, ks := range runnableKernels() {
		if ks != genericKernels { // TestMatMulGeneric covers it
			t.Run(ks.name, func(t *testing.T) { testMatMul(t, ks) })
		}
	}
}

// halfOffsets lists the byte offsets of the fp16 scale fields in a block.
var halfOffsets = map[core.DType][]int{
	core.Q4_0: {0}, core.Q4_1: {0, 2}, core.Q5_0: {0}, core.Q5_1: {0, 2}, core.Q8_0: {0},
	core.IQ4_NL: {0}, core.Q2_K: {80, 82}, core.Q3_K: {108}, core.Q4_K: {0, 2}, core.Q5_K: {0, 2},
	core.Q6_K: {208}, core.IQ4_XS: {0},
}

// randomBlocks fills rows of typ with random bytes — every bit pattern of
// quants and sub-scales — but finite fp16 scales in [-1, 1].
func randomBlocks(r *rand.Rand, typ core.DType, k int) []byte {
	size, blck := dtype.TypeSize(typ), dtype.BlockSize(typ)
	b := make([]byte, k/blck*size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	switch typ {
	case core.F32:
		for j := range k {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(float32(r.NormFloat64())))
		}
	case core.F16, core.BF16:
		for j := range k {
			v := float32(r.NormFloat64())
			h := F32ToF16(v)
			if typ == core.BF16 {
				h = F32ToBF16(v)
			}
			binary.LittleEndian.PutUint16(b[2*j:], h)
		}
	default:
		for blk := 0; blk < len(b); blk += size {
			for _, off := range halfOffsets[typ] {
				binary.LittleEndian.PutUint16(b[blk+off:], F32ToF16(float32(r.Float64()*2-1)))
			}
		}
	}
	return b
}

// TestFastKernelsMatchGeneric runs every accelerated kernel against the
// portable one on random bit patterns and random activations, for row
// lengths that exercise the unrolled loops and their tails.
func TestFastKernelsMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for typ := range kernels.accel {
		fast, slow := kernels.dot[typ], genericDots[typ]
		kind, _ := actKindOf(typ)
		for _, k := range []int{32, 64, 96, 256, 352, 416, 512, 768, 1280, 4096, 40, 7} {
			if k%dtype.BlockSize(typ) != 0 || k%kind.block() != 0 {
				continue
			}
			t.Run(fmt.Sprintf("%s/k=%d", dtype.Name(typ), k), func(t *testing.T) {
				for trial := range 8 {
					w := randomBlocks(r, typ, k)
					x := make([]float32, 2*k)
					for i := range x {
						x[i] = float32(r.NormFloat64())
						if trial%5 == 0 && i%7 == 0 {
							x[i] *= 1000 // a few outliers stretch the activation scale
						}
					}
					var a acts
					a.prepare(kind, x, 2, k)
					for i := range 2 {
						got, want := fast(w, &a, i), slow(w, &a, i)
						if !closeDot(got, want, w, typ, &a, i) {
							t.Fatalf("trial %d row %d: fast %v, generic %v", trial, i, got, want)
						}
					}
				}
			})
		}
	}
}

// closeDot accepts a difference of a few float32 roundings of the terms'
// magnitude (the kernels sum in a different order).
func closeDot(got, want float32, w []byte, typ core.DType, a *acts, i int) bool {
	wf := make([]float32, a.k)
	if err := Dequantize(wf, typ, w); err != nil {
		return false
	}
	var mag float64
	for j := range wf {
		var av float64
		if a.kind <= actBF16 {
			av = float64(a.f[i*a.k+j])
		} else {
			av = float64(a.q[i*a.k+j]) * float64(a.d[(i*a.k+j)/a.kind.block()])
		}
		mag += math.Abs(float64(wf[j]) * av)
	}
	return math.Abs(float64(got)-float64(want)) <= 1e-5*mag+1e-6
}

// TestFourTokenKernels checks every four-token kernel against the one-token
// kernel of the same type on random bit patterns.
func TestFourTokenKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, ks := range runnableKernels() {
		for typ, dot4 := range ks.dot4 {
			testFourToken(t, r, ks, typ, dot4)
		}
	}
}

func testFourToken(t *testing.T, r *rand.Rand, ks *kernelSet, typ core.DType, dot4 dot4Func) {
	kind, _ := actKindOf(typ)
	for _, k := range []int{256, 512, 1024} {
		t.Run(fmt.Sprintf("%s/%s/k=%d", ks.name, dtype.Name(typ), k), func(t *testing.T) {
			for range 10 {
				w := randomBlocks(r, typ, k)
				const n = 9 // two groups and a tail row
				x := make([]float32, n*k)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				var a acts
				a.prepare(kind, x, n, k)
				a.prepareGroups(ks.corr, ks.dx)
				if a.groups != 2 {
					t.Fatalf("%d groups, want 2", a.groups)
				}
				for g := range a.groups {
					var four [4]float32
					dot4(w, &a, g, &four)
					for tok, got := range four {
						want := genericDots[typ](w, &a, 4*g+tok)
						if !closeDot(got, want, w, typ, &a, 4*g+tok) {
							t.Fatalf("group %d token %d: four-token kernel %v, generic %v", g, tok, got, want)
						}
					}
				}
			}
		})
	}
}

// TestRowKernels checks the kernels over several consecutive rows against
// the one-row kernel of their set (bit for bit: each row must be the same
// computation) and the portable one, for row counts and lengths that
// exercise the unrolled block loops, their tails and the step between rows.
func TestRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, ks := range runnableKernels() {
		for typ, rows := range ks.rows {
			kind, _ := actKindOf(typ)
			for _, k := range []int{32, 96, 288, 544, 576, 256, 512, 2048} {
				if k%dtype.BlockSize(typ) != 0 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/k=%d", ks.name, dtype.Name(typ), k), func(t *testing.T) {
					size := len(randomBlocks(r, typ, k))
					for _, nrows := range []int{1, 2, 3, 7} {
						w := randomBlocks(r, typ, k*nrows)
						x := make([]float32, 2*k)
						for i := range x {
							x[i] = float32(r.NormFloat64())
						}
						var a acts
						a.prepare(kind, x, 2, k)
						for i := range 2 {
							out := make([]float32, nrows)
							rows(w, &a, i, out)
							for row, got := range out {
								wr := w[row*size : (row+1)*size]
								if one := ks.dot[typ](wr, &a, i); math.Float32bits(got) != math.Float32bits(one) {
									t.Fatalf("%d rows, token %d, row %d: %v, one-row kernel %v", nrows, i, row, got, one)
								}
								if want := genericDots[typ](wr, &a, i); !closeDot(got, want, wr, typ, &a, i) {
									t.Fatalf("%d rows, token %d, row %d: %v, generic %v", nrows, i, row, got, want)
								}
							}
						}
					}
				})
			}
		}
	}
}
