package quant

import (
	"encoding/binary"
	"math"
)

// The K-quant and IQ4 reference quantizers (ggml-quants.c, no importance
// matrix). Every expression keeps ggml's evaluation order and float32
// rounding; float32() conversions around products stop the Go compiler from
// fusing them into FMAs on platforms where it may (spec §6.6).

// groupMaxEps is ggml's GROUP_MAX_EPS: groups whose largest magnitude is
// below it quantize to zero.
const groupMaxEps float32 = 1e-15

func sqrt32(v float32) float32 { return float32(math.Sqrt(float64(v))) }

// makeQXQuants is ggml's make_qx_quants with rmse_type 1: a symmetric scale
// for n values in [-nmax, nmax-1], weighted by w (x² when w is nil). L gets
// the levels offset by nmax; the scale is returned.
func makeQXQuants(nmax int, x []float32, L []int8, w []float32) float32 {
	max, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	weight := func(i int) float32 {
		if w != nil {
			return w[i]
		}
		return x[i] * x[i]
	}
	fmax := float32(nmax)
	iscale := -fmax / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		wi, fl := weight(i), float32(l)
		sumlx += float32(wi*v) * fl
		suml2 += float32(wi*fl) * fl
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fmax + float32(0.1)*float32(is)) / max
		sumlx, suml2 = 0, 0
		for i, v := range x {
			fl := float32(clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			wi := weight(i)
			sumlx += float32(wi*v) * fl
			suml2 += float32(wi*fl) * fl
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clampInt(nearestInt(iscale*v), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// makeQ3Quants is ggml's make_q3_quants with do_rmse: levels in
// [-nmax, nmax-1] weighted by x², refined one element at a time. L gets the
// levels offset by nmax.
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	max, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := -float32(nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l)
		w, fl := v*v, float32(l)
		sumlx += float32(w*v) * fl
		suml2 += float32(w*fl) * fl
	}
	for range 5 {
		changed := 0
		for i, v := range x {
			w, li := v*v, float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			if slx <= 0 {
				continue
			}
			sl2 := suml2 - float32(float32(w*li)*li)
			nl := clampInt(nearestInt(float32(v*sl2)/slx), -nmax, nmax-1)
			if nl == int(L[i]) {
				continue
			}
			fn := float32(nl)
			slx += float32(w*v) * fn
			sl2 += float32(w*fn) * fn
			if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
				L[i], sumlx, suml2 = int8(nl), slx, sl2
				changed++
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQKX2Quants is ggml's make_qkx2_quants: an asymmetric fit x ≈ scale·L −
// min with L in [0, nmax], searching nstep+1 candidate scales and solving the
// weighted least squares for each. It returns the scale and the (positive)
// min; L gets the levels. mad selects absolute instead of squared error.
func makeQKX2Quants(nmax int, x, w []float32, L, aux []uint8, rmin, rdelta float32, nstep int, mad bool) (scale, theMin float32) {
	lo, hi := x[0], x[0]
	sumW := w[0]
	sumX := sumW * x[0]
	for i := 1; i < len(x); i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		clear(L)
		return 0, -lo
	}
	errOf := func(d float32) float32 {
		if mad {
			return abs32(d)
		}
		return d * d
	}
	fmax := float32(nmax)
	iscale := fmax / (hi - lo)
	scale = 1 / iscale
	var bestErr float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*float32(v-lo)), 0, nmax)
		L[i] = uint8(l)
		diff := float32(float32(scale*float32(l))+lo) - v
		bestErr += float32(w[i] * errOf(diff))
	}
	for is := 0; is <= nstep; is++ {
		iscale = float32(float32(rmin+float32(rdelta*float32(is)))+fmax) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampInt(nearestInt(iscale*float32(v-lo)), 0, nmax)
			aux[i] = uint8(l)
			fl := float32(l)
			wl := w[i] * fl
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D <= 0 {
			continue
		}
		thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
		thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var cur float32
		for i, v := range x {
			diff := float32(float32(thisScale*float32(aux[i]))+thisMin) - v
			cur += float32(w[i] * errOf(diff))
		}
		if cur < bestErr {
			copy(L, aux)
			bestErr, scale, lo = cur, thisScale, thisMin
		}
	}
	return scale, -lo
}

// packScaleMinK4 stores the 6-bit scale ls and min lm of sub-block j in the
// 12-byte Q4_K/Q5_K scale array (spec §2.3). The array must start zeroed.
func packScaleMinK4(sc []byte, j int, ls, lm uint8) {
	if j < 4 {
		sc[j], sc[j+4] = ls, lm
		return
	}
	sc[j+4] = ls&15 | (lm&15)<<4
	sc[j-4] |= (ls >> 4) << 6
	sc[j] |= (lm >> 4) << 6
}

