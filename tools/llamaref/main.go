// Command llamaref checks Pensieve against an independent llama.cpp build on
// models, prompts and texts the shared fixtures do not contain: it
// synthesizes models with `pensieve-cli models synth` from other seeds,
// evaluates random prompts with both `pensieve-cli eval` and the ref program
// (ref/ref.c, linked against a prebuilt llama.cpp), compares greedy
// continuations of the F32/F16 models, and tokenizes random texts with both.
// It prints a Markdown table. It is a developer tool: it needs gcc, the
// prebuilt libraries (see README.md) and minutes of CPU, so neither `make
// test` nor CI runs it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	cli := flag.String("cli", "../../bin/pensieve-cli", "pensieve-cli binary")
	ref := flag.String("ref", "ref/ref", "the ref program built from ref/ref.c")
	work := flag.String("work", filepath.Join(os.TempDir(), "pensieve-llamaref"), "directory for the synthesized models")
	seeds := flag.String("seeds", "2,3", "comma-separated synth seeds")
	archs := flag.String("archs", "llama,qwen2,qwen3,phi3,gemma2", "architectures")
	types := flag.String("types", "f32,f16,q8_0,q4_0,q4_k_m,q6_k", "file types")
	vocabs := flag.String("vocabs", "", "comma-separated tokenizer GGUF files for the tokenization check")
	texts := flag.Int("texts", 300, "random texts per vocabulary")
	against := flag.String("against", "", "compare ref with this other CPU variant instead of Pensieve (e.g. haswell): how much two llama.cpp builds disagree")
	rope := flag.Bool("rope", false, "instead: RoPE scalings the fixtures lack (linear, YaRN, rope_freqs, LongRoPE) on copies of seed-2 F32 models")
	variant := flag.String("variant", "icelake", "ggml CPU variant of the prebuilt libraries (AVX-512 like the fixtures' machine; this VM's own best, sapphirerapids, repacks for AMX)")
	flag.Parse()
	libdir := os.Getenv("LIBDIR")
	if libdir == "" {
		fail(fmt.Errorf("set LIBDIR to the prebuilt llama.cpp libraries (README.md)"))
	}
	h := &harness{cli: *cli, ref: *ref, work: *work, env: []string{"VARIANT=" + filepath.Join(libdir, "libggml-cpu-"+*variant+".so")}}
	if *against != "" {
		h.other = []string{"VARIANT=" + filepath.Join(libdir, "libggml-cpu-"+*against+".so")}
	}
	if err := os.MkdirAll(h.work, 0o755); err != nil {
		fail(err)
	}
	if *rope {
		if err := h.ropeCheck(); err != nil {
			fail(err)
		}
		return
	}
	fmt.Println("| model | seed | prompts | worst rel. L2 | positions over tolerance | argmax misses (margin ≥ min) | greedy (24 tokens) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(*seeds, ",") {
		seed, err := strconv.Atoi(s)
		if err != nil {
			fail(err)
		}
		for _, arch := range strings.Split(*archs, ",") {
			for _, typ := range strings.Split(*types, ",") {
				if err := h.model(arch, typ, seed); err != nil {
					fail(err)
				}
			}
		}
	}
	if *vocabs != "" {
		fmt.Println()
		fmt.Println("| vocabulary | texts | identical | first difference |")
		fmt.Println("|---|---|---|---|")
		for _, v := range strings.Split(*vocabs, ",") {
			if err := h.tokenize(v, *texts); err != nil {
				fail(err)
			}
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "llamaref:", err)
	os.Exit(1)
}

type harness struct {
	cli, ref, work string
	env            []string // for the ref program
	other          []string // when set, a second ref variant stands in for Pensieve
	suffix         string   // appended to the next table row
}

// run executes name with args, env additions and stdin, returning stdout.
func run(name string, env []string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tail := errb.String()
		if len(tail) > 400 {
			tail = tail[len(tail)-400:]
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args[:min(len(args), 3)], " "), err, tail)
	}
	return out.Bytes(), nil
}

func idsArg(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, " ")
}

// model synthesizes one model, compares the logits of three random prompts
// (17, 64 and 200 tokens) and, for F32/F16, a 24-token greedy continuation.
func (h *harness) model(arch, typ string, seed int) error {
	path := filepath.Join(h.work, fmt.Sprintf("%s-%s-s%d.gguf", arch, typ, seed))
	if _, err := os.Stat(path); err != nil {
		if _, err := run(h.cli, nil, nil, "models", "synth", "--arch", arch, "--type", typ, "--seed", strconv.Itoa(seed), "-o", path); err != nil {
			return err
		}
	}
	label := fmt.Sprintf("%s %s | %d", arch, typ, seed)
	return h.compare(path, label, typ == "f32" || typ == "f16", seed)
}

