//go:build !purego

#include "textflag.h"

// AVX2 + FMA (+ F16C, present on every AVX2 CPU) dot-product kernels. Each
// computes one weight row against one converted activation row; the Go
// wrappers in kernels_amd64.go check lengths. Integer parts are exact
// (VPMADDUBSW pairs stay far below int16 saturation for these value ranges);
// per-block scales are applied with FMA into float32 lanes, as ggml does.

DATA mask0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mask0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mask0f<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mask0f<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL mask0f<>(SB), RODATA|NOPTR, $32

DATA mask30<>+0(SB)/8, $0x3030303030303030
DATA mask30<>+8(SB)/8, $0x3030303030303030
DATA mask30<>+16(SB)/8, $0x3030303030303030
DATA mask30<>+24(SB)/8, $0x3030303030303030
GLOBL mask30<>(SB), RODATA|NOPTR, $32

DATA bytes8<>+0(SB)/8, $0x0808080808080808
DATA bytes8<>+8(SB)/8, $0x0808080808080808
DATA bytes8<>+16(SB)/8, $0x0808080808080808
DATA bytes8<>+24(SB)/8, $0x0808080808080808
GLOBL bytes8<>(SB), RODATA|NOPTR, $32

DATA ones16<>+0(SB)/8, $0x0001000100010001
DATA ones16<>+8(SB)/8, $0x0001000100010001
DATA ones16<>+16(SB)/8, $0x0001000100010001
DATA ones16<>+24(SB)/8, $0x0001000100010001
GLOBL ones16<>(SB), RODATA|NOPTR, $32

// bcastw<>+32j: VPSHUFB control that broadcasts int16 word j of each
// 128-bit lane across the lane (j = 0..7).
DATA bcastw<>+0(SB)/8, $0x0100010001000100
DATA bcastw<>+8(SB)/8, $0x0100010001000100
DATA bcastw<>+16(SB)/8, $0x0100010001000100
DATA bcastw<>+24(SB)/8, $0x0100010001000100
DATA bcastw<>+32(SB)/8, $0x0302030203020302
DATA bcastw<>+40(SB)/8, $0x0302030203020302
DATA bcastw<>+48(SB)/8, $0x0302030203020302
DATA bcastw<>+56(SB)/8, $0x0302030203020302
DATA bcastw<>+64(SB)/8, $0x0504050405040504
DATA bcastw<>+72(SB)/8, $0x0504050405040504
DATA bcastw<>+80(SB)/8, $0x0504050405040504
DATA bcastw<>+88(SB)/8, $0x0504050405040504
DATA bcastw<>+96(SB)/8, $0x0706070607060706
DATA bcastw<>+104(SB)/8, $0x0706070607060706
DATA bcastw<>+112(SB)/8, $0x0706070607060706
DATA bcastw<>+120(SB)/8, $0x0706070607060706
DATA bcastw<>+128(SB)/8, $0x0908090809080908
DATA bcastw<>+136(SB)/8, $0x0908090809080908
DATA bcastw<>+144(SB)/8, $0x0908090809080908
DATA bcastw<>+152(SB)/8, $0x0908090809080908
DATA bcastw<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcastw<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcastw<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcastw<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcastw<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcastw<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcastw<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcastw<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcastw<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA bcastw<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA bcastw<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA bcastw<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL bcastw<>(SB), RODATA|NOPTR, $256

