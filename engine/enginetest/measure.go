package enginetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pensieve-llm/pensieve/core"
)

// DecodeResult is the outcome of MeasureDecode.
type DecodeResult struct {
	Streams         int           // concurrent generations
	Tokens          int           // tokens counted in the decode window
	Elapsed         time.Duration // length of the decode window
	TokensPerSecond float64       // Tokens / Elapsed: aggregate decode throughput
}

// MeasureDecode runs one greedy generation per prompt on g at the same
// time, each for exactly maxTokens tokens (end-of-generation ignored), and
// measures their aggregate decode throughput. The decode window starts when
// every stream has received its first token, so prompt evaluation is
// excluded, and ends when the last stream finishes; Tokens counts the
// tokens received inside it. Use distinct prompts so that no prefix cache
// shortens the work. It returns the first generation error, if any.
func MeasureDecode(ctx context.Context, g core.Generator, prompts [][]core.TokenID, maxTokens int) (DecodeResult, error) {
	if len(prompts) == 0 || maxTokens < 2 {
		return DecodeResult{}, core.Errorf(core.KindInvalid, "enginetest.MeasureDecode", "need at least one prompt and maxTokens ≥ 2, got %d and %d", len(prompts), maxTokens)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type arrival struct {
		at time.Time
		n  int
	}
	arrivals := make([][]arrival, len(prompts))
	errs := make([]error, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		events, err := g.Generate(ctx, &core.Request{Prompt: p, MaxTokens: maxTokens, IgnoreEOS: true})
		if err != nil {
			cancel()
			errs[i] = err
			break
		}
		wg.Go(func() {
			for ev := range events {
				if len(ev.Tokens) > 0 {
					arrivals[i] = append(arrivals[i], arrival{time.Now(), len(ev.Tokens)})
				}
				if ev.Err != nil {
					errs[i] = ev.Err
					cancel()
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return DecodeResult{}, fmt.Errorf("enginetest: stream %d: %w", i, err)
		}
	}

	var start, end time.Time
	for _, a := range arrivals {
		if first := a[0].at; first.After(start) {
			start = first
		}
		if last := a[len(a)-1].at; last.After(end) {
			end = last
		}
	}
	res := DecodeResult{Streams: len(prompts), Elapsed: end.Sub(start)}
	for _, a := range arrivals {
		for _, x := range a {
			if x.at.After(start) {
				res.Tokens += x.n
			}
		}
	}
	if res.Elapsed > 0 {
		res.TokensPerSecond = float64(res.Tokens) / res.Elapsed.Seconds()
	}
	return res, nil
}