func quantQ2_K(dst []byte, x []float32) {
	var L, aux [256]uint8
	var w [16]float32
	var scales, mins [16]float32
	var maxScale, maxMin float32
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			w[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(3, xs, w[:], L[16*j:16*j+16], aux[:16], -0.5, 0.1, 15, true)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	sc := dst[0:16]
	clear(sc)
	var d, dmin float32
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range 16 {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
		d = maxScale / 15
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range 16 {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
		dmin = maxMin / 15
	}
	putHalf(dst[80:], d)
	putHalf(dst[82:], dmin)
	d, dmin = halfAt(dst, 80), halfAt(dst, 82)
	for j := range 16 {
		dj := d * float32(sc[j]&15)
		if dj == 0 {
			continue
		}
		dm := dmin * float32(sc[j]>>4)
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = uint8(clampInt(nearestInt((v+dm)/dj), 0, 3))
		}
	}
	pack2Bit(dst[16:80], L[:])
}

// pack2Bit stores 256 two-bit levels: byte 32n+l holds levels 128n+l+32k in
// bits 2k (k = 0..3), the Q2_K/Q3_K order.
func pack2Bit(qs []byte, L []uint8) {
	for n := range 2 {
		for l := range 32 {
			b := 128*n + l
			qs[32*n+l] = L[b] | L[b+32]<<2 | L[b+64]<<4 | L[b+96]<<6
		}
	}
}

func quantQ3_K(dst []byte, x []float32) {
	var L [256]int8
	var scales [16]float32
	var maxScale, amax float32
	for j := range 16 {
		scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
		if a := abs32(scales[j]); a > amax {
			amax, maxScale = a, scales[j]
		}
	}
	sc := dst[96:108]
	clear(sc)
	var d float32
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := range 16 {
			l := uint8(clampInt(int(int8(nearestInt(iscale*scales[j]))), -32, 31) + 32)
			if j < 8 {
				sc[j] = l & 15
			} else {
				sc[j-8] |= (l & 15) << 4
			}
			sc[j%4+8] |= (l >> 4) << (2 * (j / 4))
		}
		d = 1 / iscale
	}
	putHalf(dst[108:], d)
	d = halfAt(dst, 108)
	for j := range 16 {
		dj := d * float32(q3Scale(sc, j))
		if dj == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = int8(clampInt(nearestInt(v/dj), -4, 3) + 4)
		}
	}
	hmask := dst[0:32]
	clear(hmask)
	var U [256]uint8
	for j, l := range L {
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		U[j] = uint8(l)
	}
	pack2Bit(dst[32:96], U[:])
}

// quantQ45K is the shared body of the Q4_K and Q5_K reference quantizers:
// 8 sub-blocks of 32 with 6-bit scales and mins. It writes d, dmin and the
// scales into hdr (16 bytes) and returns the levels in [0, nmax].
func quantQ45K(hdr []byte, x []float32, nmax int, rmin float32, nstep int, L *[256]uint8) {
	var aux [32]uint8
	var w [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += v * v
		}
		av := sqrt32(sumX2 / 32)
		for l, v := range xs {
			w[l] = av + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, w[:], L[32*j:32*j+32], aux[:], rmin, 0.1, nstep, false)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := hdr[4:16]
	clear(sc)
	for j := range 8 {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		packScaleMinK4(sc, j, ls, lm)
	}
	putHalf(hdr, maxScale/63)
	putHalf(hdr[2:], maxMin/63)
	d, dmin := halfAt(hdr, 0), halfAt(hdr, 2)
	for j := range 8 {
		s, m := scaleMinK4(j, sc)
		dj := d * float32(s)
		if dj == 0 {
			continue
		}
		dm := dmin * float32(m)
		for i, v := range x[32*j : 32*j+32] {
			L[32*j+i] = uint8(clampInt(nearestInt((v+dm)/dj), 0, nmax))
		}
	}
}

func quantQ4_K(dst []byte, x []float32) {
	var L [256]uint8
	quantQ45K(dst[0:16], x, 15, -1, 20, &L)
	qs := dst[16:144]
	for c := range 4 {
		for l := range 32 {
			qs[32*c+l] = L[64*c+l] | L[64*c+32+l]<<4
		}
	}
}

func quantQ5_K(dst []byte, x []float32) {
	var L [256]uint8
	quantQ45K(dst[0:16], x, 31, -0.5, 15, &L)
	qh, qs := dst[16:48], dst[48:176]
	clear(qh)
	for c := range 4 {
		for l := range 32 {
			l1, l2 := L[64*c+l], L[64*c+32+l]
			if l1 > 15 {
				l1 -= 16
				qh[l] |= 1 << (2 * c)
			}
			if l2 > 15 {
				l2 -= 16
				qh[l] |= 2 << (2 * c)
			}
			qs[32*c+l] = l1 | l2<<4
		}
	}
}

