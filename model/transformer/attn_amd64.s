//go:build !purego

#include "textflag.h"

// Flash-attention kernels (AVX2, FMA, F16C) for one query head; the Go
// wrappers in attn_amd64.go check the sizes. They reproduce ggml's AVX2
// ggml_vec_dot_f16, ggml_vec_scale_f16 and ggml_vec_mad_f16 bit for bit.

// func attnScoresAVX2(q *float32, k *uint16, stride, n, hd int, out *float32)
// out[c] = q · k[c·stride : c·stride+hd] for c < n, hd a multiple of 32:
// 32 products per step into four 8-lane sums (products of fp16 values are
// exact, so FMA equals multiply-then-add), reduced as GGML_F32x8_REDUCE.
TEXT ·attnScoresAVX2(SB), NOSPLIT, $0-48
	MOVQ q+0(FP), SI
	MOVQ k+8(FP), DI
	MOVQ stride+16(FP), R8
	SHLQ $1, R8              // stride in bytes
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), R9
	SHLQ $1, R9              // hd in key bytes
	MOVQ out+40(FP), DX
	TESTQ CX, CX
	JZ   sdone

scell:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX              // byte offset into the key
	MOVQ SI, BX              // query pointer
sstep:
	VCVTPH2PS 0(DI)(AX*1), Y4
	VCVTPH2PS 16(DI)(AX*1), Y5
	VCVTPH2PS 32(DI)(AX*1), Y6
	VCVTPH2PS 48(DI)(AX*1), Y7
	VFMADD231PS 0(BX), Y4, Y0
	VFMADD231PS 32(BX), Y5, Y1
	VFMADD231PS 64(BX), Y6, Y2
	VFMADD231PS 96(BX), Y7, Y3
	ADDQ $64, AX
	ADDQ $128, BX
	CMPQ AX, R9
	JB   sstep

	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ R8, DI
	DECQ CX
	JNZ  scell
sdone:
	VZEROUPPER
	RET

DATA one32<>+0(SB)/4, $0x3f800000
GLOBL one32<>(SB), RODATA|NOPTR, $4

// RND rounds the float32 lanes of y to fp16 and back (x is y's low half).
#define RND(y, x) \
	VCVTPS2PH $0, y, x \
	VCVTPH2PS x, y

// MAD: acc = fp16(v·w + acc) for the 8 fp16 values at off(BX), w in Y12.
#define MAD(off, acc, xacc, tmp) \
	VCVTPH2PS   off(BX), tmp \
	VFMADD231PS Y12, tmp, acc \
	RND(acc, xacc)

// SCALE: acc = fp16(acc·ms), ms in Y13.
#define SCALE(acc, xacc) \
	VMULPS Y13, acc, acc \
	RND(acc, xacc)

// func attnAccumAVX2(acc *float32, v *uint16, stride, n, hd int, w, ms *float32)
// For every cell c < n: acc = fp16(acc·ms[c]) unless ms[c] = 1, then
// acc = fp16(v_c·w[c] + acc) (one FMA), with v_c = v[c·stride :
// c·stride+hd]; acc holds hd fp16-exact values, hd a multiple of 32. The
// dimensions go 64 (or 32) at a time, all cells each, so that 8 (or 4)
// independent rounding chains overlap.
TEXT ·attnAccumAVX2(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), SI
	MOVQ v+8(FP), DI
	MOVQ stride+16(FP), R8
	SHLQ $1, R8
	MOVQ n+24(FP), R10
	MOVQ hd+32(FP), R9
	MOVQ w+40(FP), R11
	MOVQ ms+48(FP), R12
	VMOVSS one32<>(SB), X14
	TESTQ R10, R10
	JZ   adone

achunk:
	CMPQ R9, $64
	JLT  achunk32
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS 128(SI), Y4
	VMOVUPS 160(SI), Y5
	VMOVUPS 192(SI), Y6
	VMOVUPS 224(SI), Y7
	MOVQ DI, BX
	XORQ CX, CX
acell64:
	VMOVSS (R12)(CX*4), X13
	VUCOMISS X14, X13
	JNE  ascale64
	JNP  amad64
ascale64:
	VBROADCASTSS X13, Y13
	SCALE(Y0, X0)
	SCALE(Y1, X1)
	SCALE(Y2, X2)
	SCALE(Y3, X3)
	SCALE(Y4, X4)
	SCALE(Y5, X5)
	SCALE(Y6, X6)
	SCALE(Y7, X7)
amad64:
	VBROADCASTSS (R11)(CX*4), Y12
	MAD(0, Y0, X0, Y8)
	MAD(16, Y1, X1, Y9)
	MAD(32, Y2, X2, Y10)
	MAD(48, Y3, X3, Y11)
	MAD(64, Y4, X4, Y8)
	MAD(80, Y5, X5, Y9)
	MAD(96, Y6, X6, Y10)
	MAD(112, Y7, X7, Y11)
	ADDQ R8, BX
	INCQ CX
	CMPQ CX, R10
	JB   acell64
	VMOVUPS Y0, 0(SI)
	VMOVUPS Y1, 32(SI)
	VMOVUPS Y2, 64(SI)
	VMOVUPS Y3, 96(SI)
	VMOVUPS Y4, 128(SI)
	VMOVUPS Y5, 160(SI)
	VMOVUPS Y6, 192(SI)
	VMOVUPS Y7, 224(SI)
	ADDQ $256, SI
	ADDQ $128, DI
	SUBQ $64, R9
	JNZ  achunk
	JMP  adone

achunk32:                    // the last 32 dimensions
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	MOVQ DI, BX
	XORQ CX, CX
acell32:
	VMOVSS (R12)(CX*4), X13
	VUCOMISS X14, X13
	JNE  ascale32
	JNP  amad32
ascale32:
	VBROADCASTSS X13, Y13
	SCALE(Y0, X0)
	SCALE(Y1, X1)
	SCALE(Y2, X2)
	SCALE(Y3, X3)
amad32:
	VBROADCASTSS (R11)(CX*4), Y12
	MAD(0, Y0, X0, Y8)
	MAD(16, Y1, X1, Y9)
	MAD(32, Y2, X2, Y10)
	MAD(48, Y3, X3, Y11)
	ADDQ R8, BX
	INCQ CX
	CMPQ CX, R10
	JB   acell32
	VMOVUPS Y0, 0(SI)
	VMOVUPS Y1, 32(SI)
	VMOVUPS Y2, 64(SI)
	VMOVUPS Y3, 96(SI)
adone:
	VZEROUPPER
	RET
