package quant

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// matmulTypes are the weight types MatMul supports.
var matmulTypes = []core.DType{
	core.F32, core.F16, core.BF16, core.Q4_0, core.Q4_1, core.Q5_0, core.Q5_1, core.Q8_0,
	core.IQ4_NL, core.Q2_K, core.Q3_K, core.Q4_K, core.Q5_K, core.Q6_K, core.IQ4_XS,
}

// randTensor quantizes rows×k Gaussian values to typ.
func randTensor(t testing.TB, typ core.DType, rows, k int, seed uint64) *core.Tensor {
	t.Helper()
	data, err := Quantize(nil, typ, randNormal(seed, rows*k))
	if err != nil {
		t.Fatal(err)
	}
	return &core.Tensor{Name: "w", Type: typ, Shape: []int{k, rows}, Data: data}
}

// refMatMul computes x·wᵀ in float64 from the dequantized weights and the
// dequantized converted activations (what the kernels multiply exactly), and
// the sum of |w·a| terms per output for the tolerance.
func refMatMul(t *testing.T, w *core.Tensor, x []float32, n int) (ref, mag []float64) {
	t.Helper()
	k, rows := w.Shape[0], w.Rows()
	wf := make([]float32, rows*k)
	if err := Dequantize(wf, w.Type, w.Data); err != nil {
		t.Fatal(err)
	}
	kind, _ := actKindOf(w.Type)
	var a acts
	a.prepare(kind, x, n, k)
	af := make([]float64, n*k)
	for i := range af {
		switch kind {
		case actF32, actF16, actBF16:
			af[i] = float64(a.f[i])
		default:
			af[i] = float64(a.q[i]) * float64(a.d[i/kind.block()])
		}
	}
	ref, mag = make([]float64, n*rows), make([]float64, n*rows)
	for i := range n {
		for r := range rows {
			var s, m float64
			for j := range k {
				p := float64(wf[r*k+j]) * af[i*k+j]
				s += p
				m += math.Abs(p)
			}
			ref[i*rows+r], mag[i*rows+r] = s, m
		}
	}
	return ref, mag
}

// checkMatMul compares out with the float64 reference: the integer sums are
// exact, so only float32 scale products and accumulation differ — except
// the Q8_1 sum term, which ggml rounds to fp16 (spec §2.5).
func checkMatMul(t *testing.T, typ core.DType, out []float32, ref, mag []float64) {
	t.Helper()
	tol := 2e-6
	if typ == core.Q4_1 || typ == core.Q5_1 {
		tol = 2e-3
	}
	for i := range ref {
		if d := math.Abs(float64(out[i]) - ref[i]); d > tol*mag[i]+1e-6 || math.IsNaN(float64(out[i])) {
			t.Fatalf("output %d: got %v, want %v (|Σ|w·a|| = %v)", i, out[i], ref[i], mag[i])
		}
	}
}

func TestMatMulGeneric(t *testing.T) {
	testMatMul(t, genericKernels)
}

func testMatMul(t *testing.T, ks *kernelSet) {
	pool := parallel.New(3)
	defer pool.Close()
	for _, typ := range matmulTypes {
		for _, sz := range []struct{ rows, k, n int }{{5, 256, 1}, {37, 512, 3}, {8, 256, 70}} {
			t.Run(fmt.Sprintf("%s/%dx%dx%d", typeNameForTest(typ), sz.rows, sz.k, sz.n), func(t *testing.T) {
				w := randTensor(t, typ, sz.rows, sz.k, uint64(sz.rows))
				x := randNormal(uint64(sz.k+sz.n), sz.n*sz.k)
				ref, mag := refMatMul(t, w, x, sz.n)
				var first []float32
				for _, p := range []*parallel.Pool{nil, pool} {
					out := make([]float32, sz.n*sz.rows)
					if err := matMul(out, w, x, sz.n, p, ks); err != nil {
						t.Fatal(err)
					}
					checkMatMul(t, typ, out, ref, mag)
					// The pool changes who computes what, never the result.
					if first == nil {
						first = out
					} else if d := cmp.Diff(first, out); d != "" {
						t.Fatalf("pool and single-threaded results differ (-single +pool):\n%s", d)
					}
				}
			})
		}
	}
}

// TestMatMulAgainstFloat checks the pairing end to end against plain f32
// arithmetic on the dequantized weights: activation quantization adds noise
// of at most a few percent of the output's scale.
func TestMatMulAgainstFloat(t *testing.T) {
	const rows, k, n = 16, 512, 2
	x := randNormal(9, n*k)
	for _, typ := range matmulTypes {
		t.Run(typeNameForTest(typ), func(t *testing.T) {
			w := randTensor(t, typ, rows, k, 3)
			wf := make([]float32, rows*k)
			if err := Dequantize(wf, typ, w.Data); err != nil {
				t.Fatal(err)
			}
			out := make([]float32, n*rows)
			if err := MatMul(out, w, x, n, nil); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				for r := range rows {
					var s float64
					for j := range k {
						s += float64(wf[r*k+j]) * float64(x[i*k+j])
					}
					// Q8 activations: error ≈ 0.3 % of |w|·|x| ≈ 0.003·k.
					if d := math.Abs(float64(out[i*rows+r]) - s); d > 0.01*math.Sqrt(k)*3 {
						t.Fatalf("out[%d][%d] = %v, float reference %v", i, r, out[i*rows+r], s)
					}
				}
			}
		})
	}
}

