//go:build !purego

#include "textflag.h"

// Four-token AVX2 kernels for prompt processing: one weight row against a
// group of four activation rows stored interleaved (acts.prepareGroups), so
// each weight block is unpacked once and used four times. out receives the
// four dot products.

#define C32(name, v) \
	DATA name+0(SB)/8, v \
	DATA name+8(SB)/8, v \
	DATA name+16(SB)/8, v \
	DATA name+24(SB)/8, v \
	GLOBL name(SB), RODATA|NOPTR, $32

C32(k0f<>, $0x0f0f0f0f0f0f0f0f)
C32(k30<>, $0x3030303030303030)
C32(k08<>, $0x0808080808080808)
C32(kw1<>, $0x0001000100010001)
C32(k01<>, $0x0101010101010101)
C32(k02<>, $0x0202020202020202)

DATA kbcw<>+0(SB)/8, $0x0100010001000100
DATA kbcw<>+8(SB)/8, $0x0100010001000100
DATA kbcw<>+16(SB)/8, $0x0100010001000100
DATA kbcw<>+24(SB)/8, $0x0100010001000100
DATA kbcw<>+32(SB)/8, $0x0302030203020302
DATA kbcw<>+40(SB)/8, $0x0302030203020302
DATA kbcw<>+48(SB)/8, $0x0302030203020302
DATA kbcw<>+56(SB)/8, $0x0302030203020302
DATA kbcw<>+64(SB)/8, $0x0504050405040504
DATA kbcw<>+72(SB)/8, $0x0504050405040504
DATA kbcw<>+80(SB)/8, $0x0504050405040504
DATA kbcw<>+88(SB)/8, $0x0504050405040504
DATA kbcw<>+96(SB)/8, $0x0706070607060706
DATA kbcw<>+104(SB)/8, $0x0706070607060706
DATA kbcw<>+112(SB)/8, $0x0706070607060706
DATA kbcw<>+120(SB)/8, $0x0706070607060706
DATA kbcw<>+128(SB)/8, $0x0908090809080908
DATA kbcw<>+136(SB)/8, $0x0908090809080908
DATA kbcw<>+144(SB)/8, $0x0908090809080908
DATA kbcw<>+152(SB)/8, $0x0908090809080908
DATA kbcw<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kbcw<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kbcw<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kbcw<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kbcw<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kbcw<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kbcw<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kbcw<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kbcw<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kbcw<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kbcw<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kbcw<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL kbcw<>(SB), RODATA|NOPTR, $256

