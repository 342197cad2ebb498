//go:build !purego

#include "textflag.h"

// Four-token kernels for CPUs with AVX-512 VNNI (+VL): VPDPBUSD multiplies
// unsigned by signed bytes and sums four products per int32 lane in one
// instruction. The weights are made unsigned (w + 128, an XOR with 0x80);
// each token's accumulator starts at −128 × its lane sums of activations
// (acts.gcorr), so the integer result is exactly Σ w·a, as on AVX2.

DATA v80<>+0(SB)/8, $0x8080808080808080
DATA v80<>+8(SB)/8, $0x8080808080808080
DATA v80<>+16(SB)/8, $0x8080808080808080
DATA v80<>+24(SB)/8, $0x8080808080808080
GLOBL v80<>(SB), RODATA|NOPTR, $32

DATA v0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA v0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA v0f<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA v0f<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL v0f<>(SB), RODATA|NOPTR, $32

DATA v78<>+0(SB)/8, $0x7878787878787878
DATA v78<>+8(SB)/8, $0x7878787878787878
DATA v78<>+16(SB)/8, $0x7878787878787878
DATA v78<>+24(SB)/8, $0x7878787878787878
GLOBL v78<>(SB), RODATA|NOPTR, $32

// VTOKEN: token t's 32 products with the unsigned weights Y2, its scale
// d_w·d_a[t] (Y4 = d_w broadcast) applied into yacc.
#define VTOKEN(aoff, coff, doff, yacc) \
	VMOVDQU      coff(R8), Y3 \
	VPDPBUSD     aoff(DI), Y2, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VMULPS.BCST  doff(DX), Y4, Y5 \
	VFMADD231PS  Y3, Y5, yacc

#define VSUM4(y0, y1, y2, y3, x0) \
	VHADDPS      y1, y0, y0 \
	VHADDPS      y3, y2, y2 \
	VHADDPS      y2, y0, y0 \
	VEXTRACTF128 $1, y0, X1 \
	VADDPS       X1, x0, x0 \
	VMOVUPS      x0, (R12)

#define VWSCALE(off) \
	MOVWLZX      off(SI), AX \
	VMOVD        AX, X4 \
	VCVTPH2PS    X4, X4 \
	VBROADCASTSS X4, Y4

// func dotQ8_0VNNIx4(w *byte, q *int8, d *float32, corr *int32, nb int, out *float32)
TEXT ·dotQ8_0VNNIx4(SB), NOSPLIT, $0-48
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    corr+24(FP), R8
	MOVQ    nb+32(FP), CX
	MOVQ    out+40(FP), R12
	VXORPS  Y0, Y0, Y0
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	VMOVDQU v80<>(SB), Y15

q80vloop:
	PREFETCHT0 1024(SI)
	VMOVDQU    2(SI), Y2
	VPXOR      Y15, Y2, Y2
	VWSCALE(0)
	VTOKEN(0, 0, 0, Y0)
	VTOKEN(32, 32, 4, Y6)
	VTOKEN(64, 64, 8, Y7)
	VTOKEN(96, 96, 12, Y8)
	ADDQ       $34, SI
	ADDQ       $128, DI
	ADDQ       $16, DX
	ADDQ       $128, R8
	DECQ       CX
	JNZ        q80vloop

	VSUM4(Y0, Y6, Y7, Y8, X0)
	VZEROUPPER
	RET

// func dotQ4_0VNNIx4(w *byte, q *int8, d *float32, corr *int32, nb int, out *float32)
// The nibbles n become the unsigned bytes (n − 8) + 128 = n + 120.
TEXT ·dotQ4_0VNNIx4(SB), NOSPLIT, $0-48
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    corr+24(FP), R8
	MOVQ    nb+32(FP), CX
	MOVQ    out+40(FP), R12
	VXORPS  Y0, Y0, Y0
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	VMOVDQU v0f<>(SB), Y14
	VMOVDQU v78<>(SB), Y15

q40vloop:
	PREFETCHT0  1024(SI)
	VMOVDQU     2(SI), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y14, Y2, Y2
	VPADDB      Y15, Y2, Y2
	VWSCALE(0)
	VTOKEN(0, 0, 0, Y0)
	VTOKEN(32, 32, 4, Y6)
	VTOKEN(64, 64, 8, Y7)
	VTOKEN(96, 96, 12, Y8)
	ADDQ        $18, SI
	ADDQ        $128, DI
	ADDQ        $16, DX
	ADDQ        $128, R8
	DECQ        CX
	JNZ         q40vloop

	VSUM4(Y0, Y6, Y7, Y8, X0)
	VZEROUPPER
	RET

// func dotQ8_0VNNIx4Z(w *byte, q *int8, dx *float32, corr *int32, nb int, out *float32)
// dotQ8_0VNNIx4 on 512-bit registers, two tokens per register: the
// weights are broadcast to both halves, tokens 0|1 and 2|3 take one
// VPDPBUSD each, and their scales come pre-expanded (acts.gdx: per block,
// d_a[0]×8, d_a[1]×8, d_a[2]×8, d_a[3]×8). Every lane computes what the
// same lane of dotQ8_0VNNIx4 computes, and the reduction is the same, so
// the results are bit-identical.
TEXT ·dotQ8_0VNNIx4Z(SB), NOSPLIT, $0-48
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    dx+16(FP), DX
	MOVQ    corr+24(FP), R8
	MOVQ    nb+32(FP), CX
	MOVQ    out+40(FP), R12
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VPBROADCASTD v80<>(SB), Z15

q80zloop:
	PREFETCHT0 1024(SI)
	VBROADCASTI32X8 2(SI), Z2
	VPXORD     Z15, Z2, Z2
	MOVWLZX    (SI), AX
	VMOVD      AX, X4
	VCVTPH2PS  X4, X4
	VBROADCASTSS X4, Z4
	VMOVDQU32  0(R8), Z3
	VPDPBUSD   0(DI), Z2, Z3
	VCVTDQ2PS  Z3, Z3
	VMULPS     0(DX), Z4, Z5
	VFMADD231PS Z3, Z5, Z0
	VMOVDQU32  64(R8), Z6
	VPDPBUSD   64(DI), Z2, Z6
	VCVTDQ2PS  Z6, Z6
	VMULPS     64(DX), Z4, Z7
	VFMADD231PS Z6, Z7, Z1
	ADDQ       $34, SI
	ADDQ       $128, DI
	ADDQ       $128, DX
	ADDQ       $128, R8
	DECQ       CX
	JNZ        q80zloop

	VEXTRACTF32X8 $1, Z0, Y6
	VEXTRACTF32X8 $1, Z1, Y8
	VMOVAPS    Y1, Y7
	VSUM4(Y0, Y6, Y7, Y8, X0)
	VZEROUPPER
	RET
