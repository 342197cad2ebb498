package synth

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// synth writes a model into memory and reads it back.
func synth(t testing.TB, o Options) (*gguf.File, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := WriteTo(context.Background(), &buf, o); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f, buf.Bytes()
}

type row struct {
	Name  string
	Type  string
	Shape []int
}

func table(f *gguf.File) []row {
	var out []row
	for _, ti := range f.Tensors {
		out = append(out, row{ti.Name, dtype.Name(ti.Type), ti.Shape})
	}
	return out
}

func tableMap(f *gguf.File) map[string]row {
	out := map[string]row{}
	for _, r := range table(f) {
		out[r.Name] = r
	}
	return out
}

// metaMap returns every metadata value but general.name.
func metaMap(f *gguf.File) map[string]gguf.Value {
	out := map[string]gguf.Value{}
	for _, kv := range f.KV {
		if kv.Key != "general.name" {
			out[kv.Key] = kv.Value
		}
	}
	return out
}

// TestMatchesFixtures: the tiny preset reproduces the fixtures that
// llama.cpp's tools wrote — the same metadata (keys, types, values, order)
// and the same tensor table — for every architecture and for the
// quantized llama files' per-tensor type mixes.
func TestMatchesFixtures(t *testing.T) {
	cases := []struct {
		arch, typ, file string
		ordered         bool // the fixture keeps converter order (llama-quantize reorders)
	}{
		{"llama", "f32", "fx-llama-f32.gguf", true},
		{"qwen2", "f32", "fx-qwen2-f32.gguf", true},
		{"qwen3", "f32", "fx-qwen3-f32.gguf", true},
		{"phi3", "f32", "fx-phi3-f32.gguf", true},
		{"gemma2", "f32", "fx-gemma2-f32.gguf", true},
		{"llama", "f16", "fx-llama-f16.gguf", false},
		{"llama", "q8_0", "fx-llama-q8_0.gguf", false},
		{"llama", "q4_0", "fx-llama-q4_0.gguf", false},
		{"llama", "q4_k_m", "fx-llama-q4_k_m.gguf", false},
		{"llama", "q6_k", "fx-llama-q6_k.gguf", false},
		{"qwen3", "q8_0", "fx-qwen3-q8_0.gguf", false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			fx, err := gguf.Open(fixtures.Path(t, "models", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer fx.Close()
			got, _ := synth(t, Options{Arch: c.arch, Preset: "tiny", Type: c.typ, Seed: 7})
			if diff := cmp.Diff(metaMap(fx), metaMap(got)); diff != "" {
				t.Errorf("metadata (-fixture +synth):\n%s", diff)
			}
			if c.ordered {
				var want, have []string
				for _, kv := range fx.KV {
					want = append(want, kv.Key)
				}
				for _, kv := range got.KV {
					have = append(have, kv.Key)
				}
				if diff := cmp.Diff(want, have); diff != "" {
					t.Errorf("key order (-fixture +synth):\n%s", diff)
				}
				if diff := cmp.Diff(table(fx), table(got)); diff != "" {
					t.Errorf("tensors (-fixture +synth):\n%s", diff)
				}
			} else if diff := cmp.Diff(tableMap(fx), tableMap(got)); diff != "" {
				t.Errorf("tensors (-fixture +synth):\n%s", diff)
			}
		})
	}
}

// stats returns the mean and standard deviation of the values of a
// tensor's first maxRows rows.
func stats(t *testing.T, f *gguf.File, name string, maxRows int) (mean, std float64) {
	t.Helper()
	tt, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	rows := min(tt.Rows(), maxRows)
	rowBytes, err := dtype.RowSize(tt.Type, tt.Shape[0])
	if err != nil {
		t.Fatal(err)
	}
	n := rows * tt.Shape[0]
	v := make([]float32, n)
	if err := quant.Dequantize(v, tt.Type, tt.Data[:rows*rowBytes]); err != nil {
		t.Fatal(err)
	}
	var s, s2 float64
	for _, x := range v {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	mean = s / float64(n)
	return mean, math.Sqrt(s2/float64(n) - mean*mean)
}

func TestDistributions(t *testing.T) {
	f, _ := synth(t, Options{Arch: "gemma2", Preset: "tiny", Type: "f32", Seed: 3})
	cases := []struct {
		name      string
		mean, std float64
		tol       float64
	}{
		{"token_embd.weight", 0, 1.0 / 16, 0.05},
		{"blk.0.attn_q.weight", 0, 1.0 / 16, 0.05},
		{"blk.1.ffn_down.weight", 0, 1 / math.Sqrt(512), 0.05},
		{"blk.0.attn_norm.weight", 1, 0.1 / math.Sqrt(3), 0.2},
		{"blk.1.post_ffw_norm.weight", 8, 0.8 / math.Sqrt(3), 0.2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mean, std := stats(t, f, c.name, 1<<20)
			if math.Abs(mean-c.mean) > 0.05*max(c.std, 0.2) || math.Abs(std-c.std) > c.tol*c.std {
				t.Errorf("mean %.4f std %.4f, want %.4f and %.4f", mean, std, c.mean, c.std)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	o := Options{Arch: "qwen2", Preset: "tiny", Type: "q8_0", Seed: 11, Workers: 1}
	_, a := synth(t, o)
	o.Workers = 3
	_, b := synth(t, o)
	if !bytes.Equal(a, b) {
		t.Error("the worker count changed the bytes")
	}
	o.Seed = 12
	_, c := synth(t, o)
	if len(a) != len(c) || bytes.Equal(a, c) {
		t.Errorf("another seed: %d vs %d bytes, equal %v", len(a), len(c), bytes.Equal(a, c))
	}
}

// TestVocabFile copies the Llama 3 vocabulary; its 32M-element embedding
// takes the bank path, whose blocks must still decode to N(0, 1/n_embd).
// (Q8_0 keeps the test fast; the bank path is the same for every type.)
func TestVocabFile(t *testing.T) {
	path := fixtures.Path(t, "models", "vocab-llama3.gguf")
	vf, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	f, _ := synth(t, Options{Arch: "gemma2", Preset: "tiny", Type: "q8_0", VocabFile: path, Seed: 5})
	for _, kv := range vf.KV {
		if !strings.HasPrefix(kv.Key, "tokenizer.") {
			continue
		}
		got, ok := f.Get(kv.Key)
		if !ok || !reflect.DeepEqual(got, kv.Value) {
			t.Errorf("%s differs from the vocabulary file", kv.Key)
		}
	}
	if n, _ := f.Uint("gemma2.vocab_size"); n != 128256 {
		t.Errorf("vocab_size %d", n)
	}
	ti, _ := f.TensorInfo("token_embd.weight")
	if ti.Type != core.Q8_0 || !cmp.Equal(ti.Shape, []int{256, 128256}) {
		t.Errorf("token_embd %s %v", dtype.Name(ti.Type), ti.Shape)
	}
	if _, std := stats(t, f, "token_embd.weight", 4096); math.Abs(std-1.0/16) > 0.05/16 {
		t.Errorf("bank-built embedding std %.4f, want %.4f", std, 1.0/16)
	}
}

func TestMix(t *testing.T) {
	// smollm2-135m has n_embd 576, not a multiple of 256: K-quants fall
	// back per spec §1.7, and the tied embedding becomes Q8_0.
	cases := []struct {
		arch, preset, typ string
		want              map[string]core.DType
	}{
		{"llama", "smollm2-135m", "q4_k_m", map[string]core.DType{
			"token_embd.weight": core.Q8_0, "blk.0.attn_q.weight": core.Q5_0, "blk.0.attn_v.weight": core.Q8_0,
			"blk.1.attn_v.weight": core.Q8_0, "blk.3.attn_v.weight": core.Q5_0, "blk.0.ffn_down.weight": core.Q6_K, "blk.4.ffn_down.weight": core.Q4_K,
			"blk.5.ffn_down.weight": core.Q6_K, "blk.29.ffn_down.weight": core.Q6_K, "output_norm.weight": core.F32,
		}},
		{"llama", "llama3.2-1b", "q4_k_m", map[string]core.DType{
			"token_embd.weight": core.Q6_K, "rope_freqs.weight": core.F32, "blk.0.attn_v.weight": core.Q6_K,
			"blk.2.attn_v.weight": core.Q4_K, "blk.3.attn_v.weight": core.Q4_K, "blk.4.attn_v.weight": core.Q6_K, "blk.15.ffn_down.weight": core.Q6_K,
			"blk.7.ffn_gate.weight": core.Q4_K,
		}},
		{"phi3", "tiny", "q4_k_m", map[string]core.DType{"blk.0.attn_qkv.weight": core.Q5_K, "output.weight": core.Q6_K}},
		{"llama", "tiny", "q3_k_m", map[string]core.DType{
			"blk.0.attn_v.weight": core.Q5_K, "blk.0.attn_output.weight": core.Q4_K, "blk.0.ffn_down.weight": core.Q4_K, "blk.0.ffn_up.weight": core.Q3_K,
		}},
		{"qwen2", "tiny", "bf16", map[string]core.DType{"blk.0.attn_q.weight": core.BF16, "blk.0.attn_q.bias": core.F32, "output.weight": core.BF16}},
	}
	for _, c := range cases {
		t.Run(c.preset+"/"+c.typ, func(t *testing.T) {
			p := presets[c.preset]
			ft := fileTypes[c.typ]
			tied := p.tied || c.arch == "gemma2"
			specs := plan(c.arch, p, 261, tied)
			m := &mixer{ft: ft, hasOutput: !tied, gqa: p.heads / p.kvHeads}
			for _, s := range specs {
				countForMix(m, s.name)
			}
			got := map[string]core.DType{}
			for _, s := range specs {
				typ := core.F32
				if s.kind == kindMatrix {
					typ = m.typeOf(s.name, s.shape)
				}
				if _, ok := c.want[s.name]; ok {
					got[s.name] = typ
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLlama3RopeFreqs(t *testing.T) {
	f := llama3RopeFreqs(presets["llama3.2-1b"])
	// High frequencies are untouched, the lowest are divided by the factor,
	// and the divisors grow monotonically in between.
	if len(f) != 32 || f[0] != 1 || f[31] != 32 {
		t.Fatalf("freqs %v", f)
	}
	for i := 1; i < len(f); i++ {
		if f[i] < f[i-1] {
			t.Fatalf("not monotonic at %d: %v", i, f)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		o    Options
		kind core.Kind
	}{
		{"arch", Options{Arch: "gpt", Preset: "tiny"}, core.KindInvalid},
		{"preset", Options{Arch: "llama", Preset: "huge"}, core.KindInvalid},
		{"type", Options{Arch: "llama", Preset: "tiny", Type: "q4_k"}, core.KindInvalid},
		{"workers", Options{Arch: "llama", Preset: "tiny", Workers: -1}, core.KindInvalid},
		{"missing vocab", Options{Arch: "llama", Preset: "tiny", VocabFile: filepath.Join(dir, "none.gguf")}, core.KindNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Write(context.Background(), filepath.Join(dir, "m.gguf"), c.o)
			if core.KindOf(err) != c.kind {
				t.Errorf("err = %v, want kind %v", err, c.kind)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(dir, "canceled.gguf")
	if err := Write(ctx, out, Options{Arch: "llama", Preset: "tiny"}); !errors.Is(err, core.KindCanceled) {
		t.Errorf("canceled: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %d files", len(entries))
	}
}

// TestLlama32_1B synthesizes the reference model, a llama3.2-1b
// Q4_K_M with the Llama 3 vocabulary, and checks it is fast to write and to
// open. It writes ~800 MB, so it runs only with PENSIEVE_SYNTH_BIG=1.
func TestLlama32_1B(t *testing.T) {
	if os.Getenv("PENSIEVE_SYNTH_BIG") == "" {
		t.Skip("set PENSIEVE_SYNTH_BIG=1 to synthesize the 1B model")
	}
	path := filepath.Join(t.TempDir(), "llama3.2-1b-q4_k_m.gguf")
	start := time.Now()
	err := Write(context.Background(), path, Options{Arch: "llama", Preset: "llama3.2-1b", Type: "q4_k_m",
		VocabFile: fixtures.Path(t, "models", "vocab-llama3.gguf"), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	start = time.Now()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opened := time.Since(start)
	t.Logf("wrote %d bytes in %v, opened in %v", f.FileSize, took, opened)
	if took > time.Minute || opened > time.Second {
		t.Errorf("write %v (limit 1m), open %v (limit 1s)", took, opened)
	}
	if len(f.Tensors) != 3+16*9 {
		t.Errorf("%d tensors", len(f.Tensors))
	}
}
