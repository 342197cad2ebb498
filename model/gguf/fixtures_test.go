package gguf

import (
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// tensorRow is one expected tensor: name, type name and shape (ne0 first).
type tensorRow struct {
	Name  string
	Type  string
	Shape []int
}

// fixtureModel describes an fx-* model as the fixtures README states it:
// embedding 256, 4 heads, 2 KV heads of 64, FFN 512, vocabulary 261.
type fixtureModel struct {
	arch   string
	blocks int
	tied   bool
}

const (
	fxEmbd  = 256
	fxFF    = 512
	fxVocab = 261
	fxHead  = 64
	fxKV    = 2 * fxHead
)

// expectedTensors derives the tensor table of a fixture model from the
// naming rules of spec §3.3 and the shapes in the fixtures README; typeOf
// gives each tensor's type from its name and dimensionality.
func expectedTensors(m fixtureModel, typeOf func(name string, dims int) string) []tensorRow {
	var rows []tensorRow
	add := func(name string, shape ...int) {
		rows = append(rows, tensorRow{name, typeOf(name, len(shape)), shape})
	}
	add("token_embd.weight", fxEmbd, fxVocab)
	add("output_norm.weight", fxEmbd)
	if !m.tied {
		add("output.weight", fxEmbd, fxVocab)
	}
	for i := range m.blocks {
		b := func(s string) string { return fmt.Sprintf("blk.%d.%s", i, s) }
		add(b("attn_norm.weight"), fxEmbd)
		if m.arch == "phi3" {
			add(b("attn_qkv.weight"), fxEmbd, fxEmbd+2*fxKV)
		} else {
			add(b("attn_q.weight"), fxEmbd, fxEmbd)
			add(b("attn_k.weight"), fxEmbd, fxKV)
			add(b("attn_v.weight"), fxEmbd, fxKV)
		}
		if m.arch == "qwen2" {
			add(b("attn_q.bias"), fxEmbd)
			add(b("attn_k.bias"), fxKV)
			add(b("attn_v.bias"), fxKV)
		}
		if m.arch == "qwen3" || m.arch == "gemma3" {
			add(b("attn_q_norm.weight"), fxHead)
			add(b("attn_k_norm.weight"), fxHead)
		}
		add(b("attn_output.weight"), fxEmbd, fxEmbd)
		if m.arch == "gemma2" || m.arch == "gemma3" {
			add(b("post_attention_norm.weight"), fxEmbd)
			add(b("post_ffw_norm.weight"), fxEmbd)
		}
		add(b("ffn_norm.weight"), fxEmbd)
		if m.arch == "phi3" {
			add(b("ffn_up.weight"), fxEmbd, 2*fxFF)
		} else {
			add(b("ffn_gate.weight"), fxEmbd, fxFF)
			add(b("ffn_up.weight"), fxEmbd, fxFF)
		}
		add(b("ffn_down.weight"), fxFF, fxEmbd)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

// uniform types every matrix as typ and keeps 1-D tensors F32, as
// llama.cpp's quantizer does (spec §1.7).
func uniform(typ string) func(string, int) string {
	return func(_ string, dims int) string {
		if dims == 1 {
			return "f32"
		}
		return typ
	}
}

// withOutput is uniform, but output.weight gets out: llama.cpp stores the
// output matrix as Q6_K for Q4_0 and K-quant files.
func withOutput(typ, out string) func(string, int) string {
	return func(name string, dims int) string {
		if name == "output.weight" {
			return out
		}
		return uniform(typ)(name, dims)
	}
}

// q4KM follows llama.cpp's Q4_K_M mix for two blocks: output and the
// "more bits" layers of attn_v and ffn_down (the last of two) are Q6_K.
func q4KM(name string, dims int) string {
	switch name {
	case "output.weight", "blk.1.attn_v.weight", "blk.1.ffn_down.weight":
		return "q6_k"
	}
	return uniform("q4_k")(name, dims)
}

func TestFixtureModels(t *testing.T) {
	llama := fixtureModel{arch: "llama", blocks: 2}
	cases := []struct {
		file     string
		model    fixtureModel
		typeOf   func(string, int) string
		fileType uint64
	}{
		{"fx-llama-f32.gguf", llama, uniform("f32"), 0},
		{"fx-llama-f16.gguf", llama, uniform("f16"), 1},
		{"fx-llama-q8_0.gguf", llama, uniform("q8_0"), 7},
		{"fx-llama-q4_0.gguf", llama, withOutput("q4_0", "q6_k"), 2},
		{"fx-llama-q4_k_m.gguf", llama, q4KM, 15},
		{"fx-llama-q6_k.gguf", llama, uniform("q6_k"), 18},
		{"fx-llama-tied-f32.gguf", fixtureModel{arch: "llama", blocks: 2, tied: true}, uniform("f32"), 0},
		{"fx-qwen2-f32.gguf", fixtureModel{arch: "qwen2", blocks: 2}, uniform("f32"), 0},
		{"fx-qwen3-f32.gguf", fixtureModel{arch: "qwen3", blocks: 2}, uniform("f32"), 0},
		{"fx-qwen3-q8_0.gguf", fixtureModel{arch: "qwen3", blocks: 2}, uniform("q8_0"), 7},
		{"fx-phi3-f32.gguf", fixtureModel{arch: "phi3", blocks: 2}, uniform("f32"), 0},
		{"fx-gemma2-f32.gguf", fixtureModel{arch: "gemma2", blocks: 2, tied: true}, uniform("f32"), 0},
		{"fx-gemma3-f32.gguf", fixtureModel{arch: "gemma3", blocks: 6, tied: true}, uniform("f32"), 0},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := fixtures.Path(t, "models", c.file)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkHeader(t, f, path)
			arch := c.model.arch
			if got := f.Architecture(); got != arch {
				t.Errorf("architecture %q, want %q", got, arch)
			}
			wantU := map[string]uint64{
				arch + ".context_length": 256, arch + ".embedding_length": fxEmbd,
				arch + ".block_count": uint64(c.model.blocks), arch + ".feed_forward_length": fxFF,
				arch + ".attention.head_count": 4, arch + ".attention.head_count_kv": 2,
				arch + ".attention.key_length": fxHead, arch + ".vocab_size": fxVocab,
				"general.file_type": c.fileType, "tokenizer.ggml.bos_token_id": 256,
			}
			for k, want := range wantU {
				if got, ok := f.Uint(k); !ok || got != want {
					t.Errorf("%s = %d, %v; want %d", k, got, ok, want)
				}
			}
			if eps, ok := f.Float(arch + ".attention.layer_norm_rms_epsilon"); !ok || float32(eps) != 1e-5 {
				t.Errorf("rms epsilon = %v, %v", eps, ok)
			}
			checkByteVocab(t, f)
			var got []tensorRow
			for _, ti := range f.Tensors {
				got = append(got, tensorRow{ti.Name, dtype.Name(ti.Type), ti.Shape})
			}
			sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
			if diff := cmp.Diff(expectedTensors(c.model, c.typeOf), got); diff != "" {
				t.Errorf("tensor table (-want +got):\n%s", diff)
			}
			checkPackedLayout(t, f)
			checkViews(t, f)
		})
	}
}

// checkHeader verifies what the reader says about the file against the raw
// bytes: the magic, version, counts and the data section's end.
func checkHeader(t *testing.T, f *File, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw[:4]) != "GGUF" || f.Version != uint32(raw[4]) || f.FileSize != int64(len(raw)) {
		t.Errorf("version %d size %d, file says %d and %d", f.Version, f.FileSize, raw[4], len(raw))
	}
	if n := int(raw[8]) | int(raw[9])<<8; n != len(f.Tensors) {
		t.Errorf("%d tensors, header says %d", len(f.Tensors), n)
	}
	if n := int(raw[16]) | int(raw[17])<<8; n != len(f.KV) {
		t.Errorf("%d metadata entries, header says %d", len(f.KV), n)
	}
	if f.DataOffset%int64(f.Alignment) != 0 {
		t.Errorf("data offset %d not aligned", f.DataOffset)
	}
}

