// Package synth writes synthetic GGUF models: real architectures and shapes
// (spec gguf-and-quants.md §3.2–§3.3) filled with seeded random weights, for
// tests, benchmarks and demos that need a model llama.cpp and Pensieve can
// both load but no downloaded weights. Matrices have standard deviation
// 1/√fan-in and norms are near 1, so activations stay in a sane range.
package synth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Options selects the model to synthesize.
type Options struct {
	// Arch is the architecture: llama, qwen2, qwen3, phi3 or gemma2.
	Arch string
	// Preset names the shape: tiny (the fixtures' 2-block model),
	// smollm2-135m, qwen2.5-0.5b or llama3.2-1b.
	Preset string
	// Type is the llama.cpp file type: f32, f16, bf16, q8_0, q4_0, q4_1,
	// q5_0, q5_1, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s,
	// q5_k_m, q6_k, iq4_nl or iq4_xs. Mixed types pick each tensor's type
	// as llama.cpp's quantizer does. Empty means f32.
	Type string
	// VocabFile is a GGUF file whose tokenizer.* metadata (vocabulary,
	// merges, scores, special ids, chat template) is copied. Empty means a
	// 261-token byte vocabulary with a Llama 3 chat template.
	VocabFile string
	// Seed makes the weights reproducible: equal options give equal files.
	Seed uint64
	// Workers bounds the goroutines generating weights; 0 means GOMAXPROCS.
	Workers int
}

// Architectures lists the supported architectures.
var Architectures = []string{"llama", "qwen2", "qwen3", "phi3", "gemma2"}

// preset is a model shape; the architecture decides which tensors exist.
type preset struct {
	embd, layers, heads, kvHeads, headDim, ff int
	ctx                                       uint32
	ropeBase, eps                             float32
	tied                                      bool
	llama3Rope                                bool   // add rope_freqs.weight (Llama 3.x scaling) for llama
	slidingWindow                             uint32 // gemma2
}

// presets mirror the published configurations of the models they are named
// after (the vocabulary comes from Options.VocabFile instead).
var presets = map[string]preset{
	"tiny":         {embd: 256, layers: 2, heads: 4, kvHeads: 2, headDim: 64, ff: 512, ctx: 256, ropeBase: 500000, eps: 1e-5, slidingWindow: 4},
	"smollm2-135m": {embd: 576, layers: 30, heads: 9, kvHeads: 3, headDim: 64, ff: 1536, ctx: 8192, ropeBase: 100000, eps: 1e-5, tied: true, slidingWindow: 4096},
	"qwen2.5-0.5b": {embd: 896, layers: 24, heads: 14, kvHeads: 2, headDim: 64, ff: 4864, ctx: 32768, ropeBase: 1000000, eps: 1e-6, tied: true, slidingWindow: 4096},
	"llama3.2-1b":  {embd: 2048, layers: 16, heads: 32, kvHeads: 8, headDim: 64, ff: 8192, ctx: 131072, ropeBase: 500000, eps: 1e-5, tied: true, llama3Rope: true, slidingWindow: 4096},
}

// Presets returns the preset names, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// check validates the options and returns the preset and file type.
func (o *Options) check() (preset, fileType, error) {
	const op = "synth.Write"
	if !slices.Contains(Architectures, o.Arch) {
		return preset{}, fileType{}, core.Errorf(core.KindInvalid, op, "unknown architecture %q (want one of %s)", o.Arch, strings.Join(Architectures, ", "))
	}
	p, ok := presets[o.Preset]
	if !ok {
		return preset{}, fileType{}, core.Errorf(core.KindInvalid, op, "unknown preset %q (want one of %s)", o.Preset, strings.Join(Presets(), ", "))
	}
	name := o.Type
	if name == "" {
		name = "f32"
	}
	ft, ok := fileTypes[strings.ToLower(name)]
	if !ok {
		return preset{}, fileType{}, core.Errorf(core.KindInvalid, op, "unknown file type %q (want one of %s)", o.Type, strings.Join(FileTypes(), ", "))
	}
	if o.Workers < 0 {
		return preset{}, fileType{}, core.Errorf(core.KindInvalid, op, "negative worker count %d", o.Workers)
	}
	return p, ft, nil
}

func (p preset) String() string {
	return fmt.Sprintf("embd %d, %d layers, %d/%d heads of %d, ffn %d", p.embd, p.layers, p.heads, p.kvHeads, p.headDim, p.ff)
}
