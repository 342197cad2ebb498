package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/core"
)

func init() { register(benchCommand) }

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure prompt processing (prefill) and generation (decode) speed of a model",
		Description: "Runs the model directly through its forward pass, without the engine's scheduler or sampling:\n" +
			"   prefill evaluates --prompt random token ids as one batch from position 0 (logits for the last\n" +
			"   one only); decode then appends --gen tokens one at a time through the KV cache, each the argmax\n" +
			"   of the previous logits. A one-token warm-up pass runs first (it faults the mapped weights in).\n" +
			"   load_s is the time to open the file and build the model. With --repeat R, the figures are\n" +
			"   totals over R runs (tokens / seconds).\n\n" +
			"   pensieve-cli bench --model llama3.2-1b-q4_k_m.gguf --threads 2 --prompt 256 --gen 48 --json",
		Flags: append(append(globalFlags(),
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model `FILE` (GGUF)"},
			&cli.IntFlag{Name: "prompt", Aliases: []string{"p"}, Value: 256, Usage: "prompt length in `TOKENS` (random ids)"},
			&cli.IntFlag{Name: "gen", Aliases: []string{"g"}, Value: 48, Usage: "generated `TOKENS`"},
			&cli.IntFlag{Name: "repeat", Aliases: []string{"r"}, Value: 1, Usage: "measure `R` times"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the random prompt"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the measured runs to `FILE` (go tool pprof)"},
			modelsDirFlag(),
		), deviceFlags()...),
		OnUsageError: onUsageError,
		Action:       benchAction,
	}
}

// benchResult is the output of bench. The first five fields are the
// documented JSON contract; the others describe the run.
type benchResult struct {
	PrefillTPS   float64 `json:"prefill_tps"`
	DecodeTPS    float64 `json:"decode_tps"`
	PromptTokens int     `json:"prompt_tokens"`
	GenTokens    int     `json:"gen_tokens"`
	LoadSeconds  float64 `json:"load_s"`

	Model   string `json:"model"`
	Device  string `json:"device"`
	Threads int    `json:"threads"`
	Repeat  int    `json:"repeat"`
}

func benchAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return UsageErrorf("bench: unexpected arguments %q", c.Args().Slice())
	}
	p, g, reps := c.Int("prompt"), c.Int("gen"), c.Int("repeat")
	if p < 1 || g < 1 || reps < 1 {
		return UsageErrorf("bench: --prompt, --gen and --repeat must be at least 1, got %d, %d and %d", p, g, reps)
	}
	cfg, err := loadLocalConfig(c)
	if err != nil {
		return err
	}
	start := time.Now()
	lm, err := openLocalModel(c, cfg)
	if err != nil {
		return err
	}
	defer lm.Close()
	load := time.Since(start)

	threads := cfg.Engine.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	res := benchResult{
		PromptTokens: p, GenTokens: g, LoadSeconds: load.Seconds(),
		Model: lm.Model.Info().Name, Device: lm.Device, Threads: threads, Repeat: reps,
	}
	if path := c.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	prefill, decode, err := benchModel(c.Context, lm.Model, p, g, reps, c.Uint64("seed"))
	if err != nil {
		return err
	}
	res.PrefillTPS = float64(p*reps) / prefill.Seconds()
	res.DecodeTPS = float64(g*reps) / decode.Seconds()

	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(res)
	}
	_, err = fmt.Fprintf(c.App.Writer,
		"model %s on %s, %d threads; load %.2f s\nprefill %d tokens: %.1f tok/s\ndecode  %d tokens: %.1f tok/s\n",
		res.Model, res.Device, res.Threads, res.LoadSeconds, p, res.PrefillTPS, g, res.DecodeTPS)
	return err
}

// benchModel times reps runs of a p-token prefill in one batch followed by
// g single-token decode steps on m, after a one-token warm-up. It returns
// the total prefill and decode times.
func benchModel(ctx context.Context, m core.Model, p, g, reps int, seed uint64) (prefill, decode time.Duration, err error) {
	info := m.Info()
	if info.ContextLength > 0 && p+g > info.ContextLength {
		return 0, 0, UsageErrorf("bench: %d prompt + %d generated tokens exceed the model's context of %d", p, g, info.ContextLength)
	}
	cache, err := m.NewCache(1, p+g)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: %w", err)
	}
	vocab := info.VocabSize
	logits := make([]float32, vocab) // (1, vocab): one row per step
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var b core.Batch

	forward := func() error {
		if err := m.Forward(ctx, cache, &b, logits); err != nil {
			return fmt.Errorf("bench: forward pass: %w", err)
		}
		return nil
	}
	b.Add(core.TokenID(rng.IntN(vocab)), 0, 0, true)
	if err := forward(); err != nil {
		return 0, 0, err
	}
	for range reps {
		if err := cache.Truncate(0, 0); err != nil {
			return 0, 0, err
		}
		b.Reset()
		for i := range p {
			b.Add(core.TokenID(rng.IntN(vocab)), int32(i), 0, i == p-1)
		}
		t0 := time.Now()
		if err := forward(); err != nil {
			return 0, 0, err
		}
		prefill += time.Since(t0)

		t0 = time.Now()
		for i := range g {
			b.Reset()
			b.Add(argmax(logits), int32(p+i), 0, true)
			if err := forward(); err != nil {
				return 0, 0, err
			}
		}
		decode += time.Since(t0)
	}
	return prefill, decode, nil
}

// argmax returns the index of the largest logit.
func argmax(logits []float32) core.TokenID {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return core.TokenID(best)
}
