package safetensors

import "github.com/pensieve-llm/pensieve/core"

// dtypeInfo is one SafeTensors dtype: its width in bits and the core.DType
// with the same element encoding, if there is one.
type dtypeInfo struct {
	bits  int
	core  core.DType
	hasCT bool
}

// dtypes lists every dtype of spec §5.1 (safetensors/src/tensor.rs).
var dtypes = map[string]dtypeInfo{
	"BOOL":        {bits: 8},
	"U8":          {bits: 8},
	"I8":          {bits: 8, core: core.I8, hasCT: true},
	"I16":         {bits: 16, core: core.I16, hasCT: true},
	"U16":         {bits: 16},
	"F16":         {bits: 16, core: core.F16, hasCT: true},
	"BF16":        {bits: 16, core: core.BF16, hasCT: true},
	"I32":         {bits: 32, core: core.I32, hasCT: true},
	"U32":         {bits: 32},
	"F32":         {bits: 32, core: core.F32, hasCT: true},
	"F64":         {bits: 64, core: core.F64, hasCT: true},
	"I64":         {bits: 64, core: core.I64, hasCT: true},
	"U64":         {bits: 64},
	"F8_E4M3":     {bits: 8},
	"F8_E5M2":     {bits: 8},
	"F8_E8M0":     {bits: 8},
	"F8_E4M3FNUZ": {bits: 8},
	"F8_E5M2FNUZ": {bits: 8},
	"F6_E2M3":     {bits: 6},
	"F6_E3M2":     {bits: 6},
	"F4":          {bits: 4},
	"C64":         {bits: 64},
}

// DType returns the core.DType whose element encoding matches the SafeTensors
// dtype name (F32, F16, BF16, F64, I8, I16, I32, I64), or false for dtypes
// Pensieve's kernels do not compute (BOOL, unsigned integers, FP8, …).
func DType(name string) (core.DType, bool) {
	d, ok := dtypes[name]
	return d.core, ok && d.hasCT
}

// Known reports whether name is a SafeTensors dtype this reader accepts.
func Known(name string) bool {
	_, ok := dtypes[name]
	return ok
}