DATA kpair<>+0(SB)/8, $0x0000000000000000
DATA kpair<>+8(SB)/8, $0x0101010101010101
DATA kpair<>+16(SB)/8, $0x0202020202020202
DATA kpair<>+24(SB)/8, $0x0303030303030303
DATA kpair<>+32(SB)/8, $0x0404040404040404
DATA kpair<>+40(SB)/8, $0x0505050505050505
DATA kpair<>+48(SB)/8, $0x0606060606060606
DATA kpair<>+56(SB)/8, $0x0707070707070707
DATA kpair<>+64(SB)/8, $0x0808080808080808
DATA kpair<>+72(SB)/8, $0x0909090909090909
DATA kpair<>+80(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA kpair<>+88(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA kpair<>+96(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA kpair<>+104(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA kpair<>+112(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA kpair<>+120(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL kpair<>(SB), RODATA|NOPTR, $128

// HSUM4X stores the horizontal sums of the accumulators y0..y3 (in that
// order) as four float32 at (R12).
#define HSUM4X(y0, y1, y2, y3, x0) \
	VHADDPS      y1, y0, y0 \
	VHADDPS      y3, y2, y2 \
	VHADDPS      y2, y0, y0 \
	VEXTRACTF128 $1, y0, X1 \
	VADDPS       X1, x0, x0 \
	VMOVUPS      x0, (R12)

// WSCALE loads the weight block's fp16 at off(SI) as float32 into X4.
#define WSCALE(off) \
	MOVWLZX   off(SI), AX \
	VMOVD     AX, X4 \
	VCVTPH2PS X4, X4

// Q8TOKEN multiplies the signed weights Y1 (|Y1| in Y2) by token t's 32
// activations at aoff(DI) and accumulates d_w·d_a[t] times the sum into yacc.
#define Q8TOKEN(aoff, doff, yacc) \
	VMOVDQU      aoff(DI), Y3 \
	VPSIGNB      Y1, Y3, Y3 \
	VPMADDUBSW   Y3, Y2, Y3 \
	VPMADDWD     Y15, Y3, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VMULSS       doff(DX), X4, X5 \
	VBROADCASTSS X5, Y5 \
	VFMADD231PS  Y3, Y5, yacc

// func dotQ8_0AVX2x4(w *byte, q *int8, d *float32, nb int, out *float32)
TEXT ·dotQ8_0AVX2x4(SB), NOSPLIT, $0-40
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    nb+24(FP), CX
	MOVQ    out+32(FP), R12
	VXORPS  Y0, Y0, Y0
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	VMOVDQU kw1<>(SB), Y15

q80x4loop:
	PREFETCHT0 1024(SI)
	VMOVDQU    2(SI), Y1
	VPSIGNB    Y1, Y1, Y2
	WSCALE(0)
	Q8TOKEN(0, 0, Y0)
	Q8TOKEN(32, 4, Y6)
	Q8TOKEN(64, 8, Y7)
	Q8TOKEN(96, 12, Y8)
	ADDQ       $34, SI
	ADDQ       $128, DI
	ADDQ       $16, DX
	DECQ       CX
	JNZ        q80x4loop

	HSUM4X(Y0, Y6, Y7, Y8, X0)
	VZEROUPPER
	RET

// func dotQ4_0AVX2x4(w *byte, q *int8, d *float32, nb int, out *float32)
TEXT ·dotQ4_0AVX2x4(SB), NOSPLIT, $0-40
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    nb+24(FP), CX
	MOVQ    out+32(FP), R12
	VXORPS  Y0, Y0, Y0
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	VMOVDQU kw1<>(SB), Y15
	VMOVDQU k0f<>(SB), Y14
	VMOVDQU k08<>(SB), Y13

q40x4loop:
	PREFETCHT0  1024(SI)
	VMOVDQU     2(SI), X1
	VPSRLW      $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND       Y14, Y1, Y1
	VPSUBB      Y13, Y1, Y1
	VPSIGNB     Y1, Y1, Y2
	WSCALE(0)
	Q8TOKEN(0, 0, Y0)
	Q8TOKEN(32, 4, Y6)
	Q8TOKEN(64, 8, Y7)
	Q8TOKEN(96, 12, Y8)
	ADDQ        $18, SI
	ADDQ        $128, DI
	ADDQ        $16, DX
	DECQ        CX
	JNZ         q40x4loop

	HSUM4X(Y0, Y6, Y7, Y8, X0)
	VZEROUPPER
	RET

// Q4KTOK: token t's part of one Q4_K chunk: Y1/Y2 the two nibble groups,
// Y3/Y4 their scale broadcasts; int32 sums into yacc.
#define Q4KTOK(aoff0, aoff1, yacc) \
	VPMADDUBSW aoff0(DI), Y1, Y5 \
	VPMADDWD   Y3, Y5, Y5 \
	VPADDD     Y5, yacc, yacc \
	VPMADDUBSW aoff1(DI), Y2, Y5 \
	VPMADDWD   Y4, Y5, Y5 \
	VPADDD     Y5, yacc, yacc

#define Q4KCHUNK4(woff, c64, mj0, mj1) \
	VMOVDQU woff(SI), Y1 \
	VPSRLW  $4, Y1, Y2 \
	VPAND   Y15, Y1, Y1 \
	VPAND   Y15, Y2, Y2 \
	VPSHUFB kbcw<>+mj0(SB), Y6, Y3 \
	VPSHUFB kbcw<>+mj1(SB), Y6, Y4 \
	Q4KTOK(c64, c64+32, Y10) \
	Q4KTOK(256+c64, 256+c64+32, Y11) \
	Q4KTOK(512+c64, 512+c64+32, Y12) \
	Q4KTOK(768+c64, 768+c64+32, Y13)

// Q4KMINS subtracts dmin_w·d_a[t]·Σ m_j·(bsum_2j + bsum_2j+1) from yacc:
// X1 holds the mins as int16, X14 dmin_w.
#define Q4KMINS(bsoff, doff, yacc) \
	VMOVDQU      bsoff(BX), X2 \
	VMOVDQU      bsoff+16(BX), X3 \
	VPHADDW      X3, X2, X2 \
	VPMADDWD     X2, X1, X2 \
	VCVTDQ2PS    Y2, Y2 \
	VMULSS       doff(DX), X14, X3 \
	VBROADCASTSS X3, Y3 \
	VFNMADD231PS Y2, Y3, yacc

// Q4KFIN adds d_w·d_a[t] times the int32 sums yi into yacc (X4 = d_w).
#define Q4KFIN(doff, yi, yacc) \
	VCVTDQ2PS    yi, yi \
	VMULSS       doff(DX), X4, X5 \
	VBROADCASTSS X5, Y5 \
	VFMADD231PS  yi, Y5, yacc

// func dotQ4_KAVX2x4(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32)
TEXT ·dotQ4_KAVX2x4(SB), NOSPLIT, $0-48
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    bs+24(FP), BX
	MOVQ    nb+32(FP), CX
	MOVQ    out+40(FP), R12
	VXORPS  Y0, Y0, Y0
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	VXORPS  Y9, Y9, Y9
	VMOVDQU k0f<>(SB), Y15

q4kx4loop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
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
	VMOVQ R9, X1

	VPMOVZXBW X1, X1
	MOVWLZX   2(SI), AX
	VMOVD     AX, X14
	VCVTPH2PS X14, X14
	Q4KMINS(0, 0, Y0)
	Q4KMINS(32, 4, Y7)
	Q4KMINS(64, 8, Y8)
	Q4KMINS(96, 12, Y9)

	VPMOVZXBW   X6, X6
	VINSERTI128 $1, X6, Y6, Y6
	VPXOR       Y10, Y10, Y10
	VPXOR       Y11, Y11, Y11
	VPXOR       Y12, Y12, Y12
	VPXOR       Y13, Y13, Y13
	Q4KCHUNK4(16, 0, 0, 32)
	Q4KCHUNK4(48, 64, 64, 96)
	Q4KCHUNK4(80, 128, 128, 160)
	Q4KCHUNK4(112, 192, 192, 224)
	WSCALE(0)
	Q4KFIN(0, Y10, Y0)
	Q4KFIN(4, Y11, Y7)
	Q4KFIN(8, Y12, Y8)
	Q4KFIN(12, Y13, Y9)

	ADDQ $144, SI
	ADDQ $1024, DI
	ADDQ $16, DX
	ADDQ $128, BX
	DECQ CX
	JNZ  q4kx4loop

	HSUM4X(Y0, Y7, Y8, Y9, X0)
	VZEROUPPER
	RET

// Q5KCHUNK4: Q4KCHUNK4 plus the fifth bits of the chunk from Y14.
#define Q5KCHUNK4(woff, c64, mj0, mj1) \
	VMOVDQU woff(SI), Y1 \
	VPSRLW  $4, Y1, Y2 \
	VPAND   Y15, Y1, Y1 \
	VPAND   Y15, Y2, Y2 \
	VPAND   k01<>(SB), Y14, Y3 \
	VPSLLW  $4, Y3, Y3 \
	VPOR    Y3, Y1, Y1 \
	VPAND   k02<>(SB), Y14, Y4 \
	VPSLLW  $3, Y4, Y4 \
	VPOR    Y4, Y2, Y2 \
	VPSRLW  $2, Y14, Y14 \
	VPSHUFB kbcw<>+mj0(SB), Y6, Y3 \
	VPSHUFB kbcw<>+mj1(SB), Y6, Y4 \
	Q4KTOK(c64, c64+32, Y10) \
	Q4KTOK(256+c64, 256+c64+32, Y11) \
	Q4KTOK(512+c64, 512+c64+32, Y12) \
	Q4KTOK(768+c64, 768+c64+32, Y13)

// func dotQ5_KAVX2x4(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32)
// As Q4_K, with the fifth bits from qh (Y14, shifted two bits per chunk).
TEXT ·dotQ5_KAVX2x4(SB), NOSPLIT, $0-48
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    bs+24(FP), BX
	MOVQ    nb+32(FP), CX
	MOVQ    out+40(FP), R12
	VXORPS  Y0, Y0, Y0
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	VXORPS  Y9, Y9, Y9
	VMOVDQU k0f<>(SB), Y15

q5kx4loop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
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
	VMOVQ R9, X1

	VPMOVZXBW X1, X1
	MOVWLZX   2(SI), AX
	VMOVD     AX, X14
	VCVTPH2PS X14, X14
	Q4KMINS(0, 0, Y0)
	Q4KMINS(32, 4, Y7)
	Q4KMINS(64, 8, Y8)
	Q4KMINS(96, 12, Y9)

	VPMOVZXBW   X6, X6
	VINSERTI128 $1, X6, Y6, Y6
	VPXOR       Y10, Y10, Y10
	VPXOR       Y11, Y11, Y11
	VPXOR       Y12, Y12, Y12
	VPXOR       Y13, Y13, Y13
	VMOVDQU     16(SI), Y14
	Q5KCHUNK4(48, 0, 0, 32)
	Q5KCHUNK4(80, 64, 64, 96)
	Q5KCHUNK4(112, 128, 128, 160)
	Q5KCHUNK4(144, 192, 192, 224)
	WSCALE(0)
	Q4KFIN(0, Y10, Y0)
	Q4KFIN(4, Y11, Y7)
	Q4KFIN(8, Y12, Y8)
	Q4KFIN(12, Y13, Y9)

	ADDQ $176, SI
	ADDQ $1024, DI
	ADDQ $16, DX
	ADDQ $128, BX
	DECQ CX
	JNZ  q5kx4loop

	HSUM4X(Y0, Y7, Y8, Y9, X0)
	VZEROUPPER
	RET

// Q6KTOK: token t's part of one Q6_K group (values Y4, scale pairs Y5).
#define Q6KTOK(aoff, yacc) \
	VPMADDUBSW aoff(DI), Y4, Y3 \
	VPMADDWD   Y5, Y3, Y3 \
	VPADDD     Y3, yacc, yacc

// Q6KGROUP4 builds group g's 32 six-bit values in Y4 from the ql bytes at
// qloff(SI) (shifted right by lshift) and the qh bytes at qhoff(SI) (bits
// moved to 0x30 by the given shift instruction), its scale pairs in Y5
// (kpair<>+m on X13), then adds it for the four tokens.
#define Q6KGROUP4(qloff, lshift, qhoff, hshiftop, hshift, aoff, m) \
	VMOVDQU    qloff(SI), Y1 \
	VPSRLW     $lshift, Y1, Y1 \
	VPAND      Y15, Y1, Y4 \
	VMOVDQU    qhoff(SI), Y2 \
	hshiftop   $hshift, Y2, Y2 \
	VPAND      Y14, Y2, Y2 \
	VPOR       Y2, Y4, Y4 \
	VPSHUFB    kpair<>+m(SB), X13, X5 \
	VPMOVSXBW  X5, Y5 \
	Q6KTOK(aoff, Y9) \
	Q6KTOK(256+aoff, Y10) \
	Q6KTOK(512+aoff, Y11) \
	Q6KTOK(768+aoff, Y12)

// Q6KBIAS starts token t's int32 sums at −32·Σ sc_j·bsum_j (Y5 = scales).
#define Q6KBIAS(bsoff, yacc) \
	VPMADDWD bsoff(BX), Y5, Y3 \
	VPSLLD   $5, Y3, Y3 \
	VPXOR    yacc, yacc, yacc \
	VPSUBD   Y3, yacc, yacc

// func dotQ6_KAVX2x4(w *byte, q *int8, d *float32, bs *int16, nb int, out *float32)
TEXT ·dotQ6_KAVX2x4(SB), NOSPLIT, $0-48
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    bs+24(FP), BX
	MOVQ    nb+32(FP), CX
	MOVQ    out+40(FP), R12
	VXORPS  Y0, Y0, Y0
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	VMOVDQU k0f<>(SB), Y15
	VMOVDQU k30<>(SB), Y14

q6kx4loop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	VMOVDQU    192(SI), X13
	VPMOVSXBW  X13, Y5
	Q6KBIAS(0, Y9)
	Q6KBIAS(32, Y10)
	Q6KBIAS(64, Y11)
	Q6KBIAS(96, Y12)
	Q6KGROUP4(0, 0, 128, VPSLLW, 4, 0, 0)
	Q6KGROUP4(32, 0, 128, VPSLLW, 2, 32, 16)
	Q6KGROUP4(0, 4, 128, VPSRLW, 0, 64, 32)
	Q6KGROUP4(32, 4, 128, VPSRLW, 2, 96, 48)
	Q6KGROUP4(64, 0, 160, VPSLLW, 4, 128, 64)
	Q6KGROUP4(96, 0, 160, VPSLLW, 2, 160, 80)
	Q6KGROUP4(64, 4, 160, VPSRLW, 0, 192, 96)
	Q6KGROUP4(96, 4, 160, VPSRLW, 2, 224, 112)
	WSCALE(208)
	Q4KFIN(0, Y9, Y0)
	Q4KFIN(4, Y10, Y6)
	Q4KFIN(8, Y11, Y7)
	Q4KFIN(12, Y12, Y8)

	ADDQ $210, SI
	ADDQ $1024, DI
	ADDQ $16, DX
	ADDQ $128, BX
	DECQ CX
	JNZ  q6kx4loop

	HSUM4X(Y0, Y6, Y7, Y8, X0)
	VZEROUPPER
	RET