// checkByteVocab checks the fixtures' 261-token byte vocabulary (README):
// token i is byte i in GPT-2's byte-to-unicode mapping, then five Llama 3
// special tokens.
func checkByteVocab(t *testing.T, f *File) {
	t.Helper()
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) != fxVocab {
		t.Fatalf("tokens: %d, %v", len(toks), ok)
	}
	want := map[int]string{0: "Ā", 33: "!", 32: "Ġ", 10: "Ċ", 0xFF: "ÿ", 'A': "A", 256: "<|begin_of_text|>", 260: "<|eot_id|>"}
	for id, s := range want {
		if toks[id] != s {
			t.Errorf("token %d = %q, want %q", id, toks[id], s)
		}
	}
	types, ok := f.Int32s("tokenizer.ggml.token_type")
	if !ok || len(types) != fxVocab || types[0] != 1 || types[257] != 3 {
		t.Errorf("token types: len %d ok %v", len(types), ok)
	}
	if m, ok := f.String("tokenizer.ggml.model"); !ok || m != "gpt2" {
		t.Errorf("tokenizer model %q", m)
	}
	if merges, ok := f.Strings("tokenizer.ggml.merges"); !ok || len(merges) != 0 {
		t.Errorf("merges %d, %v", len(merges), ok)
	}
}

