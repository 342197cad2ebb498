package transformer

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// FuzzHFConfig checks that any config.json either converts to a valid
// Config or fails with an error, never a panic.
func FuzzHFConfig(f *testing.F) {
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":2,"intermediate_size":128,` +
		`"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":256,"rms_norm_eps":1e-5,"vocab_size":100,` +
		`"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}}`))
	f.Add([]byte(`{"model_type":"qwen3","hidden_size":-1,"num_attention_heads":0}`))
	f.Add([]byte(`{"model_type":"qwen2","rope_scaling":{"type":"yarn","factor":4}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var hc HFConfig
		if json.Unmarshal(raw, &hc) != nil {
			return
		}
		cfg, err := hc.Config()
		if err != nil {
			return
		}
		if f := hc.llama3Factors(&cfg); f != nil && len(f) != cfg.Rope.Dims/2 {
			t.Fatalf("%d factors for %d rope dims", len(f), cfg.Rope.Dims)
		}
	})
}

// FuzzFromGGUF checks that a model built from any parseable GGUF file
// (metadata and tensors) either loads or fails with an error.
func FuzzFromGGUF(f *testing.F) {
	tiny := map[string]any{"general.architecture": "llama", "llama.context_length": uint32(8), "llama.embedding_length": uint32(8),
		"llama.block_count": uint32(1), "llama.feed_forward_length": uint32(8), "llama.attention.head_count": uint32(2),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5), "llama.vocab_size": uint32(4)}
	// The tiny llama's tensors (GGUF shapes, ne0 first), all F32.
	tensors := map[string][]int{"token_embd.weight": {8, 4}, "output_norm.weight": {8}, "blk.0.attn_norm.weight": {8},
		"blk.0.attn_q.weight": {8, 8}, "blk.0.attn_k.weight": {8, 8}, "blk.0.attn_v.weight": {8, 8},
		"blk.0.attn_output.weight": {8, 8}, "blk.0.ffn_norm.weight": {8}, "blk.0.ffn_gate.weight": {8, 8},
		"blk.0.ffn_up.weight": {8, 8}, "blk.0.ffn_down.weight": {8, 8}}
	for i, kv := range []map[string]any{tiny, tiny, {"general.architecture": "gemma2", "gemma2.block_count": uint32(1 << 30)}} {
		w := gguf.NewWriter()
		for k, v := range kv {
			if err := w.SetKV(k, v); err != nil {
				f.Fatal(err)
			}
		}
		if i == 1 {
			for name, shape := range tensors {
				n := 1
				for _, d := range shape {
					n *= d
				}
				data := make([]byte, 4*n)
				for j := range data {
					data[j] = byte(j*7) & 0x3F // small positive floats
				}
				if err := w.AddTensor(name, core.F32, shape, data); err != nil {
					f.Fatal(err)
				}
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gf, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		m, err := FromGGUF(gf, WithThreads(1))
		if err != nil {
			return
		}
		defer m.Close()
		c, err := m.NewCache(1, 1)
		if err != nil {
			return
		}
		var b core.Batch
		b.Add(0, 0, 0, true)
		_ = m.Forward(context.Background(), c, &b, make([]float32, m.Info().VocabSize)) // an error is fine; a panic is not
	})
}