// compare evaluates three random prompts (17, 64, 200 tokens) on path with
// both implementations and prints one table row starting with label.
func (h *harness) compare(path, label string, exact bool, seed int) error {
	tol, minMargin := 2e-2, 0.2
	if exact {
		tol, minMargin = 5e-3, 0.05
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x11a3a))
	worst, over, misses, positions := 0.0, 0, 0, 0
	for _, n := range []int{17, 64, 200} {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = rng.IntN(261)
		}
		// UBATCH=32 keeps llama.cpp on its row-by-row flash attention, the
		// kernel the fixtures were made with (docs/numerics.md).
		refOut, err := run(h.ref, append(h.env, "UBATCH=32"), nil, path, idsArg(ids))
		if err != nil {
			return err
		}
		var ours struct{ Logits [][]float64 }
		if h.other != nil {
			out, err := run(h.ref, append(h.other, "UBATCH=32"), nil, path, idsArg(ids))
			if err != nil {
				return err
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				row, err := floats(line)
				if err != nil {
					return err
				}
				ours.Logits = append(ours.Logits, row)
			}
		} else {
			ourOut, err := run(h.cli, nil, nil, "eval", "--model", path, "--ids", idsArg(ids), "--json")
			if err != nil {
				return err
			}
			if err := json.Unmarshal(ourOut, &ours); err != nil {
				return fmt.Errorf("eval output: %w", err)
			}
		}
		lines := strings.Split(strings.TrimSpace(string(refOut)), "\n")
		if len(lines) != n || len(ours.Logits) != n {
			return fmt.Errorf("%s: %d reference rows, %d of ours, want %d", path, len(lines), len(ours.Logits), n)
		}
		for p := range n {
			want, err := floats(lines[p])
			if err != nil {
				return err
			}
			e := relL2(ours.Logits[p], want)
			worst = max(worst, e)
			positions++
			if e > tol {
				over++
			}
			a, b := top2(want)
			if want[a]-want[b] >= minMargin && argmax(ours.Logits[p]) != a {
				misses++
			}
		}
	}
	greedy := "—"
	if exact && h.other == nil {
		prompt := make([]int, 17)
		for i := range prompt {
			prompt[i] = rng.IntN(261)
		}
		g, err := h.greedy(path, prompt)
		if err != nil {
			return err
		}
		greedy = g
	}
	fmt.Printf("| %s | 17, 64, 200 | %.3g | %d of %d | %d | %s |%s\n", label, worst, over, positions, misses, greedy, h.suffix)
	return nil
}

// greedy compares 24 greedy tokens after prompt.
func (h *harness) greedy(path string, prompt []int) (string, error) {
	refOut, err := run(h.ref, append(h.env, "MODE=greedy", "N=24", "UBATCH=32"), nil, path, idsArg(prompt))
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(string(refOut)), "\n")
	if len(lines) != 2 {
		return "", fmt.Errorf("greedy output: %q", refOut)
	}
	want, err := floats(strings.TrimPrefix(lines[0], "ids "))
	if err != nil {
		return "", err
	}
	margins, err := floats(strings.TrimPrefix(lines[1], "margins "))
	if err != nil {
		return "", err
	}
	ourOut, err := run(h.cli, nil, nil, "run", "--model", path, "--ids", idsArg(prompt), "-n", "24", "--ignore-eos", "--temperature", "0", "--json")
	if err != nil {
		return "", err
	}
	var ours struct{ IDs []int }
	if err := json.Unmarshal(ourOut, &ours); err != nil {
		return "", fmt.Errorf("run output: %w", err)
	}
	for i, w := range want {
		if i >= len(ours.IDs) || ours.IDs[i] != int(w) {
			return fmt.Sprintf("differs at step %d (reference margin %.3g)", i, margins[i]), nil
		}
	}
	return "identical", nil
}

