package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
	"github.com/pensieve-llm/pensieve/model/quant"
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
			"   load_s is the time to open the file and build the model. With --repeat R, prefill_tps and\n" +
			"   decode_tps are totals over R runs (tokens / seconds); the per-run rates are listed too.\n\n" +
			"   --bandwidth also times a read of a 1 GiB buffer on the same threads before every run (best of\n" +
			"   three) and reports the rates (read_gbs: median) and decode_bw_frac, the median over runs of\n" +
			"   decode rate × file size / the read rate measured just before: the share of the machine's read\n" +
			"   bandwidth that decoding reaches, which moves less with load on a shared machine than the\n" +
			"   absolute rates.\n\n" +
			"   pensieve-cli bench --model llama3.2-1b-q4_k_m.gguf --threads 2 --prompt 256 --gen 48 --json",
		Flags: append(append(globalFlags(),
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model `FILE` (GGUF)"},
			&cli.IntFlag{Name: "prompt", Aliases: []string{"p"}, Value: 256, Usage: "prompt length in `TOKENS` (random ids)"},
			&cli.IntFlag{Name: "gen", Aliases: []string{"g"}, Value: 48, Usage: "generated `TOKENS`"},
			&cli.IntFlag{Name: "repeat", Aliases: []string{"r"}, Value: 1, Usage: "measure `R` times"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the random prompt"},
			&cli.BoolFlag{Name: "bandwidth", Usage: "also measure the read bandwidth before every run (1 GiB buffer)"},
			&cli.IntFlag{Name: "bandwidth-bytes", Value: 1 << 30, Hidden: true, Usage: "size of the --bandwidth buffer"},
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

	Model       string    `json:"model"`
	Device      string    `json:"device"`
	Threads     int       `json:"threads"`
	Repeat      int       `json:"repeat"`
	FileBytes   int64     `json:"file_bytes"`
	PrefillRuns []float64 `json:"prefill_tps_runs"`  // per run, tok/s
	DecodeRuns  []float64 `json:"decode_tps_runs"`   // per run, tok/s
	LoadAvg     []float64 `json:"loadavg,omitempty"` // 1-minute load average before and after (Linux)

	ReadGBs      float64   `json:"read_gbs,omitempty"`       // median read rate (--bandwidth), 1e9 bytes/s
	ReadRuns     []float64 `json:"read_gbs_runs,omitempty"`  // read rate before each run
	DecodeBWFrac float64   `json:"decode_bw_frac,omitempty"` // median over runs of decode rate × file size / read rate
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
	load0 := loadAvg()
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
	if st, err := os.Stat(lm.Path); err == nil && !st.IsDir() {
		res.FileBytes = st.Size()
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
	var between func()
	var readRates []float64
	if c.Bool("bandwidth") {
		var pool *parallel.Pool
		if cpu, ok := lm.ownBackend.(*quant.CPU); ok {
			pool = cpu.Pool()
		} else {
			pool = parallel.New(threads)
			defer pool.Close()
		}
		size := c.Int("bandwidth-bytes")
		if size < 1<<20 {
			return UsageErrorf("bench: --bandwidth-bytes %d is below 1 MiB", size)
		}
		buf := make([]byte, size)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = byte(i >> 12) // fault every page in
		}
		between = func() { readRates = append(readRates, readRate(pool, buf)) }
	}
	runs, err := benchModel(c.Context, lm.Model, p, g, reps, c.Uint64("seed"), between)
	if err != nil {
		return err
	}
	var prefill, decode time.Duration
	for _, r := range runs {
		prefill += r.prefill
		decode += r.decode
		res.PrefillRuns = append(res.PrefillRuns, round1(float64(p)/r.prefill.Seconds()))
		res.DecodeRuns = append(res.DecodeRuns, round1(float64(g)/r.decode.Seconds()))
	}
	res.PrefillTPS = float64(p*reps) / prefill.Seconds()
	res.DecodeTPS = float64(g*reps) / decode.Seconds()
	if len(readRates) == len(runs) && len(runs) > 0 {
		// Each run against the read rate measured just before it, so that
		// load from other processes weighs on both sides of the ratio.
		fracs := make([]float64, len(runs))
		for i, r := range runs {
			res.ReadRuns = append(res.ReadRuns, round1(readRates[i]/1e9))
			fracs[i] = float64(res.FileBytes) * float64(g) / r.decode.Seconds() / readRates[i]
		}
		res.ReadGBs = round1(median(readRates) / 1e9)
		res.DecodeBWFrac = float64(int(median(fracs)*1000+0.5)) / 1000
	}
	if load0 >= 0 {
		res.LoadAvg = []float64{load0, loadAvg()}
	}

	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(res)
	}
	_, err = fmt.Fprintf(c.App.Writer,
		"model %s on %s, %d threads; load %.2f s\nprefill %d tokens: %.1f tok/s\ndecode  %d tokens: %.1f tok/s\n",
		res.Model, res.Device, res.Threads, res.LoadSeconds, p, res.PrefillTPS, g, res.DecodeTPS)
	if err == nil && res.ReadGBs > 0 {
		_, err = fmt.Fprintf(c.App.Writer, "read bandwidth %.1f GB/s; decode reads the file at %.0f %% of it\n",
			res.ReadGBs, 100*res.DecodeBWFrac)
	}
	return err
}

// benchRun is one measured run.
type benchRun struct{ prefill, decode time.Duration }

// benchModel times reps runs of a p-token prefill in one batch followed by
// g single-token decode steps on m, after a one-token warm-up. between,
// when not nil, runs before every run, outside the timed parts.
func benchModel(ctx context.Context, m core.Model, p, g, reps int, seed uint64, between func()) ([]benchRun, error) {
	info := m.Info()
	if info.ContextLength > 0 && p+g > info.ContextLength {
		return nil, UsageErrorf("bench: %d prompt + %d generated tokens exceed the model's context of %d", p, g, info.ContextLength)
	}
	cache, err := m.NewCache(1, p+g)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
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
		return nil, err
	}
	runs := make([]benchRun, 0, reps)
	for range reps {
		if between != nil {
			between()
		}
		if err := cache.Truncate(0, 0); err != nil {
			return nil, err
		}
		b.Reset()
		for i := range p {
			b.Add(core.TokenID(rng.IntN(vocab)), int32(i), 0, i == p-1)
		}
		var r benchRun
		t0 := time.Now()
		if err := forward(); err != nil {
			return nil, err
		}
		r.prefill = time.Since(t0)

		t0 = time.Now()
		for i := range g {
			b.Reset()
			b.Add(argmax(logits), int32(p+i), 0, true)
			if err := forward(); err != nil {
				return nil, err
			}
		}
		r.decode = time.Since(t0)
		runs = append(runs, r)
	}
	return runs, nil
}

// readRate returns the best of three timed reads of buf, in bytes/s.
func readRate(p *parallel.Pool, buf []byte) float64 {
	best := 0.0
	for range 3 {
		t0 := time.Now()
		quant.StreamRead(p, buf)
		best = max(best, float64(len(buf))/time.Since(t0).Seconds())
	}
	return best
}

// loadAvg returns the 1-minute load average, or −1 where /proc/loadavg is
// not available.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

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
