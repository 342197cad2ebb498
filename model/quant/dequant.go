package quant

import (
	"encoding/binary"
	"math"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
)

// iq4Values are the 16 non-linear levels of IQ4_NL and IQ4_XS (spec §2.3).
var iq4Values = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// Dequantize decodes src, a run of whole blocks of type t, into dst, one
// float32 per element: len(dst) must be a multiple of t's block size and src
// must hold exactly len(dst)/block blocks. The results are bit-identical to
// ggml's dequantize_row_* functions (spec §2.3). Unsupported types and
// mismatched lengths fail with core.KindInvalid.
func Dequantize(dst []float32, t core.DType, src []byte) error {
	const op = "quant.Dequantize"
	var fn func([]float32, []byte)
	if int(t) < len(dequantFuncs) {
		fn = dequantFuncs[t]
	}
	if fn == nil && t != core.F32 {
		return core.Errorf(core.KindInvalid, op, "dequantization of type %s is not supported", dtype.Name(t))
	}
	blck, size := dtype.BlockSize(t), dtype.TypeSize(t)
	if len(dst)%blck != 0 {
		return core.Errorf(core.KindInvalid, op, "%d elements are not a multiple of the %s block size %d", len(dst), dtype.Name(t), blck)
	}
	if want := len(dst) / blck * size; len(src) != want {
		return core.Errorf(core.KindInvalid, op, "%d elements of %s need %d bytes, got %d", len(dst), dtype.Name(t), want, len(src))
	}
	if t == core.F32 {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return nil
	}
	fn(dst, src)
	return nil
}

// dequantFuncs holds the block decoders; each decodes all of src into dst
// (lengths already checked).
var dequantFuncs = [...]func(dst []float32, src []byte){
	core.F16:    dequantF16,
	core.BF16:   dequantBF16,
	core.Q4_0:   dequantQ4_0,
	core.Q4_1:   dequantQ4_1,
	core.Q5_0:   dequantQ5_0,
	core.Q5_1:   dequantQ5_1,
	core.Q8_0:   dequantQ8_0,
	core.Q8_1:   dequantQ8_1,
	core.Q2_K:   dequantQ2_K,
	core.Q3_K:   dequantQ3_K,
	core.Q4_K:   dequantQ4_K,
	core.Q5_K:   dequantQ5_K,
	core.Q6_K:   dequantQ6_K,
	core.Q8_K:   dequantQ8_K,
	core.IQ4_NL: dequantIQ4_NL,
	core.IQ4_XS: dequantIQ4_XS,
}

// halfAt reads the fp16 value at b[off:] as float32.
func halfAt(b []byte, off int) float32 {
	return F16ToF32(binary.LittleEndian.Uint16(b[off:]))
}

func dequantF16(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func dequantBF16(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func dequantQ4_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk, y := src[b*18:b*18+18], dst[b*32:b*32+32]
		d := halfAt(blk, 0)
		for j, q := range blk[2:18] {
			y[j] = float32(int(q&15)-8) * d
			y[j+16] = float32(int(q>>4)-8) * d
		}
	}
}

func dequantQ4_1(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk, y := src[b*20:b*20+20], dst[b*32:b*32+32]
		d, m := halfAt(blk, 0), halfAt(blk, 2)
		for j, q := range blk[4:20] {
			// float32() around the product keeps the compiler from fusing
			// into an FMA, which would change the rounding (spec §6.6).
			y[j] = float32(float32(q&15)*d) + m
			y[j+16] = float32(float32(q>>4)*d) + m
		}
	}
}

func dequantQ5_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk, y := src[b*22:b*22+22], dst[b*32:b*32+32]
		d := halfAt(blk, 0)
		qh := binary.LittleEndian.Uint32(blk[2:])
		for j, q := range blk[6:22] {
			lo := int(q&15) | int(qh>>j&1)<<4
			hi := int(q>>4) | int(qh>>(j+16)&1)<<4
			y[j] = float32(lo-16) * d
			y[j+16] = float32(hi-16) * d
		}
	}
}

func dequantQ5_1(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk, y := src[b*24:b*24+24], dst[b*32:b*32+32]
		d, m := halfAt(blk, 0), halfAt(blk, 2)
		qh := binary.LittleEndian.Uint32(blk[4:])
		for j, q := range blk[8:24] {
			lo := int(q&15) | int(qh>>j&1)<<4
			hi := int(q>>4) | int(qh>>(j+16)&1)<<4
			y[j] = float32(float32(lo)*d) + m
			y[j+16] = float32(float32(hi)*d) + m
		}
	}
}

func dequantQ8_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk, y := src[b*34:b*34+34], dst[b*32:b*32+32]
		d := halfAt(blk, 0)
		for j, q := range blk[2:34] {
			y[j] = float32(int8(q)) * d
		}
	}
}

func dequantQ8_1(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk, y := src[b*36:b*36+36], dst[b*32:b*32+32]
		d := halfAt(blk, 0)
		for j, q := range blk[4:36] {
			y[j] = float32(int8(q)) * d
		}
	}
}

func dequantQ2_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/256; b++ {
		blk, y := src[b*84:b*84+84], dst[b*256:b*256+256]
		scales, qs := blk[0:16], blk[16:80]
		d, dmin := halfAt(blk, 80), halfAt(blk, 82)
		for i := range 256 {
			n, r := i/128, i%128
			j, l := r/32, r%32
			q := qs[32*n+l] >> (2 * j) & 3
			sc := scales[8*n+2*j+l/16]
			dl := d * float32(sc&15)
			ml := dmin * float32(sc>>4)
			y[i] = float32(dl*float32(q)) - ml
		}
	}
}

