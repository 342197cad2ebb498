package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
	"github.com/pensieve-llm/pensieve/model"
	"github.com/pensieve-llm/pensieve/model/synth"
)

// synthBenchModel synthesizes a model of a real shape once into the user's
// cache directory (not the repository) and returns its path.
func synthBenchModel(b *testing.B, preset, typ string) string {
	b.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		b.Skip("no cache directory: ", err)
	}
	dir = filepath.Join(dir, "pensieve", "bench")
	path := filepath.Join(dir, fmt.Sprintf("llama-%s-%s.gguf", preset, typ))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := synth.Write(context.Background(), path, synth.Options{Arch: "llama", Preset: preset, Type: typ, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkEngineConcurrency measures the engine's aggregate decode
// throughput with 1 and 4 concurrent generations on a SmolLM2-135M-shaped
// Q8_0 model (issue 6: four streams should reach at least 2× one stream).
// It reports tok/s for each and the ratio.
func BenchmarkEngineConcurrency(b *testing.B) {
	path := synthBenchModel(b, "smollm2-135m", "q8_0")
	m, err := model.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	eng, err := engine.New(m.Model, m.Tokenizer, engine.WithSlots(4), engine.WithContext(512))
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(ctx)
	prompts := func(n int) [][]core.TokenID {
		out := make([][]core.TokenID, n)
		for i := range out {
			for j := 0; j < 32; j++ {
				out[i] = append(out[i], core.TokenID(1+(i*131+j*17)%250))
			}
		}
		return out
	}
	const gen = 64
	var one, four enginetest.DecodeResult
	for b.Loop() {
		if one, err = enginetest.MeasureDecode(ctx, eng, prompts(1), gen); err != nil {
			b.Fatal(err)
		}
		if four, err = enginetest.MeasureDecode(ctx, eng, prompts(4), gen); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(one.TokensPerSecond, "tok/s-1stream")
	b.ReportMetric(four.TokensPerSecond, "tok/s-4streams")
	b.ReportMetric(four.TokensPerSecond/one.TokensPerSecond, "ratio")
}
