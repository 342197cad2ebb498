package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/pensieve-llm/pensieve/core"
)

var (
	negInf = float32(math.Inf(-1))
	posInf = float32(math.Inf(1))
	nan    = float32(math.NaN())
)

// randomLogits returns n logits drawn from a normal distribution with
// standard deviation sd; a few repeat to exercise ties.
func randomLogits(r *rand.Rand, n int, sd float64) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * sd)
		if i > 0 && r.IntN(10) == 0 {
			l[i] = l[i-1]
		}
	}
	return l
}

// naiveSorted returns all candidates sorted the way the heap pops them:
// descending logit, then ascending id.
func naiveSorted(c []Candidate) []Candidate {
	s := slices.Clone(c)
	slices.SortStableFunc(s, func(a, b Candidate) int {
		switch {
		case a.Logit > b.Logit:
			return -1
		case a.Logit < b.Logit:
			return 1
		}
		return int(a.ID - b.ID)
	})
	return s
}

func ids(c []Candidate) []core.TokenID {
	out := make([]core.TokenID, len(c))
	for i, x := range c {
		out[i] = x.ID
	}
	return out
}

func TestGreedy(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		want   int
	}{
		{"empty", nil, -1},
		{"all masked", []float32{negInf, negInf}, -1},
		{"nan skipped", []float32{nan, 1, 0}, 1},
		{"first of ties", []float32{0, 3, 3, 1}, 1},
		{"negative", []float32{-5, -2, -9}, 1},
		{"positive infinity wins", []float32{1, posInf, 2}, 1},
		{"masked around", []float32{negInf, -100, negInf}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Greedy(tt.logits); got != tt.want {
				t.Errorf("Greedy(%v) = %d, want %d", tt.logits, got, tt.want)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	got := Candidates(nil, []float32{1, negInf, nan, posInf, -2})
	want := []Candidate{{ID: 0, Logit: 1}, {ID: 3, Logit: math.MaxFloat32}, {ID: 4, Logit: -2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Candidates (-want +got):\n%s", diff)
	}
}

func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 17, 1000} {
		c := Candidates(nil, randomLogits(r, n, 4))
		Softmax(c)
		var max float64
		for _, x := range c {
			max = math.Max(max, float64(x.Logit))
		}
		var z float64
		for _, x := range c {
			z += math.Exp(float64(x.Logit) - max)
		}
		var sum float64
		for _, x := range c {
			want := math.Exp(float64(x.Logit)-max) / z
			if math.Abs(float64(x.P)-want) > 1e-6 {
				t.Fatalf("n=%d: P(%d) = %g, want %g", n, x.ID, x.P, want)
			}
			sum += float64(x.P)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("n=%d: probabilities sum to %g", n, sum)
		}
	}
	// Huge logits must not overflow.
	c := []Candidate{{ID: 0, Logit: math.MaxFloat32}, {ID: 1, Logit: 0}}
	Softmax(c)
	if c[0].P != 1 || c[1].P != 0 {
		t.Errorf("Softmax with a huge logit = %v, want [1 0]", c)
	}
}

func TestTemperature(t *testing.T) {
	c := []Candidate{{ID: 0, Logit: 2}, {ID: 1, Logit: -1}}
	Temperature(c, 0.5)
	if diff := cmp.Diff([]Candidate{{ID: 0, Logit: 4}, {ID: 1, Logit: -2}}, c); diff != "" {
		t.Errorf("Temperature 0.5 (-want +got):\n%s", diff)
	}
}

func TestTopKMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 5, 100, 5000} {
		for _, k := range []int{-1, 0, 1, 3, 40, n - 1, n, n + 1} {
			c := Candidates(nil, randomLogits(r, n, 3))
			want := naiveSorted(c)
			if k > 0 && k < n {
				want = want[:k]
			}
			got := TopK(c, k)
			if k <= 0 || k >= n {
				got = naiveSorted(got) // TopK leaves c as it is; compare as sets
			}
			if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
				t.Errorf("n=%d k=%d (-want +got):\n%s", n, k, diff)
			}
		}
	}
}

// naiveTopP sorts everything and accumulates the mass.
func naiveTopP(c []Candidate, p float32) []Candidate {
	s := naiveSorted(c)
	var total, mass float64
	for _, x := range s {
		total += float64(x.P)
	}
	for i, x := range s {
		mass += float64(x.P)
		if mass >= float64(p)*total {
			return s[:i+1]
		}
	}
	return s
}

func TestTopPMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 3, 50, 4000} {
		for _, p := range []float32{0.1, 0.5, 0.9, 0.99} {
			c := Candidates(nil, randomLogits(r, n, 2))
			Softmax(c)
			want := naiveTopP(c, p)
			got := TopP(c, p)
			if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
				t.Errorf("n=%d p=%g (-want +got):\n%s", n, p, diff)
			}
		}
	}
}

func TestTopPOff(t *testing.T) {
	for _, p := range []float32{0, 1, -1, 2} {
		c := []Candidate{{ID: 4, P: 0.2}, {ID: 1, P: 0.8}}
		if diff := cmp.Diff([]Candidate{{ID: 4, P: 0.2}, {ID: 1, P: 0.8}}, TopP(c, p)); diff != "" {
			t.Errorf("TopP(%g) changed the candidates (-want +got):\n%s", p, diff)
		}
	}
}

