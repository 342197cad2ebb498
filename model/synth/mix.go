package synth

import (
	"slices"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
)

// fileType is a llama.cpp file type (general.file_type, spec §1.7): the
// default tensor type and the code stored in the file.
type fileType struct {
	name string
	code uint32
	base core.DType
}

// fileTypes lists the supported llama.cpp file types (llama.h LLAMA_FTYPE_*).
var fileTypes = map[string]fileType{
	"f32":    {"f32", 0, core.F32},
	"f16":    {"f16", 1, core.F16},
	"q4_0":   {"q4_0", 2, core.Q4_0},
	"q4_1":   {"q4_1", 3, core.Q4_1},
	"q8_0":   {"q8_0", 7, core.Q8_0},
	"q5_0":   {"q5_0", 8, core.Q5_0},
	"q5_1":   {"q5_1", 9, core.Q5_1},
	"q2_k":   {"q2_k", 10, core.Q2_K},
	"q3_k_s": {"q3_k_s", 11, core.Q3_K},
	"q3_k_m": {"q3_k_m", 12, core.Q3_K},
	"q3_k_l": {"q3_k_l", 13, core.Q3_K},
	"q4_k_s": {"q4_k_s", 14, core.Q4_K},
	"q4_k_m": {"q4_k_m", 15, core.Q4_K},
	"q5_k_s": {"q5_k_s", 16, core.Q5_K},
	"q5_k_m": {"q5_k_m", 17, core.Q5_K},
	"q6_k":   {"q6_k", 18, core.Q6_K},
	"iq4_nl": {"iq4_nl", 25, core.IQ4_NL},
	"iq4_xs": {"iq4_xs", 30, core.IQ4_XS},
	"bf16":   {"bf16", 32, core.BF16},
}

// FileTypes returns the supported file type names, sorted.
func FileTypes() []string {
	names := make([]string, 0, len(fileTypes))
	for n := range fileTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// mixer chooses each tensor's type the way llama.cpp's quantizer does
// without an importance matrix (llama.cpp/src/llama-quant.cpp,
// llama_tensor_get_type): it must see the tensors in file order, because
// attn_v and ffn_down choices depend on how many came before.
type mixer struct {
	ft        fileType
	hasOutput bool
	gqa       int // n_head / n_head_kv
	nAttnV    int // count of attn_v/attn_qkv tensors
	nFFNDown  int
	iAttnV    int
	iFFNDown  int
}

// useMoreBits is llama.cpp's layer selector for the "M" mixes: the first
// and last eighth of the layers and every third one in between.
func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// typeOf returns the type of a tensor named name with the given shape.
func (m *mixer) typeOf(name string, shape []int) core.DType {
	// Only matrices whose name ends in "weight" and that are not norms are
	// converted; everything else stays F32.
	if len(shape) < 2 || !strings.HasSuffix(name, "weight") || strings.Contains(name, "_norm.weight") {
		return core.F32
	}
	t := m.ft.base
	if !dtype.Quantized(t) {
		return t
	}
	t = m.quantizedType(name, shape[0], t)
	return fallback(t, shape[0])
}

func (m *mixer) quantizedType(name string, ne0 int, t core.DType) core.DType {
	ft := m.ft.name
	switch {
	case name == "output.weight" || (!m.hasOutput && name == "token_embd.weight"):
		if ne0%dtype.BlockSize(t) != 0 {
			return core.Q8_0
		}
		if t != core.Q8_0 {
			return core.Q6_K
		}
	case strings.Contains(name, "attn_v.weight"):
		defer func() { m.iAttnV++ }()
		switch {
		case ft == "q2_k":
			if m.gqa >= 4 {
				return core.Q4_K
			}
			return core.Q3_K
		case ft == "q3_k_m":
			if m.iAttnV < 2 {
				return core.Q5_K
			}
			return core.Q4_K
		case ft == "q3_k_l":
			return core.Q5_K
		case (ft == "iq4_nl" || ft == "iq4_xs") && m.gqa >= 4:
			return core.Q5_K
		case (ft == "q4_k_m" || ft == "q5_k_m") && useMoreBits(m.iAttnV, m.nAttnV):
			return core.Q6_K
		case ft == "q4_k_s" && m.iAttnV < 4:
			return core.Q5_K
		}
	case strings.Contains(name, "ffn_down"):
		i, n := m.iFFNDown, m.nFFNDown
		m.iFFNDown++
		switch {
		case ft == "q2_k":
			return core.Q3_K
		case ft == "q3_k_m":
			if i < n/16 {
				return core.Q5_K
			}
			return core.Q4_K
		case ft == "q3_k_l":
			return core.Q5_K
		case ft == "q4_k_m":
			if useMoreBits(i, n) {
				return core.Q6_K
			}
		case i < n/8 && (ft == "iq4_nl" || ft == "iq4_xs"):
			return core.Q5_K
		case ft == "q5_k_m" && useMoreBits(i, n):
			return core.Q6_K
		case ft == "q4_k_s" && i < n/8:
			return core.Q5_K
		}
	case strings.Contains(name, "attn_output.weight"):
		switch ft {
		case "q2_k":
			return core.Q3_K
		case "q3_k_m":
			return core.Q4_K
		case "q3_k_l":
			return core.Q5_K
		}
	case strings.Contains(name, "attn_qkv.weight"):
		switch ft {
		case "q3_k_m", "q3_k_l":
			return core.Q4_K
		case "q4_k_m":
			return core.Q5_K
		case "q5_k_m":
			return core.Q6_K
		}
	}
	return t
}

// fallback replaces a type whose block does not divide the row length
// (spec §1.7): 256-element K- and IQ-quants fall back to a 32-element type,
// and to F16 when even that does not fit.
func fallback(t core.DType, ne0 int) core.DType {
	if ne0%dtype.BlockSize(t) == 0 {
		return t
	}
	switch t {
	case core.Q2_K, core.Q3_K, core.IQ4_XS:
		t = core.IQ4_NL
	case core.Q4_K:
		t = core.Q5_0
	case core.Q5_K:
		t = core.Q5_1
	case core.Q6_K:
		t = core.Q8_0
	}
	if ne0%dtype.BlockSize(t) != 0 {
		return core.F16
	}
	return t
}
