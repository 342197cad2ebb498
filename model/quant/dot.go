package quant

import (
	"encoding/binary"
	"math"

	"github.com/pensieve-llm/pensieve/core"
)

// dotFunc returns the dot product of one weight row w (whole blocks of its
// type, a.k elements) with activation row i of a. The integer part of each
// block is exact; scales are applied once per block as ggml does (spec §2.5).
type dotFunc func(w []byte, a *acts, i int) float32

// genericDots are the portable kernels, the oracle for the SIMD ones.
var genericDots = map[core.DType]dotFunc{
	core.F32:    dotF32Generic,
	core.F16:    dotF16Generic,
	core.BF16:   dotBF16Generic,
	core.Q4_0:   dotQ4_0Generic,
	core.Q4_1:   dotQ4_1Generic,
	core.Q5_0:   dotQ5_0Generic,
	core.Q5_1:   dotQ5_1Generic,
	core.Q8_0:   dotQ8_0Generic,
	core.IQ4_NL: dotIQ4_NLGeneric,
	core.Q2_K:   dotQ2_KGeneric,
	core.Q3_K:   dotQ3_KGeneric,
	core.Q4_K:   dotQ4_KGeneric,
	core.Q5_K:   dotQ5_KGeneric,
	core.Q6_K:   dotQ6_KGeneric,
	core.IQ4_XS: dotIQ4_XSGeneric,
}

// rowQ returns activation row i's quants and scales (block of 32 or 256).
func (a *acts) rowQ(i, block int) ([]int8, []float32) {
	nb := a.k / block
	return a.q[i*a.k : (i+1)*a.k], a.d[i*nb : (i+1)*nb]
}

func dotF32Generic(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.k : (i+1)*a.k]
	var s float32
	for j, v := range x {
		s += float32(f32At(w, j) * v)
	}
	return s
}

func f32At(b []byte, j int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
}

func dotF16Generic(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.k : (i+1)*a.k]
	var s float32
	for j, v := range x {
		s += float32(F16ToF32(binary.LittleEndian.Uint16(w[2*j:])) * v)
	}
	return s
}

func dotBF16Generic(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.k : (i+1)*a.k]
	var s float32
	for j, v := range x {
		s += float32(BF16ToF32(binary.LittleEndian.Uint16(w[2*j:])) * v)
	}
	return s
}

func dotQ4_0Generic(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	var s float32
	for b := range d {
		blk, y := w[18*b:18*b+18], q[32*b:32*b+32]
		var is int32
		for j, v := range blk[2:18] {
			is += int32(int8(v&15)-8)*int32(y[j]) + int32(int8(v>>4)-8)*int32(y[j+16])
		}
		s += float32(halfAt(blk, 0)*d[b]) * float32(is)
	}
	return s
}

func dotQ4_1Generic(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	sa := a.s[i*len(d) : (i+1)*len(d)]
	var s, sm float32
	for b := range d {
		blk, y := w[20*b:20*b+20], q[32*b:32*b+32]
		var is int32
		for j, v := range blk[4:20] {
			is += int32(v&15)*int32(y[j]) + int32(v>>4)*int32(y[j+16])
		}
		s += float32(halfAt(blk, 0)*d[b]) * float32(is)
		sm += float32(halfAt(blk, 2) * sa[b])
	}
	return s + sm
}

func dotQ5_0Generic(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	var s float32
	for b := range d {
		blk, y := w[22*b:22*b+22], q[32*b:32*b+32]
		qh := binary.LittleEndian.Uint32(blk[2:])
		var is int32
		for j, v := range blk[6:22] {
			lo := int32(v&15) | int32(qh>>j&1)<<4
			hi := int32(v>>4) | int32(qh>>(j+16)&1)<<4
			is += (lo-16)*int32(y[j]) + (hi-16)*int32(y[j+16])
		}
		s += float32(halfAt(blk, 0)*d[b]) * float32(is)
	}
	return s
}

func dotQ5_1Generic(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	sa := a.s[i*len(d) : (i+1)*len(d)]
	var s, sm float32
	for b := range d {
		blk, y := w[24*b:24*b+24], q[32*b:32*b+32]
		qh := binary.LittleEndian.Uint32(blk[4:])
		var is int32
		for j, v := range blk[8:24] {
			lo := int32(v&15) | int32(qh>>j&1)<<4
			hi := int32(v>>4) | int32(qh>>(j+16)&1)<<4
			is += lo*int32(y[j]) + hi*int32(y[j+16])
		}
		s += float32(halfAt(blk, 0)*d[b]) * float32(is)
		sm += float32(halfAt(blk, 2) * sa[b])
	}
	return s + sm
}

func dotQ8_0Generic(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	var s float32
	for b := range d {
		blk, y := w[34*b:34*b+34], q[32*b:32*b+32]
		var is int32
		for j, v := range blk[2:34] {
			is += int32(int8(v)) * int32(y[j])
		}
		s += float32(halfAt(blk, 0)*d[b]) * float32(is)
	}
	return s
}

func dotIQ4_NLGeneric(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 32)
	var s float32
	for b := range d {
		blk, y := w[18*b:18*b+18], q[32*b:32*b+32]
		var is int32
		for j, v := range blk[2:18] {
			is += int32(iq4Values[v&15])*int32(y[j]) + int32(iq4Values[v>>4])*int32(y[j+16])
		}
		s += float32(halfAt(blk, 0)*d[b]) * float32(is)
	}
	return s
}

// rowBsums returns activation row i's Q8_K 16-element sums.
func (a *acts) rowBsums(i int) []int16 { return a.bs[i*a.k/16 : (i+1)*a.k/16] }