func TestMatMulErrors(t *testing.T) {
	w := randTensor(t, core.Q4_K, 4, 256, 1)
	x := make([]float32, 256)
	out := make([]float32, 4)
	for _, c := range []struct {
		name string
		w    *core.Tensor
		x    []float32
		out  []float32
	}{
		{"nil weight", nil, x, out},
		{"no shape", &core.Tensor{Type: core.F32}, x, out},
		{"unsupported type", &core.Tensor{Type: core.I32, Shape: []int{4, 1}, Data: make([]byte, 16)}, x, out},
		{"activation type", &core.Tensor{Type: core.Q8_K, Shape: []int{256, 1}, Data: make([]byte, 292)}, x, out},
		{"partial block", &core.Tensor{Type: core.Q4_K, Shape: []int{128, 1}, Data: make([]byte, 144)}, x, out},
		{"short data", &core.Tensor{Type: core.Q4_K, Shape: []int{256, 4}, Data: w.Data[:500]}, x, out},
		{"short x", w, x[:100], out},
		{"short out", w, x, out[:3]},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := MatMul(c.out, c.w, c.x, 1, nil); core.KindOf(err) != core.KindInvalid {
				t.Fatalf("got %v, want KindInvalid", err)
			}
		})
	}
}

func TestMatMulAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	pool := parallel.New(2)
	defer pool.Close()
	for _, typ := range []core.DType{core.Q4_K, core.Q8_0, core.F16} {
		w := randTensor(t, typ, 64, 512, 1)
		x := randNormal(2, 4*512)
		out := make([]float32, 4*64)
		for _, n := range []int{1, 4} {
			allocs := testing.AllocsPerRun(50, func() {
				if err := MatMul(out, w, x, n, pool); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s n=%d: %v allocations per MatMul", typeNameForTest(typ), n, allocs)
			}
		}
	}
}

// TestMatMulMulti: one pass over several weights gives what separate
// MatMul calls give, bit for bit, for shared and mixed activation types.
func TestMatMulMulti(t *testing.T) {
	pool := parallel.New(2)
	defer pool.Close()
	for _, types := range [][]core.DType{
		{core.Q8_0, core.Q8_0, core.Q8_0},
		{core.Q4_K, core.Q4_K, core.Q6_K},
		{core.Q5_0, core.Q8_0},
		{core.Q4_K, core.Q8_0}, // different activation types: one after the other
	} {
		for _, n := range []int{1, 5, 12} {
			const k = 256
			var ws []*core.Tensor
			var outs, want [][]float32
			for i, typ := range types {
				rows := 8 + 4*i
				ws = append(ws, randTensor(t, typ, rows, k, uint64(rows)))
				outs = append(outs, make([]float32, n*rows))
				want = append(want, make([]float32, n*rows))
			}
			x := randNormal(uint64(n), n*k)
			if err := MatMulMulti(outs, ws, x, n, pool); err != nil {
				t.Fatal(err)
			}
			for i, w := range ws {
				if err := MatMul(want[i], w, x, n, pool); err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(want[i], outs[i]); d != "" {
					t.Fatalf("types %v, n=%d, weight %d (-MatMul +MatMulMulti):\n%s", types, n, i, d)
				}
			}
		}
	}
	if err := MatMulMulti(make([][]float32, 1), nil, nil, 1, pool); !errors.Is(err, core.KindInvalid) {
		t.Errorf("mismatched outputs: %v, want KindInvalid", err)
	}
}

// TestGuidedChunks checks the split of one-token products: it covers the
// rows once, in order, chunks are whole multiples of 16 rows but the last
// and not smaller than asked, and they shrink towards the end.
func TestGuidedChunks(t *testing.T) {
	for _, c := range []struct{ rows, minRows, workers int }{
		{1, 1, 2}, {16, 1, 2}, {17, 1, 2}, {3072, 16, 2}, {128256, 20, 2}, {16384, 29, 3}, {576, 54, 2},
	} {
		b := guidedChunks(nil, c.rows, c.minRows, c.workers)
		if b[0] != 0 || b[len(b)-1] != c.rows {
			t.Fatalf("%+v: bounds %v do not span [0, %d]", c, b, c.rows)
		}
		for i := 1; i < len(b); i++ {
			size := b[i] - b[i-1]
			last := i == len(b)-1
			switch {
			case size <= 0:
				t.Fatalf("%+v: empty chunk %d in %v", c, i, b)
			case !last && (size%16 != 0 || size < c.minRows):
				t.Fatalf("%+v: chunk %d has %d rows", c, i, size)
			case i > 1 && !last && size > b[i-1]-b[i-2]:
				t.Fatalf("%+v: chunk %d (%d rows) larger than the one before", c, i, size)
			}
		}
	}
}

// TestMatMulOneTokenPools: one-token products large enough for several
// guided chunks give the single-threaded result bit for bit on pools of 2
// and 3 workers.
func TestMatMulOneTokenPools(t *testing.T) {
	for _, typ := range []core.DType{core.Q8_0, core.Q4_K, core.F32} {
		w := randTensor(t, typ, 3001, 256, 11)
		x := randNormal(12, 256)
		want := make([]float32, 3001)
		if err := MatMul(want, w, x, 1, nil); err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{2, 3} {
			p := parallel.New(workers)
			got := make([]float32, 3001)
			err := MatMul(got, w, x, 1, p)
			p.Close()
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("%s, %d workers (-single +pool):\n%s", typeNameForTest(typ), workers, d)
			}
		}
	}
}
