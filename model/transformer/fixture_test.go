package transformer

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// logitsCase is one line of reference/logits/<model>.jsonl.
type logitsCase struct {
	IDs    []core.TokenID `json:"ids"`
	Argmax []int          `json:"argmax"`
	Margin []float64      `json:"top2_margin"`
	Logits [][]float32    `json:"logits"`
}

// greedyCase is one line of reference/greedy/<model>.jsonl.
type greedyCase struct {
	IDs     []core.TokenID `json:"ids"`
	Greedy  []core.TokenID `json:"greedy"`
	Margins []float64      `json:"margins"`
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fixtureModels lists the models that have reference logits.
func fixtureModels(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(fixtures.Path(t, "reference", "logits", "*.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no reference logits: %v", err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".jsonl"))
	}
	return names
}

// skipLong reports whether to skip a prompt of n tokens of model name: in
// -short and -race runs the 200-token prompts run only for two models, to
// keep the package's test time to seconds.
func skipLong(name string, n int) bool {
	if n <= 64 || !(testing.Short() || raceEnabled) {
		return false
	}
	return name != "fx-llama-f32" && name != "fx-llama-q8_0"
}

// exactModel reports whether name is an F32/F16 model (tight tolerances).
func exactModel(name string) bool {
	return strings.HasSuffix(name, "-f32") || strings.HasSuffix(name, "-f16")
}

func openFixture(t testing.TB, name string) *Model {
	t.Helper()
	f, err := gguf.Open(fixtures.Path(t, "models", name+".gguf"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromGGUF(f)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// relL2 returns ‖a − b‖/‖b‖.
func relL2(a, b []float32) float64 {
	var num, den float64
	for i := range b {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// prefill evaluates ids as one batch from position 0 of slot 0 and returns
// the logits of every position (all) or of the last.
func prefill(t testing.TB, m *Model, c core.KVCache, ids []core.TokenID, all bool) []float32 {
	t.Helper()
	if err := c.Truncate(0, 0); err != nil {
		t.Fatal(err)
	}
	var b core.Batch
	for i, id := range ids {
		b.Add(id, int32(i), 0, all || i == len(ids)-1)
	}
	logits := make([]float32, b.Outputs()*m.Info().VocabSize)
	if err := m.Forward(context.Background(), c, &b, logits); err != nil {
		t.Fatal(err)
	}
	return logits
}

func TestFixtureLogits(t *testing.T) {
	for _, name := range fixtureModels(t) {
		t.Run(name, func(t *testing.T) {
			cases := readJSONL[logitsCase](t, fixtures.Path(t, "reference", "logits", name+".jsonl"))
			m := openFixture(t, name)
			c, err := m.NewCache(1, m.Info().ContextLength)
			if err != nil {
				t.Fatal(err)
			}
			tol, minMargin := 2e-2, 0.2
			if exactModel(name) {
				tol, minMargin = 5e-3, 0.05
			}
			vocab := m.Info().VocabSize
			for _, tc := range cases {
				if skipLong(name, len(tc.IDs)) {
					continue
				}
				got := prefill(t, m, c, tc.IDs, true)
				worst := 0.0
				for p, want := range tc.Logits {
					row := got[p*vocab : (p+1)*vocab]
					e := relL2(row, want)
					worst = max(worst, e)
					if e > tol {
						t.Errorf("%d tokens, position %d: relative L2 error %.3g > %g", len(tc.IDs), p, e, tol)
					}
					if a := argmax(row); a != tc.Argmax[p] && tc.Margin[p] >= minMargin {
						t.Errorf("%d tokens, position %d: argmax %d, want %d (margin %.3g)", len(tc.IDs), p, a, tc.Argmax[p], tc.Margin[p])
					}
				}
				t.Logf("%d tokens: worst relative L2 error %.3g", len(tc.IDs), worst)
			}
		})
	}
}

// decode evaluates one token at position pos of slot seq and returns its
// logits (into out).
func decode(t testing.TB, m *Model, c core.KVCache, b *core.Batch, tok core.TokenID, pos int, out []float32) {
	t.Helper()
	b.Reset()
	b.Add(tok, int32(pos), 0, true)
	if err := m.Forward(context.Background(), c, b, out); err != nil {
		t.Fatal(err)
	}
}

func TestFixtureGreedy(t *testing.T) {
	for _, name := range fixtureModels(t) {
		t.Run(name, func(t *testing.T) {
			cases := readJSONL[greedyCase](t, fixtures.Path(t, "reference", "greedy", name+".jsonl"))
			m := openFixture(t, name)
			c, err := m.NewCache(1, m.Info().ContextLength)
			if err != nil {
				t.Fatal(err)
			}
			logits := make([]float32, m.Info().VocabSize)
			var b core.Batch
			for _, tc := range cases {
				if skipLong(name, len(tc.IDs)) {
					continue
				}
				tok := core.TokenID(argmax(prefill(t, m, c, tc.IDs, false)))
				var got []core.TokenID
				for step := range tc.Greedy {
					got = append(got, tok)
					if step+1 < len(tc.Greedy) {
						decode(t, m, c, &b, tok, len(tc.IDs)+step, logits)
						tok = core.TokenID(argmax(logits))
					}
				}
				n := len(tc.Greedy)
				if !exactModel(name) {
					// Quantized models must agree up to the first step whose
					// reference top-2 margin is below 0.2.
					for i, mg := range tc.Margins {
						if mg < 0.2 {
							n = i
							break
						}
					}
				}
				for i := range n {
					if got[i] != tc.Greedy[i] {
						t.Errorf("prompt of %d tokens: step %d: got %d, want %d (reference margin %.3g)\n got %v\nwant %v",
							len(tc.IDs), i, got[i], tc.Greedy[i], tc.Margins[i], got, tc.Greedy)
						break
					}
				}
			}
		})
	}
}
