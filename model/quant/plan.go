package quant

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
)

// FileType is llama.cpp's llama_ftype, stored in general.file_type: the
// quantization recipe of a whole file (spec §1.7).
type FileType uint32

// The file types this package can produce.
const (
	FileAllF32 FileType = 0
	FileF16    FileType = 1
	FileQ4_0   FileType = 2
	FileQ4_1   FileType = 3
	FileQ8_0   FileType = 7
	FileQ5_0   FileType = 8
	FileQ5_1   FileType = 9
	FileQ4_K_M FileType = 15
	FileQ5_K_M FileType = 17
	FileQ6_K   FileType = 18
	FileBF16   FileType = 32
)

// fileTypes maps each file type to its name and default tensor type
// (llama_ftype_get_default_type).
var fileTypes = []struct {
	ft   FileType
	name string
	def  core.DType
}{
	{FileAllF32, "f32", core.F32}, {FileF16, "f16", core.F16}, {FileBF16, "bf16", core.BF16},
	{FileQ4_0, "q4_0", core.Q4_0}, {FileQ4_1, "q4_1", core.Q4_1}, {FileQ5_0, "q5_0", core.Q5_0},
	{FileQ5_1, "q5_1", core.Q5_1}, {FileQ8_0, "q8_0", core.Q8_0}, {FileQ4_K_M, "q4_k_m", core.Q4_K},
	{FileQ5_K_M, "q5_k_m", core.Q5_K}, {FileQ6_K, "q6_k", core.Q6_K},
}

// ParseFileType returns the file type named s ("q8_0", "Q4_K_M", …;
// case is ignored). Unknown names fail with core.KindInvalid.
func ParseFileType(s string) (FileType, error) {
	for _, f := range fileTypes {
		if strings.EqualFold(f.name, s) {
			return f.ft, nil
		}
	}
	names := make([]string, len(fileTypes))
	for i, f := range fileTypes {
		names[i] = f.name
	}
	return 0, core.Errorf(core.KindInvalid, "quant.ParseFileType", "unknown file type %q (known: %s)", s, strings.Join(names, ", "))
}

// String returns the file type's lower-case name, or "ftype(N)".
func (f FileType) String() string {
	for _, e := range fileTypes {
		if e.ft == f {
			return e.name
		}
	}
	return "ftype(" + strconv.FormatUint(uint64(f), 10) + ")"
}

// DefaultType returns the tensor type most weights get under f, and false
// for a file type this package does not produce.
func (f FileType) DefaultType() (core.DType, bool) {
	for _, e := range fileTypes {
		if e.ft == f {
			return e.def, true
		}
	}
	return 0, false
}

// TensorPlan is one tensor of a quantization: its name, shape and current
// type, and the type it gets (Target == Type: copied unchanged).
type TensorPlan struct {
	Name   string
	Shape  []int // ne0 first
	Type   core.DType
	Target core.DType
}

// ModelParams are the hyperparameters llama.cpp's type choice depends on.
type ModelParams struct {
	Arch    string // general.architecture
	Layers  int    // {arch}.block_count
	Experts int    // {arch}.expert_count (0 for dense models)
}

// Plan decides every tensor's type the way llama.cpp's quantizer does for
// file type ft without an importance matrix (llama-quant.cpp
// llama_tensor_get_type): only 2-D and larger weights are quantized, norms
// and 1-D tensors keep their type, the _M mixes give the output matrix,
// some attn_v and ffn_down layers and fused QKV more bits, and a K-quant
// whose row length is not a multiple of 256 falls back to a 32-block type
// (spec §1.7). The result is in llama.cpp's output order: tensors outside
// blocks first, then block by block, by name within each. A tensor that
// needs an unsupported fallback fails with core.KindInvalid.
func Plan(ft FileType, tensors []TensorPlan, mp ModelParams) ([]TensorPlan, error) {
	const op = "quant.Plan"
	def, ok := ft.DefaultType()
	if !ok {
		return nil, core.Errorf(core.KindInvalid, op, "cannot produce file type %s", ft)
	}
	out := make([]TensorPlan, len(tensors))
	copy(out, tensors)
	slices.SortStableFunc(out, func(a, b TensorPlan) int {
		la, lb := blockIndex(a.Name), blockIndex(b.Name)
		if la != lb {
			return la - lb
		}
		return strings.Compare(a.Name, b.Name)
	})
	st := planState{ft: ft, mp: mp, tied: true}
	for _, t := range out {
		c := categoryOf(t.Name)
		if c.attnV() {
			st.nAttnV++
		}
		if c == catOutput {
			st.tied = false
		}
	}
	for i := range out {
		t := &out[i]
		t.Target = t.Type
		if !allowsQuantization(t.Name, t.Shape) {
			continue
		}
		typ := def
		if dtype.Quantized(def) {
			typ = st.choose(def, t)
			var err error
			if typ, err = fallback(typ, t); err != nil {
				return nil, core.E(core.KindInvalid, op, err)
			}
		}
		t.Target = typ
	}
	return out, nil
}

