package quant

import "math"

// F16ToF32 widens an IEEE binary16 value to float32. The conversion is exact:
// subnormals become normal float32 values, infinities stay infinite and a
// NaN keeps its sign and payload (shifted into the float32 mantissa), as
// ggml's table-free conversion does (spec §2.2).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	man := uint32(h & 0x3FF)
	switch {
	case exp == 0x1F: // infinity or NaN
		return math.Float32frombits(sign | 0x7F800000 | man<<13)
	case exp != 0: // normal: rebias 15 → 127
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: value = man · 2^-24, exactly representable in float32.
	f := float32(man) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(f))
}

// F32ToF16 rounds a float32 to IEEE binary16 with round-to-nearest-even,
// keeping subnormals and overflowing to ±Inf. Every NaN becomes the quiet NaN
// 0x7E00 with the input's sign, which is what ggml's portable conversion
// produces (spec §2.2).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	abs := b & 0x7FFFFFFF
	switch {
	case abs > 0x7F800000: // NaN
		return sign | 0x7E00
	case abs >= 0x477FF000: // ≥ 65520 rounds to infinity (and Inf stays Inf)
		return sign | 0x7C00
	case abs >= 0x38800000: // normal half (≥ 2^-14)
		// Drop 13 mantissa bits with RNE; a carry into the exponent is correct.
		rounded := abs + 0xFFF + (abs>>13)&1
		return sign | uint16((rounded-0x38000000)>>13)
	case abs < 0x33000000: // < 2^-25: rounds to zero (2^-25 itself ties to even zero)
		return sign
	}
	// Subnormal half: value = m · 2^-24 with m in [0, 1024]; the implicit bit
	// is made explicit and the shift rounds to nearest even.
	exp := abs >> 23
	man := abs&0x7FFFFF | 0x800000
	// value / 2^-24 = man · 2^(exp-127-23+24) = man >> (126-exp).
	shift := 126 - exp
	half := uint32(1) << (shift - 1)
	q := man >> shift
	rem := man & (1<<shift - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return sign | uint16(q)
}

// BF16ToF32 widens a bfloat16 value to float32 (exact: the bits move up).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds a float32 to bfloat16 with round-to-nearest-even; a NaN
// keeps its top bits and is forced quiet, as ggml does (spec §2.2).
// Subnormals are rounded, not flushed.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7FFFFFFF > 0x7F800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7FFF + (u>>16)&1) >> 16)
}