func dequantQ3_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/256; b++ {
		blk, y := src[b*110:b*110+110], dst[b*256:b*256+256]
		hmask, qs, sc := blk[0:32], blk[32:96], blk[96:108]
		d := halfAt(blk, 108)
		var dl [16]float32
		for s := range 16 {
			dl[s] = d * float32(q3Scale(sc, s))
		}
		for i := range 256 {
			n, r := i/128, i%128
			j, l := r/32, r%32
			q := int(qs[32*n+l] >> (2 * j) & 3)
			if hmask[l]>>(4*n+j)&1 == 0 {
				q -= 4
			}
			y[i] = dl[8*n+2*j+l/16] * float32(q)
		}
	}
}

// q3Scale returns Q3_K's signed 6-bit scale of sub-block s (spec §2.3).
func q3Scale(sc []byte, s int) int {
	var low byte
	if s < 8 {
		low = sc[s] & 15
	} else {
		low = sc[s-8] >> 4
	}
	high := sc[8+s%4] >> (2 * (s / 4)) & 3
	return int(low|high<<4) - 32
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j from the 12-byte
// Q4_K/Q5_K scale array (spec §2.3).
func scaleMinK4(j int, b []byte) (sc, m uint8) {
	if j < 4 {
		return b[j] & 63, b[j+4] & 63
	}
	return b[j+4]&15 | (b[j-4]>>6)<<4, b[j+4]>>4 | (b[j]>>6)<<4
}

func dequantQ4_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/256; b++ {
		blk, y := src[b*144:b*144+144], dst[b*256:b*256+256]
		d, dmin := halfAt(blk, 0), halfAt(blk, 2)
		scales, qs := blk[4:16], blk[16:144]
		for c := range 4 {
			sc0, m0 := scaleMinK4(2*c, scales)
			sc1, m1 := scaleMinK4(2*c+1, scales)
			d0, mm0 := d*float32(sc0), dmin*float32(m0)
			d1, mm1 := d*float32(sc1), dmin*float32(m1)
			q := qs[32*c : 32*c+32]
			for l := range 32 {
				y[64*c+l] = float32(d0*float32(q[l]&15)) - mm0
				y[64*c+32+l] = float32(d1*float32(q[l]>>4)) - mm1
			}
		}
	}
}

func dequantQ5_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/256; b++ {
		blk, y := src[b*176:b*176+176], dst[b*256:b*256+256]
		d, dmin := halfAt(blk, 0), halfAt(blk, 2)
		scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
		for c := range 4 {
			sc0, m0 := scaleMinK4(2*c, scales)
			sc1, m1 := scaleMinK4(2*c+1, scales)
			d0, mm0 := d*float32(sc0), dmin*float32(m0)
			d1, mm1 := d*float32(sc1), dmin*float32(m1)
			q := qs[32*c : 32*c+32]
			for l := range 32 {
				lo := q[l]&15 | (qh[l]>>(2*c)&1)<<4
				hi := q[l]>>4 | (qh[l]>>(2*c+1)&1)<<4
				y[64*c+l] = float32(d0*float32(lo)) - mm0
				y[64*c+32+l] = float32(d1*float32(hi)) - mm1
			}
		}
	}
}

func dequantQ6_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/256; b++ {
		blk, y := src[b*210:b*210+210], dst[b*256:b*256+256]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		d := halfAt(blk, 208)
		for i := range 256 {
			n, r := i/128, i%128
			l, g := r%32, r/32
			low := ql[64*n+32*(g&1)+l]
			if g >= 2 {
				low >>= 4
			}
			q := int(low&15|(qh[32*n+l]>>(2*g)&3)<<4) - 32
			y[i] = d * float32(int8(sc[8*n+r/16])) * float32(q)
		}
	}
}

func dequantQ8_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/256; b++ {
		blk, y := src[b*292:b*292+292], dst[b*256:b*256+256]
		d := math.Float32frombits(binary.LittleEndian.Uint32(blk))
		for i, q := range blk[4:260] {
			y[i] = d * float32(int8(q))
		}
	}
}

func dequantIQ4_NL(dst []float32, src []byte) {
	for b := 0; b < len(dst)/32; b++ {
		blk, y := src[b*18:b*18+18], dst[b*32:b*32+32]
		d := halfAt(blk, 0)
		for j, q := range blk[2:18] {
			y[j] = d * float32(iq4Values[q&15])
			y[j+16] = d * float32(iq4Values[q>>4])
		}
	}
}

func dequantIQ4_XS(dst []float32, src []byte) {
	for b := 0; b < len(dst)/256; b++ {
		blk, y := src[b*136:b*136+136], dst[b*256:b*256+256]
		d := halfAt(blk, 0)
		sh := binary.LittleEndian.Uint16(blk[2:])
		sl, qs := blk[4:8], blk[8:136]
		for j := range 8 {
			ls := int(sl[j/2]>>(4*(j%2))&15) | int(sh>>(2*j)&3)<<4
			dl := d * float32(ls-32)
			q, yy := qs[16*j:16*j+16], y[32*j:32*j+32]
			for l := range 16 {
				yy[l] = dl * float32(iq4Values[q[l]&15])
				yy[l+16] = dl * float32(iq4Values[q[l]>>4])
			}
		}
	}
}
