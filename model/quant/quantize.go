package quant

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
)

// Quantize appends the encoding of src as type t to dst and returns the
// extended slice. len(src) must be a multiple of t's block size. The float
// types and Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 reproduce ggml's reference
// quantizers bit for bit; Q2_K…Q6_K, IQ4_NL and IQ4_XS follow ggml's
// reference algorithms without an importance matrix (spec §2.4). Q8_1 and
// Q8_K, activation-only types, use ggml's reference too. Unsupported types
// fail with core.KindInvalid.
func Quantize(dst []byte, t core.DType, src []float32) ([]byte, error) {
	n, err := encodedSize(t, len(src))
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	encode(dst[len(dst):len(dst)+n], t, src)
	return dst[:len(dst)+n], nil
}

// encodedSize checks that t can be produced from n values and returns the
// bytes they encode to.
func encodedSize(t core.DType, n int) (int, error) {
	const op = "quant.Quantize"
	if int(t) >= len(quantFuncs) || quantFuncs[t] == nil {
		return 0, core.Errorf(core.KindInvalid, op, "quantization to type %s is not supported", dtype.Name(t))
	}
	blck := dtype.BlockSize(t)
	if n%blck != 0 {
		return 0, core.Errorf(core.KindInvalid, op, "%d values are not a multiple of the %s block size %d", n, dtype.Name(t), blck)
	}
	return n / blck * dtype.TypeSize(t), nil
}

// encode writes src as type t into out, which has exactly the encoded size
// (checked by encodedSize).
func encode(out []byte, t core.DType, src []float32) {
	fn, blck, size := quantFuncs[t], dtype.BlockSize(t), dtype.TypeSize(t)
	for b := range len(src) / blck {
		fn(out[b*size:(b+1)*size], src[b*blck:(b+1)*blck])
	}
}

// quantFuncs encode one block: src holds the block's elements and dst its
// bytes (every byte is written).
var quantFuncs = [...]func(dst []byte, src []float32){
	core.F32:    quantF32,
	core.F16:    quantF16,
	core.BF16:   quantBF16,
	core.Q4_0:   quantQ4_0,
	core.Q4_1:   quantQ4_1,
	core.Q5_0:   quantQ5_0,
	core.Q5_1:   quantQ5_1,
	core.Q8_0:   quantQ8_0,
	core.Q8_1:   quantQ8_1,
	core.Q2_K:   quantQ2_K,
	core.Q3_K:   quantQ3_K,
	core.Q4_K:   quantQ4_K,
	core.Q5_K:   quantQ5_K,
	core.Q6_K:   quantQ6_K,
	core.Q8_K:   quantQ8_K,
	core.IQ4_NL: quantIQ4_NL,
	core.IQ4_XS: quantIQ4_XS,
}

func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

func quantF32(dst []byte, src []float32) {
	binary.LittleEndian.PutUint32(dst, math.Float32bits(src[0]))
}

func quantF16(dst []byte, src []float32) { putHalf(dst, src[0]) }

func quantBF16(dst []byte, src []float32) {
	binary.LittleEndian.PutUint16(dst, F32ToBF16(src[0]))
}

// absMax returns the element of largest magnitude, the first one on ties,
// and its magnitude (ggml's "amax/max" scan with a strict comparison).
func absMax(x []float32) (signed, amax float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, signed = a, v
		}
	}
	return signed, amax
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// roundAway rounds half away from zero, as C's roundf.
func roundAway(v float32) float32 { return float32(math.Round(float64(v))) }

// nearestInt is ggml's nearest_int: round to nearest, ties to even, by adding
// 1.5·2^23 in float32 and reading the mantissa. Exact for |v| < 2^22; the bit
// trick is kept so that out-of-range inputs behave as in ggml.
func nearestInt(v float32) int {
	f := v + 12582912
	return int(math.Float32bits(f)&0x7FFFFF) - 0x400000
}

func quantQ4_0(dst []byte, x []float32) {
	max, _ := absMax(x)
	d := max / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(dst, d)
	for j := range 16 {
		// Truncation toward zero, as C's (int8_t) cast.
		q0 := min(15, int(float32(x[j]*id)+8.5))
		q1 := min(15, int(float32(x[j+16]*id)+8.5))
		dst[2+j] = byte(q0) | byte(q1)<<4
	}
}

// minMax returns the smallest and largest element.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

func quantQ4_1(dst []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(dst, d)
	putHalf(dst[2:], lo)
	for j := range 16 {
		q0 := min(15, int(float32((x[j]-lo)*id)+0.5))
		q1 := min(15, int(float32((x[j+16]-lo)*id)+0.5))
		dst[4+j] = byte(q0) | byte(q1)<<4
	}
}

func quantQ5_0(dst []byte, x []float32) {
	max, _ := absMax(x)
	d := max / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(dst, d)
	var qh uint32
	for j := range 16 {
		q0 := min(31, int(float32(x[j]*id)+16.5))
		q1 := min(31, int(float32(x[j+16]*id)+16.5))
		dst[6+j] = byte(q0&15) | byte(q1&15)<<4
		qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
	}
	binary.LittleEndian.PutUint32(dst[2:], qh)
}

func quantQ5_1(dst []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(dst, d)
	putHalf(dst[2:], lo)
	var qh uint32
	for j := range 16 {
		q0 := int(uint8(float32((x[j]-lo)*id) + 0.5))
		q1 := int(uint8(float32((x[j+16]-lo)*id) + 0.5))
		dst[8+j] = byte(q0&15) | byte(q1&15)<<4
		qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
	}
	binary.LittleEndian.PutUint32(dst[4:], qh)
}

func quantQ8_0(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(dst, d)
	for j, v := range x {
		dst[2+j] = byte(int8(roundAway(v * id)))
	}
}

func quantQ8_1(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(dst, d)
	sum := 0
	for j, v := range x {
		q := int8(roundAway(v * id))
		dst[4+j] = byte(q)
		sum += int(q)
	}
	putHalf(dst[2:], float32(sum)*d)
}

func quantQ8_K(dst []byte, x []float32) {
	clear(dst)
	max, amax := absMax(x)
	if amax == 0 {
		return
	}
	iscale := -127 / max
	for j, v := range x {
		dst[4+j] = byte(int8(min(127, nearestInt(iscale*v))))
	}
	for j := range 16 {
		s := 0
		for _, q := range dst[4+16*j : 4+16*j+16] {
			s += int(int8(q))
		}
		binary.LittleEndian.PutUint16(dst[260+2*j:], uint16(int16(s)))
	}
	binary.LittleEndian.PutUint32(dst, math.Float32bits(1/iscale))
}