// pairb<>+16i: VPSHUFB control giving bytes [2i ×8, 2i+1 ×8] (i = 0..7):
// the two int8 scales of a 32-element Q6_K group, each spread over its 16.
DATA pairb<>+0(SB)/8, $0x0000000000000000
DATA pairb<>+8(SB)/8, $0x0101010101010101
DATA pairb<>+16(SB)/8, $0x0202020202020202
DATA pairb<>+24(SB)/8, $0x0303030303030303
DATA pairb<>+32(SB)/8, $0x0404040404040404
DATA pairb<>+40(SB)/8, $0x0505050505050505
DATA pairb<>+48(SB)/8, $0x0606060606060606
DATA pairb<>+56(SB)/8, $0x0707070707070707
DATA pairb<>+64(SB)/8, $0x0808080808080808
DATA pairb<>+72(SB)/8, $0x0909090909090909
DATA pairb<>+80(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA pairb<>+88(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA pairb<>+96(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA pairb<>+104(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA pairb<>+112(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA pairb<>+120(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL pairb<>(SB), RODATA|NOPTR, $128

// HSUM8 reduces the 8 float32 lanes of Y0 into X0 (lane 0).
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VHADDPS      X0, X0, X0

// HALFSCALE loads the fp16 at off(SI), widens it and multiplies it by the
// float32 at (DX), leaving the product broadcast in ydst (xdst its low half).
#define HALFSCALE(off, xdst, ydst) \
	MOVWLZX      off(SI), AX \
	VMOVD        AX, xdst \
	VCVTPH2PS    xdst, xdst \
	VMULSS       (DX), xdst, xdst \
	VBROADCASTSS xdst, ydst

// func dotF32AVX2(w *byte, x *float32, n int) float32
// n is a positive multiple of 32.
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

f32loop:
	PREFETCHT0  1024(SI)
	PREFETCHT0  1088(SI)
	VMOVUPS     (SI), Y1
	VMOVUPS     32(SI), Y2
	VMOVUPS     64(SI), Y3
	VMOVUPS     96(SI), Y4
	VFMADD231PS (DI), Y1, Y0
	VFMADD231PS 32(DI), Y2, Y5
	VFMADD231PS 64(DI), Y3, Y6
	VFMADD231PS 96(DI), Y4, Y7
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JNZ         f32loop

	VADDPS Y5, Y0, Y0
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y0, Y0
	HSUM8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotF16AVX2(w *byte, x *float32, n int) float32
// n is a positive multiple of 32.
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

f16loop:
	PREFETCHT0  1024(SI)
	VCVTPH2PS   (SI), Y1
	VCVTPH2PS   16(SI), Y2
	VCVTPH2PS   32(SI), Y3
	VCVTPH2PS   48(SI), Y4
	VFMADD231PS (DI), Y1, Y0
	VFMADD231PS 32(DI), Y2, Y5
	VFMADD231PS 64(DI), Y3, Y6
	VFMADD231PS 96(DI), Y4, Y7
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JNZ         f16loop

	VADDPS Y5, Y0, Y0
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y0, Y0
	HSUM8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// Q8BLOCK multiplies the signed bytes in yw by the 32 activations at
// aoff(DI) and accumulates scale(ys)·Σ into yacc. Clobbers yt1, yt2.
#define Q8BLOCK(yw, aoff, yt1, yt2, ys, yacc) \
	VMOVDQU     aoff(DI), yt2 \
	VPSIGNB     yw, yw, yt1 \
	VPSIGNB     yw, yt2, yt2 \
	VPMADDUBSW  yt2, yt1, yt1 \
	VPMADDWD    Y15, yt1, yt1 \
	VCVTDQ2PS   yt1, yt1 \
	VFMADD231PS yt1, ys, yacc

// func dotQ8_0RowsAVX2(w *byte, q *int8, d *float32, nb int, out *float32, rows int)
// rows ≥ 1 consecutive weight rows of nb ≥ 1 blocks of 34 bytes, each
// against the same nb×32 int8 and nb scales; row r's dot product goes to
// out[r]. Each row is computed exactly as a row on its own.
TEXT ·dotQ8_0RowsAVX2(SB), NOSPLIT, $32-48
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), R8
	MOVQ    d+16(FP), R9
	MOVQ    nb+24(FP), R10
	MOVQ    out+32(FP), R11
	MOVQ    rows+40(FP), R12
	VMOVDQU ones16<>(SB), Y15

q80row:
	MOVQ    R8, DI
	MOVQ    R9, DX
	MOVQ    R10, CX
	VXORPS  Y0, Y0, Y0
	VXORPS  Y8, Y8, Y8
	CMPQ    CX, $8
	JLT     q80pairs

	// Eight blocks at a time: their scales are gathered, widened and
	// multiplied by the activation scales in one go, then kept on the stack.
q80oct:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	PREFETCHT0 1280(SI)
	MOVWLZX    (SI), AX
	VMOVD      AX, X6
	VPINSRW    $1, 34(SI), X6, X6
	VPINSRW    $2, 68(SI), X6, X6
	VPINSRW    $3, 102(SI), X6, X6
	VPINSRW    $4, 136(SI), X6, X6
	VPINSRW    $5, 170(SI), X6, X6
	VPINSRW    $6, 204(SI), X6, X6
	VPINSRW    $7, 238(SI), X6, X6
	VCVTPH2PS  X6, Y6
	VMULPS     (DX), Y6, Y6
	VMOVUPS    Y6, (SP)
	VMOVDQU    2(SI), Y1
	VBROADCASTSS 0(SP), Y5
	Q8BLOCK(Y1, 0, Y3, Y4, Y5, Y0)
	VMOVDQU    36(SI), Y9
	VBROADCASTSS 4(SP), Y13
	Q8BLOCK(Y9, 32, Y11, Y12, Y13, Y8)
	VMOVDQU    70(SI), Y1
	VBROADCASTSS 8(SP), Y5
	Q8BLOCK(Y1, 64, Y3, Y4, Y5, Y0)
	VMOVDQU    104(SI), Y9
	VBROADCASTSS 12(SP), Y13
	Q8BLOCK(Y9, 96, Y11, Y12, Y13, Y8)
	VMOVDQU    138(SI), Y1
	VBROADCASTSS 16(SP), Y5
	Q8BLOCK(Y1, 128, Y3, Y4, Y5, Y0)
	VMOVDQU    172(SI), Y9
	VBROADCASTSS 20(SP), Y13
	Q8BLOCK(Y9, 160, Y11, Y12, Y13, Y8)
	VMOVDQU    206(SI), Y1
	VBROADCASTSS 24(SP), Y5
	Q8BLOCK(Y1, 192, Y3, Y4, Y5, Y0)
	VMOVDQU    240(SI), Y9
	VBROADCASTSS 28(SP), Y13
	Q8BLOCK(Y9, 224, Y11, Y12, Y13, Y8)
	ADDQ       $272, SI
	ADDQ       $256, DI
	ADDQ       $32, DX
	SUBQ       $8, CX
	CMPQ       CX, $8
	JGE        q80oct

q80pairs:
	CMPQ    CX, $2
	JLT     q80tail

q80loop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	VMOVDQU 2(SI), Y1
	HALFSCALE(0, X5, Y5)
	Q8BLOCK(Y1, 0, Y3, Y4, Y5, Y0)
	ADDQ    $4, DX
	VMOVDQU 36(SI), Y9
	HALFSCALE(34, X13, Y13)
	Q8BLOCK(Y9, 32, Y11, Y12, Y13, Y8)
	ADDQ    $4, DX
	ADDQ    $68, SI
	ADDQ    $64, DI
	SUBQ    $2, CX
	CMPQ    CX, $2
	JGE     q80loop

q80tail:
	TESTQ   CX, CX
	JEQ     q80done
	VMOVDQU 2(SI), Y1
	HALFSCALE(0, X5, Y5)
	Q8BLOCK(Y1, 0, Y3, Y4, Y5, Y0)
	ADDQ    $34, SI

q80done:
	VADDPS Y8, Y0, Y0
	HSUM8
	VMOVSS X0, (R11)
	ADDQ   $4, R11
	DECQ   R12
	JNZ    q80row
	VZEROUPPER
	RET

// Q4NIBBLES expands the 16 bytes at off(SI) into 32 signed values q−8 in
// ydst (low nibbles first, Q4_0 order). Uses Y14 (0x0F) and Y13 (8).
#define Q4NIBBLES(off, xdst, ydst, xt) \
	VMOVDQU     off(SI), xdst \
	VPSRLW      $4, xdst, xt \
	VINSERTI128 $1, xt, ydst, ydst \
	VPAND       Y14, ydst, ydst \
	VPSUBB      Y13, ydst, ydst

// func dotQ4_0AVX2(w *byte, q *int8, d *float32, nb int) float32
// nb ≥ 1 blocks of 18 bytes against nb×32 int8 and nb scales.
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $32-36
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    nb+24(FP), CX
	VXORPS  Y0, Y0, Y0
	VXORPS  Y8, Y8, Y8
	VMOVDQU ones16<>(SB), Y15
	VMOVDQU mask0f<>(SB), Y14
	VMOVDQU bytes8<>(SB), Y13
	CMPQ    CX, $8
	JLT     q40pairs

q40oct:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	MOVWLZX    (SI), AX
	VMOVD      AX, X6
	VPINSRW    $1, 18(SI), X6, X6
	VPINSRW    $2, 36(SI), X6, X6
	VPINSRW    $3, 54(SI), X6, X6
	VPINSRW    $4, 72(SI), X6, X6
	VPINSRW    $5, 90(SI), X6, X6
	VPINSRW    $6, 108(SI), X6, X6
	VPINSRW    $7, 126(SI), X6, X6
	VCVTPH2PS  X6, Y6
	VMULPS     (DX), Y6, Y6
	VMOVUPS    Y6, (SP)
	Q4NIBBLES(2, X1, Y1, X2)
	VBROADCASTSS 0(SP), Y5
	Q8BLOCK(Y1, 0, Y3, Y4, Y5, Y0)
	Q4NIBBLES(20, X9, Y9, X10)
	VBROADCASTSS 4(SP), Y6
	Q8BLOCK(Y9, 32, Y11, Y12, Y6, Y8)
	Q4NIBBLES(38, X1, Y1, X2)
	VBROADCASTSS 8(SP), Y5
	Q8BLOCK(Y1, 64, Y3, Y4, Y5, Y0)
	Q4NIBBLES(56, X9, Y9, X10)
	VBROADCASTSS 12(SP), Y6
	Q8BLOCK(Y9, 96, Y11, Y12, Y6, Y8)
	Q4NIBBLES(74, X1, Y1, X2)
	VBROADCASTSS 16(SP), Y5
	Q8BLOCK(Y1, 128, Y3, Y4, Y5, Y0)
	Q4NIBBLES(92, X9, Y9, X10)
	VBROADCASTSS 20(SP), Y6
	Q8BLOCK(Y9, 160, Y11, Y12, Y6, Y8)
	Q4NIBBLES(110, X1, Y1, X2)
	VBROADCASTSS 24(SP), Y5
	Q8BLOCK(Y1, 192, Y3, Y4, Y5, Y0)
	Q4NIBBLES(128, X9, Y9, X10)
	VBROADCASTSS 28(SP), Y6
	Q8BLOCK(Y9, 224, Y11, Y12, Y6, Y8)
	ADDQ       $144, SI
	ADDQ       $256, DI
	ADDQ       $32, DX
	SUBQ       $8, CX
	CMPQ       CX, $8
	JGE        q40oct

q40pairs:
	CMPQ    CX, $2
	JLT     q40tail

q40loop:
	PREFETCHT0 1024(SI)
	Q4NIBBLES(2, X1, Y1, X2)
	HALFSCALE(0, X5, Y5)
	Q8BLOCK(Y1, 0, Y3, Y4, Y5, Y0)
	ADDQ    $4, DX
	Q4NIBBLES(20, X9, Y9, X10)
	HALFSCALE(18, X6, Y6)
	Q8BLOCK(Y9, 32, Y11, Y12, Y6, Y8)
	ADDQ    $4, DX
	ADDQ    $36, SI
	ADDQ    $64, DI
	SUBQ    $2, CX
	CMPQ    CX, $2
	JGE     q40loop

q40tail:
	TESTQ   CX, CX
	JEQ     q40done
	Q4NIBBLES(2, X1, Y1, X2)
	HALFSCALE(0, X5, Y5)
	Q8BLOCK(Y1, 0, Y3, Y4, Y5, Y0)

q40done:
	VADDPS Y8, Y0, Y0
	HSUM8
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// Q4KCHUNK handles 64 elements of a Q4_K block: the 32 bytes at woff(SI)
// hold sub-block j's values in the low nibbles and j+1's in the high ones;
// each 32 is multiplied by its activations and weighted by its scale, whose
// broadcast comes from bcastw<> applied to Y6 (the 8 scales as int16, in
// both lanes). The int32 sums accumulate in Y10.
#define Q4KCHUNK(woff, aoff0, aoff1, mj0, mj1) \
	VMOVDQU    woff(SI), Y1 \
	VPSRLW     $4, Y1, Y2 \
	VPAND      Y15, Y1, Y1 \
	VPAND      Y15, Y2, Y2 \
	VPMADDUBSW aoff0(DI), Y1, Y1 \
	VPMADDUBSW aoff1(DI), Y2, Y2 \
	VPSHUFB    bcastw<>+mj0(SB), Y6, Y3 \
	VPSHUFB    bcastw<>+mj1(SB), Y6, Y4 \
	VPMADDWD   Y3, Y1, Y1 \
	VPMADDWD   Y4, Y2, Y2 \
	VPADDD     Y1, Y10, Y10 \
	VPADDD     Y2, Y10, Y10

// func dotQ4_KRowsAVX2(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32, rows int)
// rows ≥ 1 consecutive weight rows of nb ≥ 1 blocks of 144 bytes, each
// against the same nb×256 int8, nb scales and nb×16 sums of 16
// activations; row r's dot product goes to out[r].
TEXT ·dotQ4_KRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), R12
	MOVQ    d+16(FP), R13
	MOVQ    bs+24(FP), R14
	VMOVDQU mask0f<>(SB), Y15

q4krow:
	MOVQ    R12, DI
	MOVQ    R13, DX
	MOVQ    R14, BX
	MOVQ    nb+32(FP), CX
	VXORPS  Y0, Y0, Y0
	VXORPS  X12, X12, X12

q4kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	// Unpack the 12-byte scales (spec §2.3): sc0..3 = b0..3 & 63,
	// sc4..7 = lo(b8..11) | (b0..3 >> 6) << 4, m0..3 = b4..7 & 63,
	// m4..7 = hi(b8..11) | (b4..7 >> 6) << 4, four bytes at a time.
	MOVL  4(SI), AX
	MOVL  8(SI), R8
	MOVL  12(SI), R9
	MOVL  AX, R10
	ANDL  $0x3f3f3f3f, R10
	MOVL  R9, R11
	ANDL  $0x0f0f0f0f, R11
	SHRL  $6, AX
	ANDL  $0x03030303, AX
	SHLL  $4, AX
	ORL   AX, R11
	SHLQ  $32, R11
	ORQ   R10, R11
	VMOVQ R11, X6
	MOVL  R8, R10
	ANDL  $0x3f3f3f3f, R10
	SHRL  $4, R9
	ANDL  $0x0f0f0f0f, R9
	SHRL  $6, R8
	ANDL  $0x03030303, R8
	SHLL  $4, R8
	ORL   R8, R9
	SHLQ  $32, R9
	ORQ   R10, R9
	VMOVQ R9, X7

	// Mins: Σ_j m_j·(bs[2j] + bs[2j+1]), scaled by dmin·d_a, accumulated in X12.
	VPMOVZXBW   X7, X7
	VMOVDQU     (BX), X8
	VMOVDQU     16(BX), X9
	VPHADDW     X9, X8, X8
	VPMADDWD    X8, X7, X7
	VCVTDQ2PS   X7, X7
	HALFSCALE(2, X5, Y5)
	VFMADD231PS X7, X5, X12

	VPMOVZXBW   X6, X6
	VINSERTI128 $1, X6, Y6, Y6
	VPXOR       Y10, Y10, Y10
	Q4KCHUNK(16, 0, 32, 0, 32)
	Q4KCHUNK(48, 64, 96, 64, 96)
	Q4KCHUNK(80, 128, 160, 128, 160)
	Q4KCHUNK(112, 192, 224, 192, 224)
	VCVTDQ2PS   Y10, Y10
	HALFSCALE(0, X4, Y4)
	VFMADD231PS Y10, Y4, Y0

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q4kloop

	HSUM8
	VHADDPS X12, X12, X12
	VHADDPS X12, X12, X12
	VSUBSS  X12, X0, X0
	MOVQ    out+40(FP), AX
	VMOVSS  X0, (AX)
	ADDQ    $4, out+40(FP)
	DECQ    rows+48(FP)
	JNZ     q4krow
	VZEROUPPER
	RET

// Q6KGROUP finishes one group of 32 six-bit values in Y4 (0..63): multiply by
// the activations at aoff(DI), weight each 16 by its int8 scale (pairb<>
// entry m applied to X12, the block's 16 scales) and add into Y10.
#define Q6KGROUP(aoff, m) \
	VPMADDUBSW aoff(DI), Y4, Y4 \
	VPSHUFB    pairb<>+m(SB), X12, X5 \
	VPMOVSXBW  X5, Y5 \
	VPMADDWD   Y5, Y4, Y4 \
	VPADDD     Y4, Y10, Y10

// Q6KHALF handles 128 elements: ql at qloff(SI) (64 bytes), qh at
// qhoff(SI) (32 bytes), activations from aoff(DI), scale pairs m0..m0+3.
#define Q6KHALF(qloff, qloff2, qhoff, a0, a1, a2, a3, m0, m1, m2, m3) \
	VMOVDQU qloff(SI), Y1 \
	VMOVDQU qloff2(SI), Y2 \
	VMOVDQU qhoff(SI), Y3 \
	VPAND   Y15, Y1, Y4 \
	VPSLLW  $4, Y3, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(a0, m0) \
	VPAND   Y15, Y2, Y4 \
	VPSLLW  $2, Y3, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(a1, m1) \
	VPSRLW  $4, Y1, Y4 \
	VPAND   Y15, Y4, Y4 \
	VPAND   Y14, Y3, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(a2, m2) \
	VPSRLW  $4, Y2, Y4 \
	VPAND   Y15, Y4, Y4 \
	VPSRLW  $2, Y3, Y5 \
	VPAND   Y14, Y5, Y5 \
	VPOR    Y5, Y4, Y4 \
	Q6KGROUP(a3, m3)

// func dotQ6_KRowsAVX2(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32, rows int)
// rows ≥ 1 consecutive weight rows of nb ≥ 1 blocks of 210 bytes, each
// against the same nb×256 int8, nb scales and nb×16 sums of 16
// activations; row r's dot product goes to out[r]. The −32 offset of the
// quants is applied through the sums: Σ(q−32)·a = Σq·a − 32·Σa.
TEXT ·dotQ6_KRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), R8
	MOVQ    d+16(FP), R9
	MOVQ    bs+24(FP), R10
	MOVQ    nb+32(FP), R13
	MOVQ    out+40(FP), R11
	MOVQ    rows+48(FP), R12
	VMOVDQU mask0f<>(SB), Y15
	VMOVDQU mask30<>(SB), Y14

q6krow:
	MOVQ    R8, DI
	MOVQ    R9, DX
	MOVQ    R10, BX
	MOVQ    R13, CX
	VXORPS  Y0, Y0, Y0

q6kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	PREFETCHT0 1216(SI)
	VMOVDQU   192(SI), X12
	VPMOVSXBW X12, Y11
	VPMADDWD  (BX), Y11, Y11
	VPSLLD    $5, Y11, Y11
	VPXOR     Y10, Y10, Y10
	VPSUBD    Y11, Y10, Y10
	Q6KHALF(0, 32, 128, 0, 32, 64, 96, 0, 16, 32, 48)
	Q6KHALF(64, 96, 160, 128, 160, 192, 224, 64, 80, 96, 112)
	VCVTDQ2PS   Y10, Y10
	HALFSCALE(208, X4, Y4)
	VFMADD231PS Y10, Y4, Y0

	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q6kloop

	HSUM8
	VMOVSS X0, (R11)
	ADDQ   $4, R11
	DECQ   R12
	JNZ    q6krow
	VZEROUPPER
	RET