// tokenize compares the tokenization of random texts with the vocabulary
// of vocab (copied into a synthesized model so that llama.cpp loads it).
func (h *harness) tokenize(vocab string, n int) error {
	path := filepath.Join(h.work, "tok-"+strings.TrimSuffix(filepath.Base(vocab), ".gguf")+".gguf")
	if _, err := os.Stat(path); err != nil {
		if _, err := run(h.cli, nil, nil, "models", "synth", "--arch", "llama", "--type", "q8_0", "--vocab", vocab, "-o", path); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(7, 0x70c))
	same, first := 0, "—"
	for i := range n {
		text := randomText(rng)
		refOut, err := run(h.ref, append(h.env, "MODE=tokenize"), []byte(text), path)
		if err != nil {
			return err
		}
		ourOut, err := run(h.cli, nil, []byte(text), "tokenize", "--model", path, "--json")
		if err != nil {
			return err
		}
		var ours []int
		if err := json.Unmarshal(ourOut, &ours); err != nil {
			return fmt.Errorf("tokenize output: %w", err)
		}
		want, err := floats(string(refOut))
		if err != nil {
			return err
		}
		ok := len(want) == len(ours)
		for j := 0; ok && j < len(want); j++ {
			ok = int(want[j]) == ours[j]
		}
		if ok {
			same++
		} else if first == "—" {
			first = fmt.Sprintf("text %d %q", i, text)
		}
	}
	fmt.Printf("| %s | %d | %d | %s |\n", filepath.Base(vocab), n, same, first)
	return nil
}

// pieces are what random texts are made of: words, numbers, punctuation,
// whitespace runs, contractions, accented and non-Latin scripts, emoji,
// code.
var pieces = []string{
	"the", "The", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello", "world",
	"don't", "it's", "we're", "I'll", "they've", "O'Neil", "123", "4567", "3.14159", "1,000,000", "2026-11-25",
	" ", "  ", "   ", "\n", "\n\n", "\t", " \n ", "\r\n", ".", ",", "!", "?", "...", "--", "—", "()", "[]", "{}", "\"", "'",
	"café", "naïve", "Straße", "über", "Ελληνικά", "русский", "日本語", "中文字符", "한국어", "עברית", "العربية", "हिन्दी",
	"🙂", "👍🏽", "🇫🇷", "e\u0301", "ﬁ", "\u200b", "func main() {", "x := y + 1", "<div class=\"a\">", "SELECT * FROM t;",
	"<|begin_of_text|>", "<s>", "</s>", "▁", "CamelCaseWord", "snake_case_word", "URL: https://example.com/a?b=c",
}

func randomText(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(24) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
		if rng.IntN(3) > 0 {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func floats(line string) ([]float64, error) {
	f := strings.Fields(line)
	out := make([]float64, len(f))
	for i, s := range f {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("reference output: %w", err)
		}
		out[i] = v
	}
	return out, nil
}

func relL2(a, b []float64) float64 {
	var num, den float64
	for i := range b {
		d := a[i] - b[i]
		num += d * d
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func top2(x []float64) (int, int) {
	a := argmax(x)
	b := -1
	for i, v := range x {
		if i != a && (b < 0 || v > x[b]) {
			b = i
		}
	}
	return a, b
}

// ropeCheck compares the RoPE variants of ropeVariants on copies of the
// seed-2 F32 models.
func (h *harness) ropeCheck() error {
	fmt.Println("| model | RoPE | prompts | worst rel. L2 | positions over tolerance | argmax misses (margin ≥ min) | greedy (24 tokens) | effect: last-position change vs unscaled |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, arch := range []string{"llama", "qwen2", "phi3"} {
		src := filepath.Join(h.work, fmt.Sprintf("%s-f32-s2.gguf", arch))
		if _, err := os.Stat(src); err != nil {
			if _, err := run(h.cli, nil, nil, "models", "synth", "--arch", arch, "--type", "f32", "--seed", "2", "-o", src); err != nil {
				return err
			}
		}
		for i, v := range ropeVariants(arch, 64) {
			path, err := writeVariant(src, h.work, v, fmt.Sprintf("rope-%s-%d", arch, i))
			if err != nil {
				return err
			}
			effect, err := h.effect(src, path)
			if err != nil {
				return err
			}
			h.suffix = fmt.Sprintf(" %.3g |", effect)
			if err := h.compare(path, arch+" f32 | "+v.name, true, 2); err != nil {
				return err
			}
			h.suffix = ""
		}
	}
	return nil
}

// effect returns the relative L2 change of Pensieve's last-position logits
// for a 200-token prompt between the unscaled model base and its variant:
// evidence that the variant's RoPE keys take effect at all.
func (h *harness) effect(base, variant string) (float64, error) {
	rng := rand.New(rand.NewPCG(9, 9))
	ids := make([]int, 200)
	for i := range ids {
		ids[i] = rng.IntN(261)
	}
	var rows [2][]float64
	for i, path := range []string{base, variant} {
		out, err := run(h.cli, nil, nil, "eval", "--model", path, "--ids", idsArg(ids), "--json")
		if err != nil {
			return 0, err
		}
		var r struct{ Logits [][]float64 }
		if err := json.Unmarshal(out, &r); err != nil {
			return 0, err
		}
		rows[i] = r.Logits[len(r.Logits)-1]
	}
	return relL2(rows[1], rows[0]), nil
}