// checkPackedLayout checks that the file has ggml's layout (spec §1.4): each
// tensor at the sum of the aligned sizes of those before it, in info order,
// and the data section ending at the end of the file.
func checkPackedLayout(t *testing.T, f *File) {
	t.Helper()
	var off uint64
	a := uint64(f.Alignment)
	for _, ti := range f.Tensors {
		if ti.Offset != off {
			t.Errorf("tensor %s at %d, packed layout puts it at %d", ti.Name, ti.Offset, off)
		}
		off += (uint64(ti.Size) + a - 1) / a * a
	}
	if f.DataOffset+int64(off) != f.FileSize {
		t.Errorf("data end %d, file size %d", f.DataOffset+int64(off), f.FileSize)
	}
}

// checkViews checks that mapped tensor views have the declared size and
// that norms (all F32 1-D tensors) hold the README's values near 1 or 8.
func checkViews(t *testing.T, f *File) {
	t.Helper()
	for _, ti := range f.Tensors {
		tt, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(tt.Data)) != ti.Size || tt.Type != ti.Type {
			t.Fatalf("%s: view of %d bytes, want %d", ti.Name, len(tt.Data), ti.Size)
		}
	}
	if _, err := f.Tensor("missing.weight"); !isKind(err, core.KindNotFound) {
		t.Errorf("missing tensor: %v, want KindNotFound", err)
	}
}

func TestVocabFixtures(t *testing.T) {
	cases := []struct {
		file   string
		model  string
		n      int
		merges int
		bos    uint64
	}{
		{"vocab-llama3.gguf", "gpt2", 128256, 280147, 128000},
		{"vocab-spm.gguf", "llama", 23181, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f, err := Open(fixtures.Path(t, "models", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.Tensors) != 0 {
				t.Errorf("%d tensors, want none", len(f.Tensors))
			}
			if m, _ := f.String("tokenizer.ggml.model"); m != c.model {
				t.Errorf("model %q, want %q", m, c.model)
			}
			toks, _ := f.Strings("tokenizer.ggml.tokens")
			merges, _ := f.Strings("tokenizer.ggml.merges")
			if len(toks) != c.n || len(merges) != c.merges {
				t.Errorf("%d tokens, %d merges; want %d, %d", len(toks), len(merges), c.n, c.merges)
			}
			if bos, _ := f.Uint("tokenizer.ggml.bos_token_id"); bos != c.bos {
				t.Errorf("bos %d, want %d", bos, c.bos)
			}
			if c.model == "gpt2" {
				if toks[128000] != "<|begin_of_text|>" || toks[0] != "!" || merges[0] != "Ġ Ġ" {
					t.Errorf("tokens[128000]=%q tokens[0]=%q merges[0]=%q", toks[128000], toks[0], merges[0])
				}
			} else {
				scores, ok := f.Float32s("tokenizer.ggml.scores")
				if !ok || len(scores) != c.n || toks[3] != "<0x00>" || toks[258] != "<0xFF>" {
					t.Errorf("scores %d ok %v tokens[3]=%q tokens[258]=%q", len(scores), ok, toks[3], toks[258])
				}
				if sp, ok := f.Bool("tokenizer.ggml.add_space_prefix"); !ok || !sp {
					t.Errorf("add_space_prefix = %v, %v", sp, ok)
				}
			}
		})
	}
}

func isKind(err error, k core.Kind) bool { return err != nil && core.KindOf(err) == k }