func TestMinP(t *testing.T) {
	in := []Candidate{{ID: 0, P: 0.05}, {ID: 1, P: 0.5}, {ID: 2, P: 0.25}, {ID: 3, P: 0.2}}
	tests := []struct {
		name string
		p    float32
		want []core.TokenID
	}{
		{"off", 0, []core.TokenID{0, 1, 2, 3}},
		{"tenth", 0.1, []core.TokenID{0, 1, 2, 3}},
		{"half", 0.5, []core.TokenID{1, 2}},
		{"only max", 1, []core.TokenID{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(MinP(slices.Clone(in), tt.p))); diff != "" {
				t.Errorf("MinP(%g) (-want +got):\n%s", tt.p, diff)
			}
		})
	}
}

func TestDraw(t *testing.T) {
	c := []Candidate{{ID: 7, P: 0.5}, {ID: 8, P: 0.25}, {ID: 9, P: 0.25}}
	tests := []struct {
		coin float32
		want core.TokenID
	}{
		{0, 7}, {0.49, 7}, {0.5, 8}, {0.74, 8}, {0.75, 9}, {0.9999999, 9},
	}
	for _, tt := range tests {
		if got := Draw(c, tt.coin); got != tt.want {
			t.Errorf("Draw(coin %g) = %d, want %d", tt.coin, got, tt.want)
		}
	}
	// Unnormalised masses are fine.
	if got := Draw([]Candidate{{ID: 1, P: 2}, {ID: 2, P: 6}}, 0.3); got != 2 {
		t.Errorf("Draw unnormalised = %d, want 2", got)
	}
	if got := Draw(nil, 0.5); got != core.NoToken {
		t.Errorf("Draw(empty) = %d, want NoToken", got)
	}
	// A zero-mass tail is never picked, even by rounding.
	if got := Draw([]Candidate{{ID: 1, P: 1}, {ID: 2, P: 0}}, math.Nextafter32(1, 0)); got != 1 {
		t.Errorf("Draw with zero tail = %d, want 1", got)
	}
}

func TestSamplerGreedy(t *testing.T) {
	s := New(core.Sampling{TopK: 5, Seed: 9})
	logits := []float32{0.1, 2, 0.3, negInf}
	for range 3 {
		tok, _, err := s.Sample(logits, nil)
		if err != nil || tok != 1 {
			t.Fatalf("Sample = %d, %v; want 1", tok, err)
		}
	}
}

func TestSamplerAllMasked(t *testing.T) {
	for _, temp := range []float32{0, 1} {
		_, _, err := New(core.Sampling{Temperature: temp}).Sample([]float32{negInf, negInf}, nil)
		if core.KindOf(err) != core.KindInternal {
			t.Errorf("temperature %g: err = %v, want KindInternal", temp, err)
		}
	}
}

func TestSamplerSeeded(t *testing.T) {
	logits := randomLogits(rand.New(rand.NewPCG(7, 8)), 1000, 1)
	run := func(cfg core.Sampling) []core.TokenID {
		s := New(cfg)
		var out []core.TokenID
		var scratch []Candidate
		for range 50 {
			tok, sc, err := s.Sample(logits, scratch)
			if err != nil {
				t.Fatal(err)
			}
			scratch = sc
			out = append(out, tok)
		}
		return out
	}
	cfg := core.Sampling{Temperature: 1, TopK: 200, TopP: 0.95, MinP: 0.01, Seed: 42}
	a, b := run(cfg), run(cfg)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed gave different tokens (-first +second):\n%s", diff)
	}
	cfg.Seed = 43
	if c := run(cfg); cmp.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same 50 tokens %v", a)
	}
}

// TestSamplerDistribution checks that the draw follows softmax(logits/T)
// within a loose statistical bound.
func TestSamplerDistribution(t *testing.T) {
	logits := []float32{1, 2, 0, negInf, 1.5}
	const temp, draws = 0.7, 20000
	s := New(core.Sampling{Temperature: temp, Seed: 1})
	counts := make([]int, len(logits))
	var scratch []Candidate
	for range draws {
		tok, sc, err := s.Sample(logits, scratch)
		if err != nil {
			t.Fatal(err)
		}
		scratch = sc
		counts[tok]++
	}
	c := Candidates(nil, logits)
	Temperature(c, temp)
	Softmax(c)
	for _, x := range c {
		got := float64(counts[x.ID]) / draws
		// Five standard deviations of a binomial proportion.
		tol := 5 * math.Sqrt(float64(x.P)*(1-float64(x.P))/draws)
		if math.Abs(got-float64(x.P)) > tol {
			t.Errorf("token %d drawn %.4f of the time, want %.4f ± %.4f", x.ID, got, x.P, tol)
		}
	}
	if counts[3] != 0 {
		t.Errorf("masked token drawn %d times", counts[3])
	}
}

func TestPipelineOrder(t *testing.T) {
	// top-k 3 keeps {0,1,4}; top-p 0.6 of that keeps the two largest.
	logits := []float32{3, 2.9, 0, -1, 2.8}
	c := TopK(Candidates(nil, logits), 3)
	Softmax(c)
	c = TopP(c, 0.6)
	if diff := cmp.Diff([]core.TokenID{0, 1}, ids(c)); diff != "" {
		t.Errorf("top-k then top-p (-want +got):\n%s", diff)
	}
	// The kept probabilities are still those of the top-3 softmax.
	e0, e1, e4 := math.Exp(3), math.Exp(2.9), math.Exp(2.8)
	want := []float32{float32(e0 / (e0 + e1 + e4)), float32(e1 / (e0 + e1 + e4))}
	got := []float32{c[0].P, c[1].P}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("kept probabilities (-want +got):\n%s", diff)
	}
}
