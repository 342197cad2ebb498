// Package dtype describes ggml's tensor element types: their names, block
// geometry and byte sizes (spec gguf-and-quants.md §2.1). The codes are
// core.DType values, identical to the type codes stored in GGUF files.
package dtype

import (
	"strconv"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Element types that core does not name, with ggml's codes (§2.1). They are
// readable (their sizes are known) even where Pensieve has no kernel.
const (
	IQ2_XXS core.DType = 16
	IQ2_XS  core.DType = 17
	IQ3_XXS core.DType = 18
	IQ1_S   core.DType = 19
	IQ3_S   core.DType = 21
	IQ2_S   core.DType = 22
	IQ1_M   core.DType = 29
	TQ1_0   core.DType = 34
	TQ2_0   core.DType = 35
	MXFP4   core.DType = 39
)

// Count is one past the largest code ggml defines (GGML_TYPE_COUNT); codes
// at or above it are unknown.
const Count = 40

// traits are the block geometry of one type; a zero block marks a code that
// ggml removed or never assigned.
type traits struct {
	name  string
	block int // elements per block
	size  int // bytes per block
}

// table is indexed by code. Removed codes (4 Q4_2, 5 Q4_3, 31–33 and 36–38,
// the repacked layouts) have no entry and are rejected.
var table = [Count]traits{
	core.F32:    {"f32", 1, 4},
	core.F16:    {"f16", 1, 2},
	core.Q4_0:   {"q4_0", 32, 18},
	core.Q4_1:   {"q4_1", 32, 20},
	core.Q5_0:   {"q5_0", 32, 22},
	core.Q5_1:   {"q5_1", 32, 24},
	core.Q8_0:   {"q8_0", 32, 34},
	core.Q8_1:   {"q8_1", 32, 36},
	core.Q2_K:   {"q2_k", 256, 84},
	core.Q3_K:   {"q3_k", 256, 110},
	core.Q4_K:   {"q4_k", 256, 144},
	core.Q5_K:   {"q5_k", 256, 176},
	core.Q6_K:   {"q6_k", 256, 210},
	core.Q8_K:   {"q8_k", 256, 292},
	IQ2_XXS:     {"iq2_xxs", 256, 66},
	IQ2_XS:      {"iq2_xs", 256, 74},
	IQ3_XXS:     {"iq3_xxs", 256, 98},
	IQ1_S:       {"iq1_s", 256, 50},
	core.IQ4_NL: {"iq4_nl", 32, 18},
	IQ3_S:       {"iq3_s", 256, 110},
	IQ2_S:       {"iq2_s", 256, 82},
	core.IQ4_XS: {"iq4_xs", 256, 136},
	core.I8:     {"i8", 1, 1},
	core.I16:    {"i16", 1, 2},
	core.I32:    {"i32", 1, 4},
	core.I64:    {"i64", 1, 8},
	core.F64:    {"f64", 1, 8},
	IQ1_M:       {"iq1_m", 256, 56},
	core.BF16:   {"bf16", 1, 2},
	TQ1_0:       {"tq1_0", 256, 54},
	TQ2_0:       {"tq2_0", 256, 66},
	MXFP4:       {"mxfp4", 32, 17},
}

// Known reports whether t is a type code ggml currently defines (removed
// and out-of-range codes are not known).
func Known(t core.DType) bool { return t < Count && table[t].block != 0 }

// Name returns the lower-case ggml name of t ("f32", "q4_k", "iq4_nl", …),
// or "type(N)" for an unknown code.
func Name(t core.DType) string {
	if !Known(t) {
		return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
	}
	return table[t].name
}

// Parse returns the type named name. Matching ignores case, so ggml's own
// spellings ("q4_K", "Q8_0", "BF16") are accepted.
func Parse(name string) (core.DType, error) {
	for i, tr := range table {
		if tr.block != 0 && strings.EqualFold(tr.name, name) {
			return core.DType(i), nil
		}
	}
	return 0, core.Errorf(core.KindInvalid, "dtype.Parse", "unknown tensor type %q", name)
}

// BlockSize returns the number of elements in one block of t, or 0 when t
// is not known.
func BlockSize(t core.DType) int {
	if !Known(t) {
		return 0
	}
	return table[t].block
}

// TypeSize returns the number of bytes in one block of t, or 0 when t is
// not known.
func TypeSize(t core.DType) int {
	if !Known(t) {
		return 0
	}
	return table[t].size
}

// Quantized reports whether t stores elements in blocks of more than one
// element (every quantized type; the float and integer types are not).
func Quantized(t core.DType) bool { return BlockSize(t) > 1 }

// RowSize returns the bytes of one row of ne0 elements of type t. It fails
// with core.KindInvalid when t is unknown, ne0 is negative, ne0 is not a
// multiple of the block size, or the size overflows an int.
func RowSize(t core.DType, ne0 int) (int, error) {
	const op = "dtype.RowSize"
	if !Known(t) {
		return 0, core.Errorf(core.KindInvalid, op, "unknown tensor type %d", uint32(t))
	}
	if ne0 < 0 {
		return 0, core.Errorf(core.KindInvalid, op, "negative row length %d", ne0)
	}
	tr := table[t]
	if ne0%tr.block != 0 {
		return 0, core.Errorf(core.KindInvalid, op, "row length %d of %s is not a multiple of its block size %d", ne0, tr.name, tr.block)
	}
	blocks := ne0 / tr.block
	if blocks > maxInt/tr.size {
		return 0, core.Errorf(core.KindInvalid, op, "row of %d %s elements overflows", ne0, tr.name)
	}
	return blocks * tr.size, nil
}

// Size returns the bytes of a tensor of type t with the given shape (ne0
// first): RowSize(t, shape[0]) times the product of the other dimensions.
// An empty shape is a scalar. It fails like RowSize, and on a negative
// dimension or an overflowing product.
func Size(t core.DType, shape []int) (int64, error) {
	const op = "dtype.Size"
	ne0 := 1
	if len(shape) > 0 {
		ne0 = shape[0]
	}
	row, err := RowSize(t, ne0)
	if err != nil {
		return 0, err
	}
	n := int64(row)
	for _, d := range shape[min(1, len(shape)):] {
		if d < 0 {
			return 0, core.Errorf(core.KindInvalid, op, "negative dimension %d", d)
		}
		if d != 0 && n > maxInt64/int64(d) {
			return 0, core.Errorf(core.KindInvalid, op, "size of shape %v overflows", shape)
		}
		n *= int64(d)
	}
	return n, nil
}

const (
	maxInt   = int(^uint(0) >> 1)
	maxInt64 = int64(^uint64(0) >> 1)
)
