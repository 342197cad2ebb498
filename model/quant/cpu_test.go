package quant

import (
	"math"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

func TestCPUBackend(t *testing.T) {
	shared := parallel.New(2)
	defer shared.Close()
	for name, c := range map[string]*CPU{
		"own pool":    NewCPU(WithThreads(2)),
		"shared pool": NewCPU(WithPool(shared)),
		"no pool":     NewCPU(WithPool(nil)),
		"default":     NewCPU(),
	} {
		t.Run(name, func(t *testing.T) {
			var b core.Backend = c
			if b.Name() != "cpu" {
				t.Fatalf("Name() = %q", b.Name())
			}
			w := randTensor(t, core.Q8_0, 8, 64, 4)
			x := randNormal(5, 64)
			want := make([]float32, 8)
			if err := MatMul(want, w, x, 1, nil); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 8)
			if err := b.MatMul(got, w, x, 1); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("row %d: backend %v, MatMul %v", i, got[i], want[i])
				}
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if err := b.MatMul(got, w, x, 1); err != nil || got[0] != want[0] {
				t.Fatalf("after Close: %v, %v", got[0], err)
			}
		})
	}
}

func TestRMSNorm(t *testing.T) {
	x := []float32{1, -2, 3, 0.5, 4, 4, 4, 4}
	w := []float32{1, 0.5, 2, 1}
	out := make([]float32, len(x))
	if err := NewCPU(WithPool(nil)).RMSNorm(out, x, w, 1e-5); err != nil {
		t.Fatal(err)
	}
	for r := range 2 {
		row := x[4*r : 4*r+4]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		scale := 1 / math.Sqrt(ss/4+1e-5)
		for i, v := range row {
			want := float64(v) * scale * float64(w[i])
			if math.Abs(float64(out[4*r+i])-want) > 1e-6*math.Abs(want)+1e-7 {
				t.Errorf("row %d elem %d: got %v, want %v", r, i, out[4*r+i], want)
			}
		}
	}
	// In place gives the same bits.
	in := append([]float32(nil), x...)
	if err := RMSNorm(in, in, w, 1e-5); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Fatalf("in-place result differs at %d", i)
		}
	}
	for _, c := range []struct {
		name   string
		out, x []float32
		w      []float32
	}{
		{"empty weight", out, x, nil},
		{"partial row", out, x[:7], w},
		{"short out", out[:4], x, w},
	} {
		if err := RMSNorm(c.out, c.x, c.w, 1e-5); core.KindOf(err) != core.KindInvalid {
			t.Errorf("%s: got %v, want KindInvalid", c.name, err)
		}
	}
}
