// Command bench measures Pensieve on the CPU with the shapes of the
// llama.cpp reference table (docs/performance.md, issue 12) and writes the
// results into docs/performance.md. It is what `make bench` runs:
//
//   - synthesizes each model once into -cache (random weights, real shapes,
//     the Llama 3 vocabulary; never committed),
//   - runs `pensieve-cli bench --bandwidth --json` on each, -runs times,
//     which also measures the machine's read bandwidth before every run,
//   - runs the warm-prefix test of cli/app through the engine,
//   - replaces the section between the bench markers of -doc with a table:
//     machine, load, read bandwidth, medians and ranges, the commands.
//
// It uses only the standard library and runs the CLI as a subprocess.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// model is one row of the reference table.
type model struct {
	preset, typ string
	// llama.cpp on the reference machine (AMD EPYC, 2 threads, 28.7 GB/s
	// read bandwidth; issue 12): prompt 256, 48 generated tokens.
	refPrefill, refDecode float64
}

var models = []model{
	{"llama3.2-1b", "q4_k_m", 45.0, 25.2},
	{"llama3.2-1b", "q8_0", 56.2, 15.5},
	{"smollm2-135m", "q8_0", 363, 75.9},
	{"smollm2-135m", "q4_k_m", 315, 70.4},
}

// refReadGBs is the reference machine's 2-thread read bandwidth.
const refReadGBs = 28.7

// benchJSON is the part of `pensieve-cli bench --json` used here.
type benchJSON struct {
	PrefillTPS   float64   `json:"prefill_tps"`
	DecodeTPS    float64   `json:"decode_tps"`
	LoadSeconds  float64   `json:"load_s"`
	FileBytes    int64     `json:"file_bytes"`
	PrefillRuns  []float64 `json:"prefill_tps_runs"`
	DecodeRuns   []float64 `json:"decode_tps_runs"`
	LoadAvg      []float64 `json:"loadavg"`
	ReadGBs      float64   `json:"read_gbs"`
	ReadRuns     []float64 `json:"read_gbs_runs"`
	DecodeBWFrac float64   `json:"decode_bw_frac"`
}

type result struct {
	m       model
	file    string
	bench   benchJSON
	command string
}

const (
	beginMarker = "<!-- bench:begin (written by make bench; edits inside are overwritten) -->"
	endMarker   = "<!-- bench:end -->"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	cli := flag.String("cli", "bin/pensieve-cli", "pensieve-cli binary")
	cache := flag.String("cache", defaultCache(), "directory for the synthesized models")
	vocab := flag.String("vocab", "", "GGUF file with the Llama 3 vocabulary (required)")
	doc := flag.String("doc", "docs/performance.md", "file to write the results into")
	cliDir := flag.String("cli-dir", "cli", "the cli module, for the warm-prefix test (empty: skip it)")
	runs := flag.Int("runs", 3, "measured runs per model")
	threads := flag.Int("threads", 2, "threads")
	prompt := flag.Int("prompt", 256, "prompt tokens")
	gen := flag.Int("gen", 48, "generated tokens")
	only := flag.String("models", "", "comma-separated subset, e.g. smollm2-135m-q8_0")
	flag.Parse()
	if *vocab == "" {
		log.Fatal("-vocab is required")
	}
	if err := os.MkdirAll(*cache, 0o755); err != nil {
		log.Fatal(err)
	}

	start := time.Now()
	load0 := loadAvg()
	var results []result
	for _, m := range models {
		name := m.preset + "-" + m.typ
		if *only != "" && !slices.Contains(strings.Split(*only, ","), name) {
			continue
		}
		file := filepath.Join(*cache, name+".gguf")
		if err := synth(*cli, m, *vocab, file); err != nil {
			log.Fatal(err)
		}
		args := []string{"bench", "--model", file, "--threads", fmt.Sprint(*threads),
			"--prompt", fmt.Sprint(*prompt), "--gen", fmt.Sprint(*gen), "--repeat", fmt.Sprint(*runs),
			"--bandwidth", "--json"}
		log.Printf("%s: %s %s", name, *cli, strings.Join(args, " "))
		out, err := run(*cli, args...)
		if err != nil {
			log.Fatal(err)
		}
		var b benchJSON
		if err := json.Unmarshal(out, &b); err != nil {
			log.Fatalf("%s: %v in %q", name, err, out)
		}
		log.Printf("%s: prefill %v tok/s, decode %v tok/s, read %.1f GB/s, load %v", name, b.PrefillRuns, b.DecodeRuns, b.ReadGBs, b.LoadAvg)
		results = append(results, result{m: m, file: file, bench: b,
			command: "pensieve-cli " + strings.Join(slices.Replace(args, 2, 3, name+".gguf"), " ")})
	}

	var prefix map[string]any
	if *cliDir != "" {
		prefixModel := filepath.Join(*cache, "smollm2-135m-q8_0.gguf")
		if err := synth(*cli, models[2], *vocab, prefixModel); err != nil {
			log.Fatal(err)
		}
		prefix, _ = warmPrefix(*cliDir, prefixModel)
	}

	section := render(results, prefix, start, load0, *threads, *prompt, *gen, *runs)
	if err := writeSection(*doc, section); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", *doc)
}

func defaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "pensieve", "bench")
	}
	return filepath.Join(os.TempDir(), "pensieve-bench")
}

