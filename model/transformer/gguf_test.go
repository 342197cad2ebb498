package transformer

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

func TestConfigFromFixtures(t *testing.T) {
	swa2 := []bool{true, false}
	swa3 := []bool{true, true, true, true, true, false}
	tests := []struct {
		model string
		check func(c Config) string
	}{
		{"fx-llama-f32", func(c Config) string {
			return cmp.Diff(Config{Arch: ArchLlama, Name: "synthetic-fixture", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64,
				FFN: 512, Vocab: 261, Context: 256, NormEps: 1e-5, KQScale: 0.125,
				Rope: Rope{Style: RopeNorm, Dims: 64, Base: 500000, FreqScale: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigCtx: 256}}, c)
		}},
		{"fx-qwen3-f32", func(c Config) string {
			return cmp.Diff([]any{RopeNeoX, float32(0.125), float32(0)}, []any{c.Rope.Style, c.KQScale, c.QScale})
		}},
		{"fx-phi3-f32", func(c Config) string {
			return cmp.Diff([]any{RopeNeoX, float32(1), float32(0.125)}, []any{c.Rope.Style, c.KQScale, c.QScale})
		}},
		{"fx-gemma2-f32", func(c Config) string {
			return cmp.Diff([]any{RopeNeoX, float32(16), float32(0.125), 4, swa2, float32(50), float32(30), 0},
				[]any{c.Rope.Style, c.EmbedScale, c.QScale, c.SlidingWindow, c.SWALayers, c.AttnSoftcap, c.FinalSoftcap, c.LocalRope.Dims})
		}},
		{"fx-gemma3-f32", func(c Config) string {
			return cmp.Diff([]any{8, swa3, float32(0), float32(0), float32(10000), float32(500000)},
				[]any{c.SlidingWindow, c.SWALayers, c.AttnSoftcap, c.FinalSoftcap, c.LocalRope.Base, c.Rope.Base})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			f, err := gguf.Open(fixtures.Path(t, "models", tt.model+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, err := ConfigFromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			if d := tt.check(c); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
}

// ggufFile builds an in-memory GGUF file with the given metadata.
func ggufFile(t *testing.T, kv map[string]any) *gguf.File {
	t.Helper()
	w := gguf.NewWriter()
	for k, v := range kv {
		if err := w.SetKV(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConfigErrors(t *testing.T) {
	base := func(arch string) map[string]any {
		return map[string]any{
			"general.architecture": arch, arch + ".context_length": uint32(64), arch + ".embedding_length": uint32(32),
			arch + ".block_count": uint32(1), arch + ".feed_forward_length": uint32(64), arch + ".attention.head_count": uint32(4),
			arch + ".attention.layer_norm_rms_epsilon": float32(1e-6), arch + ".vocab_size": uint32(10),
		}
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		kv   map[string]any
	}{
		{"no architecture", with(base("llama"), "general.architecture", nil)},
		{"unsupported architecture", with(base("llama"), "general.architecture", "mamba")},
		{"missing embedding length", with(base("llama"), "llama.embedding_length", nil)},
		{"missing epsilon", with(base("qwen2"), "qwen2.attention.layer_norm_rms_epsilon", nil)},
		{"heads not a multiple of kv heads", with(base("llama"), "llama.attention.head_count_kv", uint32(3))},
		{"string where a number belongs", with(base("llama"), "llama.block_count", "two")},
		{"per-layer head counts", with(base("llama"), "llama.attention.head_count_kv", []int32{2, 4})},
		{"unknown rope scaling", with(base("llama"), "llama.rope.scaling.type", "ntk")},
		{"rope wider than a head", with(base("llama"), "llama.rope.dimension_count", uint32(16))},
		{"value length differs", with(base("llama"), "llama.attention.value_length", uint32(16))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ConfigFromGGUF(ggufFile(t, tt.kv))
			if core.KindOf(err) != core.KindInvalid {
				t.Errorf("error %v, want kind invalid", err)
			}
		})
	}
	// A complete configuration passes, with defaults applied.
	c, err := ConfigFromGGUF(ggufFile(t, base("qwen2")))
	if err != nil {
		t.Fatal(err)
	}
	if c.KVHeads != 4 || c.HeadDim != 8 || c.Rope.Dims != 8 || c.Rope.Base != 10000 || c.Rope.Style != RopeNeoX {
		t.Errorf("defaults: %+v", c)
	}
}
