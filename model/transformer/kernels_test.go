package transformer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/model/quant"
)

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func TestRMSNormMatchesFormula(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x, w := randVec(r, 256, 3), randVec(r, 256, 1)
	got := make([]float32, 256)
	rmsnorm(got, x, w, 1e-5)
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	s := 1 / math.Sqrt(ss/256+1e-5)
	for i := range x {
		want := float64(x[i]) * s * float64(w[i])
		if d := math.Abs(float64(got[i]) - want); d > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("element %d: %g, want %g", i, got[i], want)
		}
	}
}

func TestExpVecWithinTwoULP(t *testing.T) {
	for x := float32(-100); x < 88; x += 0.0137 {
		got, want := expVec(x), math.Exp(float64(x))
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1))) - float32(want))
		if d := math.Abs(float64(got) - want); d > 2*ulp {
			t.Fatalf("expVec(%g) = %g, want %g (%.2f ulp)", x, got, want, d/ulp)
		}
	}
	if got := expVec(-120); got != 0 {
		t.Errorf("expVec(-120) = %g, want 0", got)
	}
	if got := expVec(100); !math.IsInf(float64(got), 1) {
		t.Errorf("expVec(100) = %g, want +Inf", got)
	}
}

func TestGegluHasFP16Precision(t *testing.T) {
	for _, g := range []float32{-12, -10, -3.3, -0.5, 0, 0.001, 0.7, 2.5, 9.99, 10, 15} {
		out := []float32{0}
		geglu(out, []float32{g}, []float32{1})
		x := float64(roundF16(g)) // the table is indexed by the fp16 input
		want := 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		switch {
		case g <= -10:
			want = 0
		case g >= 10:
			want = float64(g)
		}
		// The output is an fp16 value: within half an fp16 ulp (2^-11).
		if d := math.Abs(float64(out[0]) - want); d > 4.9e-4*math.Abs(want)+1e-7 {
			t.Errorf("GELU(%g) = %g, want %g", g, out[0], want)
		}
	}
}

func TestDotF16MatchesExactSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 31, 64, 80, 128, 256} {
		q, kf := randVec(r, n, 1), randVec(r, n, 1)
		k := make([]uint16, n)
		var exact float64
		for i := range q {
			q[i] = roundF16(q[i])
			k[i] = quant.F32ToF16(kf[i])
			exact += float64(q[i]) * float64(quant.F16ToF32(k[i]))
		}
		if d := math.Abs(float64(dotF16(q, k, halfTable())) - exact); d > 1e-5*math.Sqrt(float64(n)) {
			t.Errorf("n=%d: dot %g, exact %g", n, dotF16(q, k, halfTable()), exact)
		}
	}
}

func TestRopeTableMatchesFormula(t *testing.T) {
	r := Rope{Style: RopeNeoX, Dims: 64, Base: 10000, FreqScale: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigCtx: 4096}
	pos := []int32{0, 1, 7, 255}
	cs := make([]float32, len(pos)*r.Dims)
	r.table(cs, pos, nil)
	for row, p := range pos {
		for i := range r.Dims / 2 {
			theta := float64(p) * math.Pow(10000, -2*float64(i)/64)
			if d := math.Abs(float64(cs[row*64+2*i]) - math.Cos(theta)); d > 1e-4 {
				t.Errorf("p=%d i=%d: cos %g, want %g", p, i, cs[row*64+2*i], math.Cos(theta))
			}
			if d := math.Abs(float64(cs[row*64+2*i+1]) - math.Sin(theta)); d > 1e-4 {
				t.Errorf("p=%d i=%d: sin %g, want %g", p, i, cs[row*64+2*i+1], math.Sin(theta))
			}
		}
	}
	// YaRN with no scaling leaves the angles alone; linear scaling by 4
	// equals the unscaled angle at a quarter of the position.
	y := r
	y.ExtFactor = 1
	cy := make([]float32, len(cs))
	y.table(cy, pos, nil)
	for i := range cs {
		if math.Abs(float64(cy[i]-cs[i])) > 1e-6 {
			t.Fatalf("YaRN without scaling changed element %d: %g vs %g", i, cy[i], cs[i])
		}
	}
	l := r
	l.FreqScale = 0.25
	got, want := make([]float32, 64), make([]float32, 64)
	l.table(got, []int32{8}, nil)
	r.table(want, []int32{2}, nil)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("linear scaling, element %d: %g, want %g", i, got[i], want[i])
		}
	}
}

func TestRopePairs(t *testing.T) {
	// A rotation by 90° (cos 0, sin 1) maps each pair (a, b) to (−b, a):
	// adjacent pairs for RopeNorm, halves for RopeNeoX.
	cs := []float32{0, 1, 0, 1}
	for _, tt := range []struct {
		style RopeStyle
		want  []float32
	}{
		{RopeNorm, []float32{-2, 1, -4, 3}},
		{RopeNeoX, []float32{-3, -4, 1, 2}},
	} {
		r := Rope{Style: tt.style, Dims: 4}
		x := []float32{1, 2, 3, 4}
		r.apply(x, cs, 1, 4)
		for i := range x {
			if x[i] != tt.want[i] {
				t.Errorf("style %d: got %v, want %v", tt.style, x, tt.want)
				break
			}
		}
	}
}

func TestLlama3Factors(t *testing.T) {
	hc := HFConfig{RopeScaling: &HFRopeScaling{RopeType: "llama3", Factor: 8, LowFreq: 1, HighFreq: 4, OrigPositions: 8192}}
	cfg := Config{Rope: Rope{Dims: 128, Base: 500000}}
	f := hc.llama3Factors(&cfg)
	if len(f) != 64 || f[0] != 1 || f[63] != 8 {
		t.Fatalf("factors %v", f)
	}
	for i := 1; i < len(f); i++ {
		if f[i] < f[i-1] {
			t.Fatalf("factors decrease at %d: %v", i, f)
		}
	}
}

func TestRoundF16MatchesConversion(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	check := func(x float32) {
		want := quant.F16ToF32(quant.F32ToF16(x))
		if got := roundF16(x); math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("roundF16(%g) = %g, want %g", x, got, want)
		}
	}
	for range 200000 {
		check(math.Float32frombits(r.Uint32()))
	}
	for _, x := range []float32{0, 65504, 65519.99, 65520, 6.1035156e-05, 6.1e-05, 1.0009766, 1.00048828125, 1.00146484375} {
		check(x)
		check(-x)
	}
}
