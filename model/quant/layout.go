package quant

import "github.com/pensieve-llm/pensieve/core"

// layout gives the block geometry of a type: elements per block and bytes
// per block (spec §2.1).
func layout(t core.DType) (blck, size int, ok bool) {
	switch t {
	case core.F32:
		return 1, 4, true
	case core.F16, core.BF16:
		return 1, 2, true
	case core.Q4_0, core.IQ4_NL:
		return 32, 18, true
	case core.Q4_1:
		return 32, 20, true
	case core.Q5_0:
		return 32, 22, true
	case core.Q5_1:
		return 32, 24, true
	case core.Q8_0:
		return 32, 34, true
	case core.Q8_1:
		return 32, 36, true
	case core.Q2_K:
		return 256, 84, true
	case core.Q3_K:
		return 256, 110, true
	case core.Q4_K:
		return 256, 144, true
	case core.Q5_K:
		return 256, 176, true
	case core.Q6_K:
		return 256, 210, true
	case core.Q8_K:
		return 256, 292, true
	case core.IQ4_XS:
		return 256, 136, true
	}
	return 0, 0, false
}

// typeNames are ggml's lower-case type names, used in error messages.
var typeNames = map[core.DType]string{
	core.F32: "f32", core.F16: "f16", core.BF16: "bf16", core.Q4_0: "q4_0", core.Q4_1: "q4_1",
	core.Q5_0: "q5_0", core.Q5_1: "q5_1", core.Q8_0: "q8_0", core.Q8_1: "q8_1", core.Q2_K: "q2_K",
	core.Q3_K: "q3_K", core.Q4_K: "q4_K", core.Q5_K: "q5_K", core.Q6_K: "q6_K", core.Q8_K: "q8_K",
	core.IQ4_NL: "iq4_nl", core.IQ4_XS: "iq4_xs",
}

func typeName(t core.DType) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "type(" + itoa(int(t)) + ")"
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}
