package transformer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/safetensors"
)

// HFConfig is the part of a Hugging Face config.json the forward pass
// needs (spec §5.2).
type HFConfig struct {
	Architectures     []string       `json:"architectures"`
	ModelType         string         `json:"model_type"`
	HiddenSize        int            `json:"hidden_size"`
	Layers            int            `json:"num_hidden_layers"`
	Intermediate      int            `json:"intermediate_size"`
	Heads             int            `json:"num_attention_heads"`
	KVHeads           int            `json:"num_key_value_heads"`
	HeadDim           int            `json:"head_dim"`
	MaxPositions      int            `json:"max_position_embeddings"`
	RMSNormEps        float64        `json:"rms_norm_eps"`
	RopeTheta         float64        `json:"rope_theta"`
	RopeScaling       *HFRopeScaling `json:"rope_scaling"`
	TieWordEmbeddings bool           `json:"tie_word_embeddings"`
	VocabSize         int            `json:"vocab_size"`
	HiddenAct         string         `json:"hidden_act"`
	Name              string         `json:"_name_or_path"`
}

// HFRopeScaling is config.json's rope_scaling object.
type HFRopeScaling struct {
	Type          string  `json:"type"`
	RopeType      string  `json:"rope_type"`
	Factor        float64 `json:"factor"`
	LowFreq       float64 `json:"low_freq_factor"`
	HighFreq      float64 `json:"high_freq_factor"`
	OrigPositions int     `json:"original_max_position_embeddings"`
}

// FromSafeTensors builds a llama, qwen2 or qwen3 model from a Hugging Face
// checkpoint: dir holds config.json and model.safetensors (or a sharded
// index). Raw HF Q/K rows are in rotate-half order, so llama uses NeoX
// RoPE pairs instead of the permutation the GGUF converter applies
// (spec §3.5, §5.2). Model.Close closes the checkpoint.
func FromSafeTensors(dir string, opts ...Option) (*Model, error) {
	const op = "transformer.FromSafeTensors"
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		kind := core.KindInvalid
		if errors.Is(err, os.ErrNotExist) {
			kind = core.KindNotFound
		}
		return nil, core.E(kind, op, err)
	}
	var hc HFConfig
	if err := json.Unmarshal(raw, &hc); err != nil {
		return nil, core.Errorf(core.KindInvalid, op, "%s: %w", filepath.Join(dir, "config.json"), err)
	}
	cfg, err := hc.Config()
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	src := &hfSource{ck: ck, tied: hc.TieWordEmbeddings, ropeFreqs: hc.llama3Factors(&cfg)}
	m, err := New(cfg, src, opts...)
	if err != nil {
		ck.Close()
		return nil, err
	}
	m.closer = ck
	m.info.FileBytes = ck.TotalSize
	return m, nil
}

// Config converts c to the forward pass's Config (spec §5.2).
func (c *HFConfig) Config() (Config, error) {
	const op = "transformer.HFConfig"
	arch := c.arch()
	if arch == "" {
		return Config{}, core.Errorf(core.KindInvalid, op, "unsupported architecture %v (model_type %q)", c.Architectures, c.ModelType)
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return Config{}, core.Errorf(core.KindInvalid, op, "%s: unsupported activation %q", arch, c.HiddenAct)
	}
	cfg := Config{
		Arch: arch, Name: c.Name, Dim: c.HiddenSize, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		HeadDim: c.HeadDim, FFN: c.Intermediate, Vocab: c.VocabSize, Context: c.MaxPositions,
		NormEps: float32(c.RMSNormEps),
	}
	if cfg.KVHeads == 0 {
		cfg.KVHeads = cfg.Heads
	}
	if cfg.HeadDim == 0 && cfg.Heads > 0 {
		cfg.HeadDim = cfg.Dim / cfg.Heads
	}
	base := float32(c.RopeTheta)
	if base == 0 {
		base = 10000
	}
	cfg.Rope = Rope{Style: RopeNeoX, Dims: cfg.HeadDim, Base: base, FreqScale: 1, AttnFactor: 1,
		BetaFast: 32, BetaSlow: 1, OrigCtx: cfg.Context}
	if s := c.RopeScaling; s != nil {
		typ := s.RopeType
		if typ == "" {
			typ = s.Type
		}
		switch typ {
		case "", "default":
		case "linear":
			if s.Factor > 0 {
				cfg.Rope.FreqScale = float32(1 / s.Factor)
			}
		case "yarn":
			cfg.Rope.ExtFactor = 1
			if s.Factor > 0 {
				cfg.Rope.FreqScale = float32(1 / s.Factor)
			}
			if s.OrigPositions > 0 {
				cfg.Rope.OrigCtx = s.OrigPositions
			}
		case "llama3":
			// Carried by the synthesized rope_freqs tensor (llama3Factors).
		default:
			return Config{}, core.Errorf(core.KindInvalid, op, "%s: unsupported rope_scaling type %q", arch, typ)
		}
	}
	cfg.KQScale = 1 / sqrt32(float32(cfg.HeadDim))
	return cfg, cfg.validate()
}