// blockIndex returns N for "blk.N.…" and -1 otherwise (llama.cpp's
// weight_name_comparer).
func blockIndex(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	num, _, ok := strings.Cut(rest, ".")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return -1
	}
	return n
}

// allowsQuantization is llama.cpp's tensor_allows_quantization for the
// architectures Pensieve runs (plus the common exclusions).
func allowsQuantization(name string, shape []int) bool {
	dims := 0
	for i, d := range shape {
		if d > 1 {
			dims = i + 1
		}
	}
	if dims < 2 || !strings.HasSuffix(name, "weight") {
		return false
	}
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",
		"ssm_conv1d", "shortconv.conv.weight", "time_mix_", "attn_rel_b.weight", ".position_embd", ".rel_pos",
		".patch_embd", ".patch_merger"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return name != "position_embd.weight" && name != "token_types.weight"
}

type category uint8

const (
	catOther category = iota
	catTokenEmbd
	catOutput
	catAttnQKV
	catAttnKVB
	catAttnV
	catAttnK
	catAttnQ
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
)

func (c category) attnV() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

func categoryOf(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
		return catTokenEmbd
	case strings.Contains(name, "attn_qkv.weight"):
		return catAttnQKV
	case strings.Contains(name, "attn_kv_b.weight"):
		return catAttnKVB
	case strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

// planState carries llama.cpp's quantize_state counters through Plan.
type planState struct {
	ft     FileType
	mp     ModelParams
	tied   bool // no output.weight: the token embedding doubles as output
	nAttnV int
	iAttnV int
	iDown  int
}

// useMoreBits is llama.cpp's use_more_bits: the first and last eighth of
// the layers and every third one between get more bits.
func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// choose is llama_tensor_get_type_impl restricted to the file types of
// fileTypes.
func (s *planState) choose(typ core.DType, t *TensorPlan) core.DType {
	c := categoryOf(t.Name)
	falcon := s.mp.Arch == "falcon"
	km, k5m := s.ft == FileQ4_K_M, s.ft == FileQ5_K_M
	switch {
	case c == catOutput || s.tied && c == catTokenEmbd:
		switch {
		case falcon || t.Shape[0]%dtype.BlockSize(typ) != 0:
			return core.Q8_0
		case typ != core.Q8_0:
			return core.Q6_K
		}
	case c == catTokenEmbd:
		// Only the IQ/TQ file types change the embedding.
	case c == catAttnV:
		if (km || k5m) && useMoreBits(s.iAttnV, s.nAttnV) {
			typ = core.Q6_K
		}
		if s.mp.Arch == "llama" && s.mp.Layers == 80 && (typ == core.Q3_K || typ == core.Q4_K) {
			typ = core.Q5_K // the 70B rule: attn_v is 8× smaller there
		}
		if s.mp.Experts == 8 {
			typ = core.Q8_0
		}
		s.iAttnV++
	case c == catAttnQKV:
		// Fused QKV (phi3) gets one step more; it counts towards nAttnV
		// but, as in the llama.cpp this follows, does not advance iAttnV.
		switch {
		case km:
			typ = core.Q5_K
		case k5m:
			typ = core.Q6_K
		}
	case c == catAttnK:
		if s.mp.Experts == 8 {
			typ = core.Q8_0
		}
	case c == catFFNDown:
		i, n := s.iDown, s.mp.Layers
		if s.mp.Experts > 1 {
			if b := blockIndex(t.Name); b >= 0 {
				i = b
			}
		}
		switch {
		case km && falcon:
			switch {
			case i < n/16:
				typ = core.Q6_K
			case useMoreBits(i, n):
				typ = core.Q5_K
			}
		case (km || k5m) && useMoreBits(i, n):
			typ = core.Q6_K
		}
		s.iDown++
	case c == catAttnOutput:
		if !falcon && s.mp.Experts == 8 && km {
			typ = core.Q5_K
		}
	}
	return typ
}

// fallback replaces a type whose block does not divide the row length
// (llama.cpp's tensor_type_fallback, spec §1.7).
func fallback(typ core.DType, t *TensorPlan) (core.DType, error) {
	ne0 := t.Shape[0]
	if ne0%dtype.BlockSize(typ) == 0 {
		return typ, nil
	}
	var alt core.DType
	switch typ {
	case core.Q2_K, core.Q3_K, core.IQ4_XS:
		alt = core.IQ4_NL
	case core.Q4_K:
		alt = core.Q5_0
	case core.Q5_K:
		alt = core.Q5_1
	case core.Q6_K:
		alt = core.Q8_0
	default:
		return 0, core.Errorf(core.KindInvalid, "quant.Plan", "tensor %q: row length %d is not a multiple of the %s block and %s has no fallback", t.Name, ne0, dtype.Name(typ), dtype.Name(typ))
	}
	if ne0%dtype.BlockSize(alt) != 0 {
		alt = core.F16
	}
	return alt, nil
}