func dotQ2_KGeneric(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	bs := a.rowBsums(i)
	var s float32
	for b := range d {
		blk, y := w[84*b:84*b+84], q[256*b:256*b+256]
		sc, qs := blk[0:16], blk[16:80]
		var summ, is int32
		for j := range 16 {
			summ += int32(sc[j]>>4) * int32(bs[16*b+j])
		}
		for n := range 2 {
			for j := range 4 {
				for h := range 2 {
					var p int32
					for l := 16 * h; l < 16*h+16; l++ {
						p += int32(qs[32*n+l]>>(2*j)&3) * int32(y[128*n+32*j+l])
					}
					is += int32(sc[8*n+2*j+h]&15) * p
				}
			}
		}
		dall := d[b] * halfAt(blk, 80)
		dmin := d[b] * halfAt(blk, 82)
		s += float32(dall*float32(is)) - float32(dmin*float32(summ))
	}
	return s
}

func dotQ3_KGeneric(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	var s float32
	for b := range d {
		blk, y := w[110*b:110*b+110], q[256*b:256*b+256]
		hmask, qs, sc := blk[0:32], blk[32:96], blk[96:108]
		var is int32
		for n := range 2 {
			for j := range 4 {
				for h := range 2 {
					var p int32
					for l := 16 * h; l < 16*h+16; l++ {
						v := int32(qs[32*n+l] >> (2 * j) & 3)
						if hmask[l]>>(4*n+j)&1 == 0 {
							v -= 4
						}
						p += v * int32(y[128*n+32*j+l])
					}
					is += int32(q3Scale(sc, 8*n+2*j+h)) * p
				}
			}
		}
		s += float32(d[b]*halfAt(blk, 108)) * float32(is)
	}
	return s
}

func dotQ4_KGeneric(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	bs := a.rowBsums(i)
	var s float32
	for b := range d {
		blk, y := w[144*b:144*b+144], q[256*b:256*b+256]
		scales, qs := blk[4:16], blk[16:144]
		var is, summ int32
		for c := range 4 {
			sc0, m0 := scaleMinK4(2*c, scales)
			sc1, m1 := scaleMinK4(2*c+1, scales)
			var p0, p1 int32
			for l := range 32 {
				v := qs[32*c+l]
				p0 += int32(v&15) * int32(y[64*c+l])
				p1 += int32(v>>4) * int32(y[64*c+32+l])
			}
			is += int32(sc0)*p0 + int32(sc1)*p1
			summ += int32(m0)*(int32(bs[16*b+4*c])+int32(bs[16*b+4*c+1])) +
				int32(m1)*(int32(bs[16*b+4*c+2])+int32(bs[16*b+4*c+3]))
		}
		dall := d[b] * halfAt(blk, 0)
		dmin := d[b] * halfAt(blk, 2)
		s += float32(dall*float32(is)) - float32(dmin*float32(summ))
	}
	return s
}

func dotQ5_KGeneric(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	bs := a.rowBsums(i)
	var s float32
	for b := range d {
		blk, y := w[176*b:176*b+176], q[256*b:256*b+256]
		scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
		var is, summ int32
		for c := range 4 {
			sc0, m0 := scaleMinK4(2*c, scales)
			sc1, m1 := scaleMinK4(2*c+1, scales)
			var p0, p1 int32
			for l := range 32 {
				v := qs[32*c+l]
				lo := int32(v&15) | int32(qh[l]>>(2*c)&1)<<4
				hi := int32(v>>4) | int32(qh[l]>>(2*c+1)&1)<<4
				p0 += lo * int32(y[64*c+l])
				p1 += hi * int32(y[64*c+32+l])
			}
			is += int32(sc0)*p0 + int32(sc1)*p1
			summ += int32(m0)*(int32(bs[16*b+4*c])+int32(bs[16*b+4*c+1])) +
				int32(m1)*(int32(bs[16*b+4*c+2])+int32(bs[16*b+4*c+3]))
		}
		dall := d[b] * halfAt(blk, 0)
		dmin := d[b] * halfAt(blk, 2)
		s += float32(dall*float32(is)) - float32(dmin*float32(summ))
	}
	return s
}

func dotQ6_KGeneric(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	var s float32
	for b := range d {
		blk, y := w[210*b:210*b+210], q[256*b:256*b+256]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		var is int32
		for n := range 2 {
			for g := range 4 {
				for h := range 2 {
					var p int32
					for l := 16 * h; l < 16*h+16; l++ {
						low := ql[64*n+32*(g&1)+l]
						if g >= 2 {
							low >>= 4
						}
						v := int32(low&15|(qh[32*n+l]>>(2*g)&3)<<4) - 32
						p += v * int32(y[128*n+32*g+l])
					}
					is += int32(int8(sc[8*n+2*g+h])) * p
				}
			}
		}
		s += float32(d[b]*halfAt(blk, 208)) * float32(is)
	}
	return s
}

func dotIQ4_XSGeneric(w []byte, a *acts, i int) float32 {
	q, d := a.rowQ(i, 256)
	var s float32
	for b := range d {
		blk, y := w[136*b:136*b+136], q[256*b:256*b+256]
		sh := binary.LittleEndian.Uint16(blk[2:])
		sl, qs := blk[4:8], blk[8:136]
		var is int32
		for j := range 8 {
			ls := int32(sl[j/2]>>(4*(j%2))&15) | int32(sh>>(2*j)&3)<<4
			var p int32
			for l := range 16 {
				v := qs[16*j+l]
				p += int32(iq4Values[v&15])*int32(y[32*j+l]) + int32(iq4Values[v>>4])*int32(y[32*j+16+l])
			}
			is += (ls - 32) * p
		}
		s += float32(d[b]*halfAt(blk, 0)) * float32(is)
	}
	return s
}
