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

// func attnAccumAVX2(acc *float32, v *uint16, stride, n, hd int, w, ms *float32)
// For every cell c < n: acc = fp16(acc·ms[c]), then acc = fp16(v_c·w[c] + acc)
// (one FMA), with v_c = v[c·stride : c·stride+hd]; acc holds hd fp16-exact
// values, hd a multiple of 32. ms[c] = 1 leaves acc unchanged.
TEXT ·attnAccumAVX2(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), SI
	MOVQ v+8(FP), DI
	MOVQ stride+16(FP), R8
	SHLQ $1, R8
	MOVQ n+24(FP), R10
	MOVQ hd+32(FP), R9
	MOVQ w+40(FP), R11
	MOVQ ms+48(FP), R12
	TESTQ R10, R10
	JZ   adone

achunk:                      // 32 dimensions at a time, all cells
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	MOVQ DI, BX              // cell pointer
	XORQ CX, CX              // cell index
acell:
	VBROADCASTSS (R12)(CX*4), Y8
	VBROADCASTSS (R11)(CX*4), Y9
	VMULPS Y8, Y0, Y0
	VMULPS Y8, Y1, Y1
	VMULPS Y8, Y2, Y2
	VMULPS Y8, Y3, Y3
	VCVTPS2PH $0, Y0, X0
	VCVTPS2PH $0, Y1, X1
	VCVTPS2PH $0, Y2, X2
	VCVTPS2PH $0, Y3, X3
	VCVTPH2PS X0, Y0
	VCVTPH2PS X1, Y1
	VCVTPH2PS X2, Y2
	VCVTPH2PS X3, Y3
	VCVTPH2PS 0(BX), Y4
	VCVTPH2PS 16(BX), Y5
	VCVTPH2PS 32(BX), Y6
	VCVTPH2PS 48(BX), Y7
	VFMADD231PS Y9, Y4, Y0
	VFMADD231PS Y9, Y5, Y1
	VFMADD231PS Y9, Y6, Y2
	VFMADD231PS Y9, Y7, Y3
	VCVTPS2PH $0, Y0, X0
	VCVTPS2PH $0, Y1, X1
	VCVTPS2PH $0, Y2, X2
	VCVTPS2PH $0, Y3, X3
	VCVTPH2PS X0, Y0
	VCVTPH2PS X1, Y1
	VCVTPH2PS X2, Y2
	VCVTPH2PS X3, Y3
	ADDQ R8, BX
	INCQ CX
	CMPQ CX, R10
	JB   acell

	VMOVUPS Y0, 0(SI)
	VMOVUPS Y1, 32(SI)
	VMOVUPS Y2, 64(SI)
	VMOVUPS Y3, 96(SI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, R9
	JNZ  achunk
adone:
	VZEROUPPER
	RET
