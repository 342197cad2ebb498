package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

// randNormal returns n standard-normal float32 values from a fixed seed.
func randNormal(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x9E3779B97F4A7C15))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

// TestQuantizeRoundTrip checks, for every quantizable type, that the
// dequantized values stay within the error the format allows on Gaussian
// data, and that degenerate blocks (all zero, constant, one spike) encode
// without NaNs.
func TestQuantizeRoundTrip(t *testing.T) {
	x := randNormal(1, 4096)
	degenerate := make([]float32, 256*4)
	for i := 256; i < 512; i++ {
		degenerate[i] = 0.75 // constant block
	}
	degenerate[600] = -3 // a lone spike in a zero block
	for i := 768; i < 1024; i++ {
		degenerate[i] = float32(i%3) * 1e-20 // below GROUP_MAX_EPS scale
	}
	for _, c := range []struct {
		typ     core.DType
		maxRMSE float64 // relative to the data's RMS (1)
	}{
		{core.F32, 0}, {core.F16, 5e-4}, {core.BF16, 4e-3},
		{core.Q8_0, 0.008}, {core.Q8_1, 0.008}, {core.Q8_K, 0.01},
		{core.Q6_K, 0.02}, {core.Q5_0, 0.05}, {core.Q5_1, 0.05}, {core.Q5_K, 0.04},
		{core.Q4_0, 0.1}, {core.Q4_1, 0.1}, {core.Q4_K, 0.08}, {core.IQ4_NL, 0.1}, {core.IQ4_XS, 0.1},
		{core.Q3_K, 0.2}, {core.Q2_K, 0.4},
	} {
		t.Run(typeNameForTest(c.typ), func(t *testing.T) {
			q, err := Quantize(nil, c.typ, x)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := Dequantize(y, c.typ, q); err != nil {
				t.Fatal(err)
			}
			var se float64
			for i := range x {
				d := float64(x[i] - y[i])
				se += d * d
			}
			if rmse := math.Sqrt(se / float64(len(x))); rmse > c.maxRMSE {
				t.Errorf("RMSE %g > %g", rmse, c.maxRMSE)
			}
			q, err = Quantize(q[:0], c.typ, degenerate)
			if err != nil {
				t.Fatal(err)
			}
			y = y[:len(degenerate)]
			if err := Dequantize(y, c.typ, q); err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v-degenerate[i])) > 0.8 {
					t.Fatalf("degenerate input %d: %v decoded as %v", i, degenerate[i], v)
				}
			}
			for i := range 256 {
				if y[i] != 0 {
					t.Fatalf("zero block decoded %v at %d", y[i], i)
				}
			}
		})
	}
}

func typeNameForTest(t core.DType) string { return typeNames[t] }

var typeNames = map[core.DType]string{
	core.F32: "f32", core.F16: "f16", core.BF16: "bf16", core.Q4_0: "q4_0", core.Q4_1: "q4_1",
	core.Q5_0: "q5_0", core.Q5_1: "q5_1", core.Q8_0: "q8_0", core.Q8_1: "q8_1", core.Q2_K: "q2_K",
	core.Q3_K: "q3_K", core.Q4_K: "q4_K", core.Q5_K: "q5_K", core.Q6_K: "q6_K", core.Q8_K: "q8_K",
	core.IQ4_NL: "iq4_nl", core.IQ4_XS: "iq4_xs",
}

func TestQuantizeErrors(t *testing.T) {
	if _, err := Quantize(nil, core.I32, make([]float32, 4)); core.KindOf(err) != core.KindInvalid {
		t.Errorf("I32: got %v, want KindInvalid", err)
	}
	if _, err := Quantize(nil, core.DType(77), make([]float32, 4)); core.KindOf(err) != core.KindInvalid {
		t.Errorf("code 77: got %v, want KindInvalid", err)
	}
	if _, err := Quantize(nil, core.Q4_K, make([]float32, 300)); core.KindOf(err) != core.KindInvalid {
		t.Errorf("partial block: got %v, want KindInvalid", err)
	}
	// Appending keeps the prefix.
	got, err := Quantize([]byte{1, 2}, core.F16, []float32{1})
	if err != nil || len(got) != 4 || got[0] != 1 || got[1] != 2 || got[3] != 0x3C {
		t.Errorf("append: got %x, %v", got, err)
	}
}
