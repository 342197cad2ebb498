package quant

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

func openFixture(t *testing.T, name string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(fixtures.Path(t, "models", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func tensorPlans(f *gguf.File) []TensorPlan {
	out := make([]TensorPlan, len(f.Tensors))
	for i, ti := range f.Tensors {
		out[i] = TensorPlan{Name: ti.Name, Shape: ti.Shape, Type: ti.Type}
	}
	return out
}

// TestPlanMatchesLlamaCpp plans the F32 fixture model for each file type
// llama.cpp produced a fixture of and compares names, order and types.
func TestPlanMatchesLlamaCpp(t *testing.T) {
	src := openFixture(t, "fx-llama-f32.gguf")
	layers, _ := src.Uint("llama.block_count")
	for _, c := range []struct {
		ft   FileType
		file string
	}{
		{FileQ8_0, "fx-llama-q8_0.gguf"}, {FileQ4_0, "fx-llama-q4_0.gguf"},
		{FileQ4_K_M, "fx-llama-q4_k_m.gguf"}, {FileQ6_K, "fx-llama-q6_k.gguf"},
		{FileF16, "fx-llama-f16.gguf"},
	} {
		t.Run(c.ft.String(), func(t *testing.T) {
			ref := openFixture(t, c.file)
			plan, err := Plan(c.ft, tensorPlans(src), ModelParams{Arch: "llama", Layers: int(layers)})
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, p := range plan {
				got = append(got, fmt.Sprintf("%s %s", p.Name, dtype.Name(p.Target)))
			}
			for _, ti := range ref.Tensors {
				want = append(want, fmt.Sprintf("%s %s", ti.Name, dtype.Name(ti.Type)))
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("plan differs from llama.cpp's file (-want +got):\n%s", d)
			}
		})
	}
}

func TestPlanRules(t *testing.T) {
	mat := func(name string, ne0, ne1 int) TensorPlan {
		return TensorPlan{Name: name, Shape: []int{ne0, ne1}, Type: core.F32}
	}
	targets := func(ft FileType, mp ModelParams, ts ...TensorPlan) map[string]string {
		plan, err := Plan(ft, ts, mp)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, p := range plan {
			m[p.Name] = dtype.Name(p.Target)
		}
		return m
	}
	llama8 := ModelParams{Arch: "llama", Layers: 8}
	t.Run("tied embeddings take the output rule", func(t *testing.T) {
		got := targets(FileQ4_0, llama8, mat("token_embd.weight", 256, 100))
		if d := cmp.Diff(map[string]string{"token_embd.weight": "q6_k"}, got); d != "" {
			t.Error(d)
		}
	})
	t.Run("fallbacks when ne0 is not a multiple of 256", func(t *testing.T) {
		got := targets(FileQ4_K_M, llama8,
			mat("output.weight", 320, 10), mat("blk.0.ffn_down.weight", 320, 10),
			mat("blk.1.ffn_down.weight", 320, 10), mat("blk.2.attn_q.weight", 320, 10),
			mat("blk.2.attn_k.weight", 48, 10), mat("blk.2.attn_norm.weight", 320, 1))
		want := map[string]string{
			"output.weight":          "q8_0", // ne0 % 256 on the output: Q8_0 at once
			"blk.0.ffn_down.weight":  "q8_0", // Q6_K (more bits) → Q8_0
			"blk.1.ffn_down.weight":  "q5_0", // Q4_K → Q5_0
			"blk.2.attn_q.weight":    "q5_0",
			"blk.2.attn_k.weight":    "f16", // not even a multiple of 32
			"blk.2.attn_norm.weight": "f32",
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Error(d)
		}
	})
	t.Run("q5_k_m use_more_bits over 8 layers", func(t *testing.T) {
		var ts []TensorPlan
		for i := range 8 {
			ts = append(ts, mat(fmt.Sprintf("blk.%d.attn_v.weight", i), 256, 64), mat(fmt.Sprintf("blk.%d.ffn_down.weight", i), 512, 256))
		}
		got := targets(FileQ5_K_M, llama8, ts...)
		for i := range 8 {
			want := "q5_k"
			if i == 0 || i == 7 || i == 3 || i == 6 { // i < 1, i ≥ 7, (i−1)%3 == 2
				want = "q6_k"
			}
			for _, n := range []string{"attn_v", "ffn_down"} {
				if g := got[fmt.Sprintf("blk.%d.%s.weight", i, n)]; g != want {
					t.Errorf("layer %d %s: %s, want %s", i, n, g, want)
				}
			}
		}
	})
	t.Run("fused qkv and experts", func(t *testing.T) {
		got := targets(FileQ4_K_M, ModelParams{Arch: "llama", Layers: 8, Experts: 8},
			mat("blk.0.attn_qkv.weight", 256, 768), mat("blk.5.attn_v.weight", 256, 64),
			mat("blk.5.attn_k.weight", 256, 64), mat("blk.5.attn_output.weight", 256, 256))
		want := map[string]string{
			"blk.0.attn_qkv.weight": "q5_k", "blk.5.attn_v.weight": "q8_0",
			"blk.5.attn_k.weight": "q8_0", "blk.5.attn_output.weight": "q5_k",
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Error(d)
		}
	})
	t.Run("float file types convert weights only", func(t *testing.T) {
		got := targets(FileF16, llama8, mat("blk.0.attn_q.weight", 100, 3), TensorPlan{Name: "blk.0.attn_q.bias", Shape: []int{3}, Type: core.F32})
		if d := cmp.Diff(map[string]string{"blk.0.attn_q.weight": "f16", "blk.0.attn_q.bias": "f32"}, got); d != "" {
			t.Error(d)
		}
	})
}

func TestParseFileType(t *testing.T) {
	for _, name := range []string{"q8_0", "Q4_K_M", "q5_k_m", "q6_k", "q4_0", "q4_1", "q5_0", "q5_1", "f16", "bf16", "f32"} {
		ft, err := ParseFileType(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := ft.DefaultType(); !ok {
			t.Errorf("%s: no default type", name)
		}
	}
	if _, err := ParseFileType("q3_k_xl"); core.KindOf(err) != core.KindInvalid {
		t.Errorf("unknown name: got %v", err)
	}
	if FileType(99).String() != "ftype(99)" {
		t.Error("unknown file type name")
	}
	if _, err := Plan(FileType(99), nil, ModelParams{}); core.KindOf(err) != core.KindInvalid {
		t.Errorf("Plan with an unknown file type: %v", err)
	}
}

func TestConvert(t *testing.T) {
	src := randNormal(5, 4*512)
	f16, _ := Quantize(nil, core.F16, src)
	for _, to := range []core.DType{core.Q4_K, core.Q8_0, core.F32, core.Q6_K} {
		// Converting from F16 equals quantizing the widened values.
		wide := make([]float32, len(src))
		if err := Dequantize(wide, core.F16, f16); err != nil {
			t.Fatal(err)
		}
		want, _ := Quantize(nil, to, wide)
		got := make([]byte, len(want))
		if err := Convert(got, to, f16, core.F16, 512, nil); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: %s", dtype.Name(to), d)
		}
	}
	for _, c := range []struct {
		name     string
		dst, src int
		to, from core.DType
		ne0      int
	}{
		{"bad row", 34, 100, core.Q8_0, core.F32, 32},
		{"short dst", 10, 128, core.Q8_0, core.F32, 32},
		{"unsupported from", 34, 128, core.Q8_0, core.I32, 32},
		{"unsupported to", 128, 128, core.I32, core.F32, 32},
		{"partial block", 34, 120, core.Q8_0, core.F32, 30},
	} {
		if err := Convert(make([]byte, c.dst), c.to, make([]byte, c.src), c.from, c.ne0, nil); core.KindOf(err) != core.KindInvalid {
			t.Errorf("%s: got %v, want KindInvalid", c.name, err)
		}
	}
}
