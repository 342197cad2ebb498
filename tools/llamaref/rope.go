package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// ropeVariant is a RoPE configuration the fixtures do not cover, written
// into a copy of a synthesized model: extra metadata and extra F32 tensors.
type ropeVariant struct {
	name    string
	kv      map[string]any
	tensors map[string][]float32
}

// ropeVariants returns the variants for a model of architecture arch with
// head dimension hd (the rotary dimension count).
func ropeVariants(arch string, hd int) []ropeVariant {
	factors := func(lo, hi float32) []float32 { // a smooth ramp, like real factor tables
		f := make([]float32, hd/2)
		for i := range f {
			f[i] = lo + (hi-lo)*float32(i)/float32(len(f)-1)
		}
		return f
	}
	switch arch {
	case "llama":
		return []ropeVariant{
			{name: "linear ×2", kv: map[string]any{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": float32(2)}},
			{name: "YaRN ×4 from 64", kv: map[string]any{"llama.rope.scaling.type": "yarn", "llama.rope.scaling.factor": float32(4), "llama.rope.scaling.original_context_length": uint32(64)}},
			{name: "rope_freqs (Llama 3 style)", tensors: map[string][]float32{"rope_freqs.weight": factors(1, 8)}},
		}
	case "phi3":
		return []ropeVariant{
			{name: "LongRoPE (long factors)", kv: map[string]any{"phi3.rope.scaling.original_context_length": uint32(16), "phi3.rope.scaling.attn_factor": float32(1.19)},
				tensors: map[string][]float32{"rope_factors_long.weight": factors(1, 6), "rope_factors_short.weight": factors(1, 1.5)}},
		}
	case "qwen2":
		return []ropeVariant{
			{name: "YaRN ×4 from 64", kv: map[string]any{"qwen2.rope.scaling.type": "yarn", "qwen2.rope.scaling.factor": float32(4), "qwen2.rope.scaling.original_context_length": uint32(64)}},
		}
	}
	return nil
}

// writeVariant copies src with v's metadata and tensors added (replacing
// the values of keys it already has) into dir and returns the new file's path.
func writeVariant(src, dir string, v ropeVariant, tag string) (string, error) {
	f, err := gguf.Open(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w, err := gguf.WriterFrom(f)
	if err != nil {
		return "", err
	}
	for k, val := range v.kv {
		if err := w.SetKV(k, val); err != nil {
			return "", fmt.Errorf("%s: %w", k, err)
		}
	}
	for name, vals := range v.tensors {
		b := make([]byte, 4*len(vals))
		for i, x := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		if err := w.AddTensor(name, core.F32, []int{len(vals)}, b); err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, tag+".gguf")
	return path, w.WriteFile(path)
}