// synth writes the model unless the file exists.
func synth(cli string, m model, vocab, file string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	log.Printf("synthesizing %s", file)
	tmp := file + ".tmp"
	if _, err := run(cli, "models", "synth", "--arch", "llama", "--preset", m.preset, "--type", m.typ,
		"--vocab", vocab, "-o", tmp); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// warmPrefix runs TestWarmPrefixTTFT of cli/app on the model and returns
// its JSON result.
func warmPrefix(cliDir, file string) (map[string]any, error) {
	out, err := os.CreateTemp("", "prefix-*.json")
	if err != nil {
		return nil, err
	}
	out.Close()
	defer os.Remove(out.Name())
	cmd := exec.Command("go", "test", "-count=1", "-timeout", "30m", "-run", "^TestWarmPrefixTTFT$", "-v", "./app")
	cmd.Dir = cliDir
	cmd.Env = append(os.Environ(), "PENSIEVE_BENCH_MODEL="+file, "PENSIEVE_BENCH_OUT="+out.Name())
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, os.Stderr), os.Stderr
	log.Printf("warm prefix: go test -run TestWarmPrefixTTFT ./app (in %s)", cliDir)
	runErr := cmd.Run()
	b, err := os.ReadFile(out.Name())
	if err != nil || len(b) == 0 {
		log.Printf("warm prefix: no result (%v, %v)", runErr, err)
		return nil, errors.Join(runErr, err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	r["passed"] = runErr == nil
	return r, nil
}

func run(name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func render(results []result, prefix map[string]any, start time.Time, load0 float64, threads, prompt, gen, runs int) string {
	var b strings.Builder
	commit := "unknown"
	if out, err := run("git", "rev-parse", "--short", "HEAD"); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	fmt.Fprintf(&b, "Written by `make bench` on %s (commit %s, %s, Go %s, %s/%s).\n\n",
		start.UTC().Format("2006-01-02 15:04 MST"), commit, time.Since(start).Round(time.Second), strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Machine: %s, %d logical CPUs; %d threads, prompt %d tokens, %d generated, %d runs per model "+
		"(median, range in brackets). 1-minute load average %.2f at the start, %.2f at the end (the machine may be shared: "+
		"compare the ratios to the read bandwidth measured before every run, not the absolute rates).\n\n",
		cpuModel(), runtime.NumCPU(), threads, prompt, gen, runs, load0, loadAvg())
	b.WriteString("| model (file) | load avg | prefill tok/s | decode tok/s | read GB/s | decode × size / read | load s | llama.cpp prefill / decode | decode bandwidth share, llama.cpp |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		mb := float64(r.bench.FileBytes) / 1e6
		refShare := r.m.refDecode * mb / 1e3 / refReadGBs
		loads := "–"
		if len(r.bench.LoadAvg) == 2 {
			loads = fmt.Sprintf("%.1f–%.1f", r.bench.LoadAvg[0], r.bench.LoadAvg[1])
		}
		fmt.Fprintf(&b, "| %s %s (%.0f MB) | %s | %s | %s | %s | %.0f %% | %.2f | %.1f / %.1f | %.0f %% |\n",
			r.m.preset, strings.ToUpper(r.m.typ), mb, loads, spread(r.bench.PrefillRuns), spread(r.bench.DecodeRuns),
			spread(r.bench.ReadRuns), 100*r.bench.DecodeBWFrac, r.bench.LoadSeconds, r.m.refPrefill, r.m.refDecode, 100*refShare)
	}
	b.WriteString("\n`load avg` is the 1-minute load average before and after the model's runs (2 cores). " +
		"`decode × size / read` is, per run, the decode rate times the file size over the read rate of a 1 GiB " +
		"buffer on the same threads measured just before (`quant.StreamRead`), median over the runs: the share of " +
		"the machine's read bandwidth that decoding uses. The llama.cpp column gives the same share on its machine (28.7 GB/s). `load s` is the time " +
		"to open the file and build the model (page cache warm).\n\n")
	if prefix != nil {
		fmt.Fprintf(&b, "Warm prefix (`TestWarmPrefixTTFT`, through the engine, %v): a %v-token prompt whose first %v tokens an "+
			"earlier request evaluated reaches its first token in %.3f s against %.2f s cold — %.1f %% (%v tokens reused; "+
			"target ≤ 10 %%; passed: %v).\n\n",
			prefix["model"], num(prefix["prefix_tokens"])+num(prefix["suffix_tokens"]), prefix["prefix_tokens"],
			num(prefix["warm_ttft_s"]), num(prefix["cold_ttft_s"]), 100*num(prefix["warm_over_cold"]), prefix["cached_tokens"], prefix["passed"])
	}
	b.WriteString("Commands:\n\n```sh\nmake bench    # all of the above; models cached in ~/.cache/pensieve/bench\n")
	for _, r := range results {
		b.WriteString(r.command + "\n")
	}
	b.WriteString("PENSIEVE_BENCH_MODEL=smollm2-135m-q8_0.gguf go test -run TestWarmPrefixTTFT -v ./app   # in cli/\n```\n")
	return b.String()
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// spread formats the median of v with its range.
func spread(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return fmt.Sprintf("%.1f", med)
	}
	return fmt.Sprintf("%.1f [%.1f–%.1f]", med, s[0], s[len(s)-1])
}

// writeSection replaces the text between the bench markers of path,
// appending the markers and a heading when they are missing.
func writeSection(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc := string(old)
	block := beginMarker + "\n" + section + endMarker
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i >= 0 && j > i {
		doc = doc[:i] + block + doc[j+len(endMarker):]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n## Models on the CPU (`make bench`, issue 12)\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// cpuModel returns the CPU's model name from /proc/cpuinfo (Linux).
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// loadAvg returns the 1-minute load average, or 0 where it is unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(b), &v)
	return v
}
