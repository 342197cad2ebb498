package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

// costModel is the fake model used for throughput: every forward pass
// costs a fixed 3 ms plus 30 µs per batch entry. That is the shape of a
// memory-bound decoder, which reads all its weights once per pass however
// many sequences the pass carries; it is a model of the hardware, not a
// measurement of it. The real figure comes from running measureDecode on
// a real model (see MeasureDecode).
func costModel() *enginetest.Model {
	return enginetest.NewModel(enginetest.ModelConfig{PerPass: 3 * time.Millisecond, PerToken: 30 * time.Microsecond})
}

// measureDecode runs streams concurrent generations of maxTokens tokens on
// a fresh engine over m and returns the aggregate decode tokens/s. It
// works with any core.Model.
func measureDecode(tb testing.TB, m core.Model, tok core.Tokenizer, streams, maxTokens int) enginetest.DecodeResult {
	tb.Helper()
	e, err := engine.New(m, tok, engine.WithSlots(streams), engine.WithContext(256))
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := e.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	}()
	prompts := make([][]core.TokenID, streams)
	for i := range prompts {
		prompts[i] = prompt(uint64(100+i), 32)
	}
	res, err := enginetest.MeasureDecode(context.Background(), e, prompts, maxTokens)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestConcurrentDecodeThroughput checks the acceptance ratio on the cost
// model: four concurrent generations reach at least twice the aggregate
// decode tokens/s of one.
func TestConcurrentDecodeThroughput(t *testing.T) {
	one := measureDecode(t, costModel(), byteTok, 1, 30)
	four := measureDecode(t, costModel(), byteTok, 4, 30)
	ratio := four.TokensPerSecond / one.TokensPerSecond
	t.Logf("1 stream: %.0f tok/s (%d tokens in %v); 4 streams: %.0f tok/s (%d tokens in %v); ratio %.2f",
		one.TokensPerSecond, one.Tokens, one.Elapsed, four.TokensPerSecond, four.Tokens, four.Elapsed, ratio)
	if ratio < 2 {
		t.Errorf("four streams reach %.2f× the throughput of one, want ≥ 2×", ratio)
	}
}

// BenchmarkConcurrentDecode reports aggregate decode tokens/s for 1, 2, 4
// and 8 concurrent generations on the cost model.
func BenchmarkConcurrentDecode(b *testing.B) {
	for _, streams := range []int{1, 2, 4, 8} {
		b.Run(map[int]string{1: "streams=1", 2: "streams=2", 4: "streams=4", 8: "streams=8"}[streams], func(b *testing.B) {
			b.ReportAllocs()
			var tokens int
			var elapsed time.Duration
			for b.Loop() {
				res := measureDecode(b, costModel(), byteTok, streams, 32)
				tokens += res.Tokens
				elapsed += res.Elapsed
			}
			b.ReportMetric(float64(tokens)/elapsed.Seconds(), "tok/s")
		})
	}
}