func quantQ6_K(dst []byte, x []float32) {
	var L [256]int8
	var scales [16]float32
	var maxScale, maxAbs float32
	for ib := range 16 {
		scales[ib] = makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16], nil)
		if a := abs32(scales[ib]); a > maxAbs {
			maxAbs, maxScale = a, scales[ib]
		}
	}
	if maxAbs < groupMaxEps {
		clear(dst)
		return
	}
	iscale := -128 / maxScale
	putHalf(dst[208:], 1/iscale)
	d := halfAt(dst, 208)
	sc := dst[192:208]
	for ib := range 16 {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	for j := range 16 {
		dj := d * float32(int8(sc[j]))
		if dj == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = int8(clampInt(nearestInt(v/dj), -32, 31) + 32)
		}
	}
	ql, qh := dst[0:128], dst[128:192]
	for n := range 2 {
		for l := range 32 {
			b := 128 * n
			q1, q2, q3, q4 := uint8(L[b+l]), uint8(L[b+l+32]), uint8(L[b+l+64]), uint8(L[b+l+96])
			ql[64*n+l] = q1&15 | (q3&15)<<4
			ql[64*n+32+l] = q2&15 | (q4&15)<<4
			qh[32*n+l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}

// bestIndexIQ4 returns the index of the IQ4 level nearest to v (ties to the
// upper level), ggml's best_index_int8.
func bestIndexIQ4(v float32) int {
	if v <= float32(iq4Values[0]) {
		return 0
	}
	if v >= float32(iq4Values[15]) {
		return 15
	}
	lo, hi := 0, 15
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if v < float32(iq4Values[mid]) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if v-float32(iq4Values[hi-1]) < float32(iq4Values[hi])-v {
		return hi - 1
	}
	return hi
}

// iq4Scale fits one sub-block of 32 (ggml's quantize_row_iq4_nl_impl inner
// loop without an importance matrix: weights x²). It returns the scale and
// writes the levels (indices into iq4Values) to L.
func iq4Scale(x []float32, L []uint8, ntry int) float32 {
	max, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	v0 := float32(iq4Values[0])
	d := max / v0
	if ntry > 0 {
		d = -max / v0
	}
	id := 1 / d
	var sumqx, sumq2 float32
	for j, v := range x {
		l := bestIndexIQ4(id * v)
		L[j] = uint8(l)
		q, w := float32(iq4Values[l]), v*v
		sumqx += float32(w*q) * v
		sumq2 += float32(w*q) * q
	}
	d = sumqx / sumq2
	best := d * sumqx
	for itry := -ntry; itry <= ntry; itry++ {
		id = float32(itry+int(iq4Values[0])) / max
		sumqx, sumq2 = 0, 0
		for _, v := range x {
			q, w := float32(iq4Values[bestIndexIQ4(id*v)]), v*v
			sumqx += float32(w*q) * v
			sumq2 += float32(w*q) * q
		}
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			d = sumqx / sumq2
			best = d * sumqx
		}
	}
	return d
}

// packIQ4 stores 32 levels per 16 bytes in Q4_0 nibble order.
func packIQ4(qs []byte, L []uint8) {
	for i := range len(L) / 32 {
		for j := range 16 {
			qs[16*i+j] = L[32*i+j] | L[32*i+16+j]<<4
		}
	}
}

func quantIQ4_NL(dst []byte, x []float32) {
	const ntry = 7
	var L [32]uint8
	s := iq4Scale(x, L[:], ntry)
	putHalf(dst, s)
	var id float32
	if s != 0 {
		id = 1 / s
	}
	for j, v := range x {
		L[j] = uint8(bestIndexIQ4(id * v))
	}
	packIQ4(dst[2:18], L[:])
}

func quantIQ4_XS(dst []byte, x []float32) {
	const ntry = 7
	var L [256]uint8
	var scales [8]float32
	var maxScale, amaxScale float32
	for ib := range 8 {
		scales[ib] = iq4Scale(x[32*ib:32*ib+32], L[32*ib:32*ib+32], ntry)
		if a := abs32(scales[ib]); a > amaxScale {
			amaxScale, maxScale = a, scales[ib]
		}
	}
	d := -maxScale / 32
	putHalf(dst, d)
	var id float32
	if d != 0 {
		id = 1 / d
	}
	sl := dst[4:8]
	clear(sl)
	var sh uint16
	for ib := range 8 {
		l := clampInt(nearestInt(id*scales[ib]), -32, 31)
		dl := d * float32(l)
		var idl float32
		if dl != 0 {
			idl = 1 / dl
		}
		for j, v := range x[32*ib : 32*ib+32] {
			L[32*ib+j] = uint8(bestIndexIQ4(idl * v))
		}
		l += 32
		sl[ib/2] |= uint8(l&15) << (4 * (ib % 2))
		sh |= uint16(l>>4) << (2 * ib)
	}
	binary.LittleEndian.PutUint16(dst[2:], sh)
	packIQ4(dst[8:136], L[:])
}
