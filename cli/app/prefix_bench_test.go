package app

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/model"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// TestWarmPrefixTTFT measures, through the engine and a real model, the
// time to the first token of a request whose 2,000-token prefix an earlier
// request already evaluated, against the same request on a cold engine:
// the warm one must take at most 10 % of the cold time. It needs a model
// file with a context of at least 2,100 tokens, named by
// PENSIEVE_BENCH_MODEL (make bench passes SmolLM2-135M Q8_0), and skips
// otherwise; PENSIEVE_BENCH_OUT names a file for the JSON result.
func TestWarmPrefixTTFT(t *testing.T) {
	path := os.Getenv("PENSIEVE_BENCH_MODEL")
	if path == "" {
		t.Skip("PENSIEVE_BENCH_MODEL is not set (make bench sets it to a synthesized model)")
	}
	const prefix, suffix = 2000, 16
	cpu := quant.NewCPU()
	defer cpu.Close()
	l, err := model.Open(path, model.WithBackend(cpu))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Tokenizer == nil {
		t.Fatalf("%s has no tokenizer", path)
	}
	vocab := l.Model.Info().VocabSize
	rng := rand.New(rand.NewPCG(1, 2))
	ids := func(n int) []core.TokenID {
		s := make([]core.TokenID, n)
		for i := range s {
			s[i] = core.TokenID(rng.IntN(min(vocab, 32000)))
		}
		return s
	}
	shared := ids(prefix)
	first := append(append([]core.TokenID{}, shared...), ids(suffix)...)
	second := append(append([]core.TokenID{}, shared...), ids(suffix)...)

	newEngine := func() *engine.Engine {
		e, err := engine.New(l.Model, l.Tokenizer, engine.WithContext(prefix+suffix+64), engine.WithSlots(2))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ctx := context.Background()
	e := newEngine()
	cold := ttft(t, e, first)
	warm, cached := ttftCached(t, e, second)
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The same second request on a fresh engine: its cold time.
	e = newEngine()
	coldSecond := ttft(t, e, second)
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}

	ratio := warm.Seconds() / min(cold, coldSecond).Seconds()
	t.Logf("model %s: cold TTFT %.2f s and %.2f s, warm %.3f s (%d of %d prompt tokens cached): %.1f %% of cold",
		l.Model.Info().Name, cold.Seconds(), coldSecond.Seconds(), warm.Seconds(), cached, len(second), 100*ratio)
	if cached < prefix {
		t.Errorf("warm request reused %d tokens, want at least %d", cached, prefix)
	}
	if ratio > 0.10 {
		t.Errorf("warm TTFT is %.1f %% of the cold one, want at most 10 %%", 100*ratio)
	}
	if out := os.Getenv("PENSIEVE_BENCH_OUT"); out != "" {
		b, _ := json.Marshal(map[string]any{
			"model": l.Model.Info().Name, "prefix_tokens": prefix, "suffix_tokens": suffix,
			"cold_ttft_s": min(cold, coldSecond).Seconds(), "warm_ttft_s": warm.Seconds(),
			"cached_tokens": cached, "warm_over_cold": ratio,
		})
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ttft returns the time from Generate to the first event with a token.
func ttft(t *testing.T, e *engine.Engine, prompt []core.TokenID) time.Duration {
	t.Helper()
	d, _ := ttftCached(t, e, prompt)
	return d
}

// ttftCached is ttft that also returns the prompt tokens the engine took
// from its prefix cache.
func ttftCached(t *testing.T, e *engine.Engine, prompt []core.TokenID) (time.Duration, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	events, err := e.Generate(ctx, &core.Request{Prompt: prompt, MaxTokens: 2, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	var first time.Duration
	cached := 0
	for ev := range events {
		if ev.Err != nil {
			t.Fatal(ev.Err)
		}
		if first == 0 && len(ev.Tokens) > 0 {
			first = time.Since(start)
		}
		if ev.Done {
			cached = ev.Usage.CachedTokens
		}
	}
	if first == 0 {
		t.Fatal("no token was generated")
	}
	return first, cached
}
