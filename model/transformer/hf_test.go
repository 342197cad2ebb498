package transformer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// writeSafeTensors writes tensors (name → row-major shape and f32 values)
// as a SafeTensors file (spec §5.1).
func writeSafeTensors(t *testing.T, path string, shapes map[string][]int, data map[string][]float32) {
	t.Helper()
	names := make([]string, 0, len(data))
	for n := range data {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var buf []byte
	for _, n := range names {
		begin := len(buf)
		for _, v := range data[n] {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		header[n] = map[string]any{"dtype": "F32", "shape": shapes[n], "data_offsets": []int{begin, len(buf)}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), buf...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ggufToHF converts a GGUF fixture into a Hugging Face checkpoint
// directory: names mapped back, llama's Q/K rows un-permuted to rotate-half
// order (spec §3.5), and a config.json.
func ggufToHF(t *testing.T, name string) string {
	t.Helper()
	f, err := gguf.Open(fixtures.Path(t, "models", name+".gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	toHF := map[string]string{
		"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
		"output.weight": "lm_head.weight",
	}
	shapes, data := map[string][]int{}, map[string][]float32{}
	for _, ti := range f.Tensors {
		tn, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]float32, tn.Shape[0]*tn.Rows())
		if err := quant.Dequantize(vals, tn.Type, tn.Data); err != nil {
			t.Fatal(err)
		}
		hf, ok := toHF[ti.Name]
		if !ok {
			parts := strings.SplitN(ti.Name, ".", 3)
			if len(parts) != 3 || parts[0] != "blk" || hfNames[parts[2]] == "" {
				t.Fatalf("unexpected tensor %q", ti.Name)
			}
			rest := parts[2]
			hf = "model.layers." + parts[1] + "." + hfNames[rest]
			if cfg.Arch == ArchLlama && (rest == "attn_q.weight" || rest == "attn_k.weight") {
				vals = unpermute(vals, tn.Shape[0], cfg.HeadDim)
			}
		}
		shape := make([]int, len(tn.Shape))
		for i, d := range tn.Shape {
			shape[len(shape)-1-i] = d
		}
		shapes[hf], data[hf] = shape, vals
	}
	dir := t.TempDir()
	writeSafeTensors(t, filepath.Join(dir, "model.safetensors"), shapes, data)
	hc := map[string]any{
		"architectures": []string{map[string]string{ArchLlama: "LlamaForCausalLM", ArchQwen2: "Qwen2ForCausalLM", ArchQwen3: "Qwen3ForCausalLM"}[cfg.Arch]},
		"model_type":    cfg.Arch, "hidden_size": cfg.Dim, "num_hidden_layers": cfg.Layers,
		"intermediate_size": cfg.FFN, "num_attention_heads": cfg.Heads, "num_key_value_heads": cfg.KVHeads,
		"head_dim": cfg.HeadDim, "max_position_embeddings": cfg.Context, "rms_norm_eps": cfg.NormEps,
		"rope_theta": cfg.Rope.Base, "vocab_size": cfg.Vocab, "hidden_act": "silu",
		"tie_word_embeddings": data["lm_head.weight"] == nil,
	}
	raw, err := json.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unpermute restores rotate-half row order within each head of a (rows,
// cols) Q or K matrix: GGUF row 2i+j is HF row j·headDim/2 + i.
func unpermute(vals []float32, cols, headDim int) []float32 {
	out := make([]float32, len(vals))
	rows := len(vals) / cols
	for h := 0; h < rows/headDim; h++ {
		for i := range headDim / 2 {
			for j := range 2 {
				src := h*headDim + 2*i + j
				dst := h*headDim + j*headDim/2 + i
				copy(out[dst*cols:(dst+1)*cols], vals[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

func TestSafeTensorsMatchesGGUF(t *testing.T) {
	ids := []core.TokenID{256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100}
	for _, name := range []string{"fx-llama-f32", "fx-llama-tied-f32", "fx-qwen2-f32", "fx-qwen3-f32"} {
		t.Run(name, func(t *testing.T) {
			dir := ggufToHF(t, name)
			hf, err := FromSafeTensors(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer hf.Close()
			ref := openFixture(t, name)
			vocab := ref.Info().VocabSize
			c1, _ := ref.NewCache(1, 32)
			c2, _ := hf.NewCache(1, 32)
			want := prefill(t, ref, c1, ids, true)
			got := prefill(t, hf, c2, ids, true)
			// Q·K sums run over the head dimensions in another order for
			// llama (rotate-half rows), so the fp16 attention may round a
			// few values differently: allow that noise, far below the
			// fixture tolerance.
			for r := range len(ids) {
				g, w := got[r*vocab:(r+1)*vocab], want[r*vocab:(r+1)*vocab]
				if e := relL2(g, w); e > 1e-3 || argmax(g) != argmax(w) {
					t.Errorf("position %d: relative L2 error %.3g, argmax %d, want %d", r, e, argmax(g), argmax(w))
				}
			}
			if hf.Info().Params != ref.Info().Params {
				t.Errorf("params %d, want %d", hf.Info().Params, ref.Info().Params)
			}
		})
	}
}
