package quant

import (
	"math"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
)

// FuzzDequantize feeds arbitrary bytes as tensor data of every type:
// decoding never panics, fails only on bad lengths, and a float-to-float
// round trip of what was decoded reproduces the bytes for F32.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(core.Q4_K), make([]byte, 144))
	f.Add(uint8(core.Q8_0), []byte{0, 0x3c, 1, 2, 3})
	f.Add(uint8(core.F32), []byte{0, 0, 0x80, 0x7f})
	f.Fuzz(func(t *testing.T, code uint8, data []byte) {
		typ := core.DType(code % 40)
		blck, size := dtype.BlockSize(typ), dtype.TypeSize(typ)
		if blck == 0 {
			if err := Dequantize(make([]float32, 1), typ, data); err == nil {
				t.Fatalf("unknown type %d accepted", typ)
			}
			return
		}
		n := len(data) / size * blck
		out := make([]float32, n)
		err := Dequantize(out, typ, data[:n/blck*size])
		if err != nil {
			if core.KindOf(err) != core.KindInvalid {
				t.Fatalf("error of kind %v: %v", core.KindOf(err), err)
			}
			return
		}
		if typ == core.F32 {
			back, err := Quantize(nil, core.F32, out)
			if err != nil {
				t.Fatal(err)
			}
			for i := range back {
				if back[i] != data[i] {
					t.Fatalf("F32 round trip changed byte %d", i)
				}
			}
		}
		// A matrix product over the same bytes must not panic either.
		if kind, ok := actKindOf(typ); ok && n > 0 && n%kind.block() == 0 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)))
			}
			var res [1]float32
			w := &core.Tensor{Name: "fuzz", Type: typ, Shape: []int{n, 1}, Data: data[:n/blck*size]}
			if err := MatMul(res[:], w, x, 1, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
