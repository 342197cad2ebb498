//go:build !purego

#include "textflag.h"

// expAVX2 constants (float64): log2(e), ln 2 split in a high part exact in
// 32 bits and the rest, the clamp below which e^x is 0 in float32, and the
// Taylor coefficients 1/k! for k = 13 … 2.
DATA expc<>+0(SB)/8, $1.4426950408889634
DATA expc<>+8(SB)/8, $0.6931471803691238
DATA expc<>+16(SB)/8, $1.9082149292705877e-10
DATA expc<>+24(SB)/8, $-110.0
DATA expc<>+32(SB)/8, $1.6059043836821613e-10
DATA expc<>+40(SB)/8, $2.08767569878681e-09
DATA expc<>+48(SB)/8, $2.505210838544172e-08
DATA expc<>+56(SB)/8, $2.755731922398589e-07
DATA expc<>+64(SB)/8, $2.7557319223985893e-06
DATA expc<>+72(SB)/8, $2.48015873015873e-05
DATA expc<>+80(SB)/8, $0.0001984126984126984
DATA expc<>+88(SB)/8, $0.001388888888888889
DATA expc<>+96(SB)/8, $0.008333333333333333
DATA expc<>+104(SB)/8, $0.041666666666666664
DATA expc<>+112(SB)/8, $0.16666666666666666
DATA expc<>+120(SB)/8, $0.5
DATA expc<>+128(SB)/8, $1.0
DATA expc<>+136(SB)/8, $1023
GLOBL expc<>(SB), RODATA|NOPTR, $144

// func expAVX2(dst, src *float32, n int)
// dst[i] = e^src[i] for i < n (a positive multiple of 4), src[i] ≤ 0 or
// not far above: each value is widened to float64, x = k·ln2 + r with
// |r| ≤ ln2/2, e^r by its Taylor series to r^13 (relative error < 1e-16),
// scaled by 2^k and rounded once to float32 — the float32 nearest to e^x
// except in cases ~1e-8 rare.
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD expc<>+0(SB), Y10  // log2 e
	VBROADCASTSD expc<>+8(SB), Y11  // ln2 hi
	VBROADCASTSD expc<>+16(SB), Y12 // ln2 lo
	VBROADCASTSD expc<>+24(SB), Y13 // clamp
	VBROADCASTSD expc<>+128(SB), Y14 // 1
	VPBROADCASTQ expc<>+136(SB), Y15 // 1023 (int64)
eloop:
	VCVTPS2PD (SI), Y0
	VMAXPD Y13, Y0, Y0
	VMULPD Y10, Y0, Y1
	VROUNDPD $0, Y1, Y1             // k
	VMOVAPD Y0, Y2
	VFNMADD231PD Y11, Y1, Y2         // r = x − k·ln2hi
	VFNMADD231PD Y12, Y1, Y2         // r −= k·ln2lo
	VBROADCASTSD expc<>+32(SB), Y3
	VBROADCASTSD expc<>+40(SB), Y4
	VFMADD213PD Y4, Y2, Y3           // p = p·r + c
	VBROADCASTSD expc<>+48(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+56(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+64(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+72(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+80(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+88(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+96(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+104(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+112(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VBROADCASTSD expc<>+120(SB), Y4
	VFMADD213PD Y4, Y2, Y3
	VFMADD213PD Y14, Y2, Y3          // · r + 1
	VFMADD213PD Y14, Y2, Y3          // · r + 1: e^r
	VCVTPD2DQY Y1, X5                // k as int32
	VPMOVSXDQ X5, Y5
	VPADDQ Y15, Y5, Y5
	VPSLLQ $52, Y5, Y5               // 2^k
	VMULPD Y5, Y3, Y3
	VCVTPD2PSY Y3, X3
	VMOVUPS X3, (DI)
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $4, CX
	JNZ  eloop
	VZEROUPPER
	RET