// arch maps config.json's architectures/model_type to a GGUF architecture.
func (c *HFConfig) arch() string {
	names := append([]string{c.ModelType}, c.Architectures...)
	for _, n := range names {
		switch {
		case n == "llama" || n == "mistral" || n == "LlamaForCausalLM" || n == "MistralForCausalLM":
			return ArchLlama
		case n == "qwen2" || n == "Qwen2ForCausalLM":
			return ArchQwen2
		case n == "qwen3" || n == "Qwen3ForCausalLM":
			return ArchQwen3
		}
	}
	return ""
}

// llama3Factors computes Llama 3's frequency divisors from rope_scaling the
// way the GGUF converter writes rope_freqs.weight (spec §3.5); nil for any
// other scaling.
func (c *HFConfig) llama3Factors(cfg *Config) []float32 {
	s := c.RopeScaling
	if s == nil || (s.RopeType != "llama3" && s.Type != "llama3") {
		return nil
	}
	factor, low, high := s.Factor, s.LowFreq, s.HighFreq
	if low == 0 {
		low = 1
	}
	if high == 0 {
		high = 4
	}
	orig := float64(s.OrigPositions)
	if orig == 0 {
		orig = 8192
	}
	lowWave, highWave := orig/low, orig/high
	out := make([]float32, cfg.Rope.Dims/2)
	for i := range out {
		freq := 1 / math.Pow(float64(cfg.Rope.Base), float64(2*i)/float64(cfg.Rope.Dims))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(factor)
		default:
			smooth := (orig/wave - low) / (high - low)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

// hfSource serves a Hugging Face checkpoint's tensors under their GGUF
// names (spec §3.3).
type hfSource struct {
	ck        *safetensors.Checkpoint
	tied      bool
	ropeFreqs []float32 // (ropeDims/2,) synthesized rope_freqs.weight, or nil
}

// hfNames maps the GGUF names of one block's tensors to Hugging Face names.
var hfNames = map[string]string{
	"attn_norm.weight":   "input_layernorm.weight",
	"attn_q.weight":      "self_attn.q_proj.weight",
	"attn_k.weight":      "self_attn.k_proj.weight",
	"attn_v.weight":      "self_attn.v_proj.weight",
	"attn_q.bias":        "self_attn.q_proj.bias",
	"attn_k.bias":        "self_attn.k_proj.bias",
	"attn_v.bias":        "self_attn.v_proj.bias",
	"attn_q_norm.weight": "self_attn.q_norm.weight",
	"attn_k_norm.weight": "self_attn.k_norm.weight",
	"attn_output.weight": "self_attn.o_proj.weight",
	"attn_output.bias":   "self_attn.o_proj.bias",
	"ffn_norm.weight":    "post_attention_layernorm.weight",
	"ffn_gate.weight":    "mlp.gate_proj.weight",
	"ffn_up.weight":      "mlp.up_proj.weight",
	"ffn_down.weight":    "mlp.down_proj.weight",
}

func (s *hfSource) Tensor(name string) (*core.Tensor, error) {
	const op = "transformer.hfSource"
	var hf string
	switch name {
	case "token_embd.weight":
		hf = "model.embed_tokens.weight"
	case "output_norm.weight":
		hf = "model.norm.weight"
	case "output.weight":
		if s.tied {
			return nil, core.Errorf(core.KindNotFound, op, "tied embeddings: no %q", name)
		}
		hf = "lm_head.weight"
	case "output.bias":
		hf = "lm_head.bias"
	case "rope_freqs.weight":
		if s.ropeFreqs == nil {
			return nil, core.Errorf(core.KindNotFound, op, "no %q", name)
		}
		data := make([]byte, 4*len(s.ropeFreqs))
		for i, f := range s.ropeFreqs {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(f))
		}
		return &core.Tensor{Name: name, Type: core.F32, Shape: []int{len(s.ropeFreqs)}, Data: data}, nil
	default:
		var layer int
		var rest string
		if n, _ := fmt.Sscanf(name, "blk.%d.", &layer); n == 1 {
			rest = strings.TrimPrefix(name, fmt.Sprintf("blk.%d.", layer))
		}
		suffix, ok := hfNames[rest]
		if !ok {
			return nil, core.Errorf(core.KindNotFound, op, "no Hugging Face name for %q", name)
		}
		hf = fmt.Sprintf("model.layers.%d.%s", layer, suffix)
	}
	t, err := s.ck.Tensor(hf)
	if err != nil {
		return nil, err
	}
	t.Name = name + " (" + hf + ")"
	return t, nil
}
