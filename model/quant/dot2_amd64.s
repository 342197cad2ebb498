//go:build !purego

#include "textflag.h"

// More AVX2 + FMA kernels: BF16, Q4_1, Q5_0, Q5_1, IQ4_NL (32-element
// blocks) and Q2_K, Q3_K, Q5_K, IQ4_XS (256-element blocks). Conventions as
// in dot_amd64.s; symbols with <> are private to this file.

#define C32(name, v) \
	DATA name+0(SB)/8, v \
	DATA name+8(SB)/8, v \
	DATA name+16(SB)/8, v \
	DATA name+24(SB)/8, v \
	GLOBL name(SB), RODATA|NOPTR, $32

C32(m0f<>, $0x0f0f0f0f0f0f0f0f)
C32(mf0<>, $0xf0f0f0f0f0f0f0f0)
C32(m10<>, $0x1010101010101010)
C32(m01<>, $0x0101010101010101)
C32(m02<>, $0x0202020202020202)
C32(m03<>, $0x0303030303030303)
C32(m20<>, $0x2020202020202020)
C32(w1<>, $0x0001000100010001)
C32(bitsel<>, $0x7fbfdfeff7fbfdfe)

// spread<>: VPSHUFB control putting byte k/8 of a broadcast dword into byte k.
DATA spread<>+0(SB)/8, $0x0000000000000000
DATA spread<>+8(SB)/8, $0x0101010101010101
DATA spread<>+16(SB)/8, $0x0202020202020202
DATA spread<>+24(SB)/8, $0x0303030303030303
GLOBL spread<>(SB), RODATA|NOPTR, $32

// iq4<>: the 16 IQ4_NL levels, in both 128-bit lanes.
DATA iq4<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA iq4<>+8(SB)/8, $0x7159453526190d01
DATA iq4<>+16(SB)/8, $0xf6eaddcfbfad9881
DATA iq4<>+24(SB)/8, $0x7159453526190d01
GLOBL iq4<>(SB), RODATA|NOPTR, $32

// pairs<>+16i: VPSHUFB control giving bytes [2i ×8, 2i+1 ×8].
DATA pairs<>+0(SB)/8, $0x0000000000000000
DATA pairs<>+8(SB)/8, $0x0101010101010101
DATA pairs<>+16(SB)/8, $0x0202020202020202
DATA pairs<>+24(SB)/8, $0x0303030303030303
DATA pairs<>+32(SB)/8, $0x0404040404040404
DATA pairs<>+40(SB)/8, $0x0505050505050505
DATA pairs<>+48(SB)/8, $0x0606060606060606
DATA pairs<>+56(SB)/8, $0x0707070707070707
DATA pairs<>+64(SB)/8, $0x0808080808080808
DATA pairs<>+72(SB)/8, $0x0909090909090909
DATA pairs<>+80(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA pairs<>+88(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA pairs<>+96(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA pairs<>+104(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA pairs<>+112(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA pairs<>+120(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL pairs<>(SB), RODATA|NOPTR, $128

// bcw<>+32j: VPSHUFB control broadcasting int16 word j of each lane.
DATA bcw<>+0(SB)/8, $0x0100010001000100
DATA bcw<>+8(SB)/8, $0x0100010001000100
DATA bcw<>+16(SB)/8, $0x0100010001000100
DATA bcw<>+24(SB)/8, $0x0100010001000100
DATA bcw<>+32(SB)/8, $0x0302030203020302
DATA bcw<>+40(SB)/8, $0x0302030203020302
DATA bcw<>+48(SB)/8, $0x0302030203020302
DATA bcw<>+56(SB)/8, $0x0302030203020302
DATA bcw<>+64(SB)/8, $0x0504050405040504
DATA bcw<>+72(SB)/8, $0x0504050405040504
DATA bcw<>+80(SB)/8, $0x0504050405040504
DATA bcw<>+88(SB)/8, $0x0504050405040504
DATA bcw<>+96(SB)/8, $0x0706070607060706
DATA bcw<>+104(SB)/8, $0x0706070607060706
DATA bcw<>+112(SB)/8, $0x0706070607060706
DATA bcw<>+120(SB)/8, $0x0706070607060706
DATA bcw<>+128(SB)/8, $0x0908090809080908
DATA bcw<>+136(SB)/8, $0x0908090809080908
DATA bcw<>+144(SB)/8, $0x0908090809080908
DATA bcw<>+152(SB)/8, $0x0908090809080908
DATA bcw<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcw<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcw<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcw<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA bcw<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcw<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcw<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcw<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA bcw<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA bcw<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA bcw<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA bcw<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL bcw<>(SB), RODATA|NOPTR, $256

#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VHADDPS      X0, X0, X0

// SCALE(off, xd, yd): fp16 at off(SI) times float32 at (DX), broadcast.
#define SCALE(off, xd, yd) \
	MOVWLZX      off(SI), AX \
	VMOVD        AX, xd \
	VCVTPH2PS    xd, xd \
	VMULSS       (DX), xd, xd \
	VBROADCASTSS xd, yd

// NIBBLES(off, x, y, xt): the 16 bytes at off(SI) as 32 values 0..15 in y,
// low nibbles first. Uses Y15 = 0x0F.
#define NIBBLES(off, x, y, xt) \
	VMOVDQU     off(SI), x \
	VPSRLW      $4, x, xt \
	VINSERTI128 $1, xt, y, y \
	VPAND       Y15, y, y

// HIBITS(off, y): the 32 bits of the dword at off(SI) spread to bytes:
// 0xFF where set, 0 where clear.
#define HIBITS(off, x, y) \
	VPBROADCASTD off(SI), y \
	VPSHUFB      spread<>(SB), y, y \
	VPOR         bitsel<>(SB), y, y \
	VPCMPEQB     Y14, y, y

// SIGNED32(yw, aoff): Σ over pairs of signed yw × activations at aoff(DI),
// as 8 float32 in Y3 (Y4 scratch; Y13 = int16 ones).
#define SIGNED32(yw, aoff) \
	VMOVDQU    aoff(DI), Y4 \
	VPSIGNB    yw, yw, Y3 \
	VPSIGNB    yw, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y3 \
	VPMADDWD   Y13, Y3, Y3 \
	VCVTDQ2PS  Y3, Y3

// UNSIGNED32(yw, aoff): the same for unsigned yw (0..127).
#define UNSIGNED32(yw, aoff) \
	VPMADDUBSW aoff(DI), yw, Y3 \
	VPMADDWD   Y13, Y3, Y3 \
	VCVTDQ2PS  Y3, Y3

// func dotBF16AVX2(w *byte, x *float32, n int) float32
// n is a positive multiple of 32.
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

bf16loop:
	PREFETCHT0  1024(SI)
	VPMOVZXWD   (SI), Y1
	VPMOVZXWD   16(SI), Y2
	VPMOVZXWD   32(SI), Y3
	VPMOVZXWD   48(SI), Y4
	VPSLLD      $16, Y1, Y1
	VPSLLD      $16, Y2, Y2
	VPSLLD      $16, Y3, Y3
	VPSLLD      $16, Y4, Y4
	VFMADD231PS (DI), Y1, Y0
	VFMADD231PS 32(DI), Y2, Y5
	VFMADD231PS 64(DI), Y3, Y6
	VFMADD231PS 96(DI), Y4, Y7
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JNZ         bf16loop

	VADDPS Y5, Y0, Y0
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y0, Y0
	HSUM8
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotIQ4_NLAVX2(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotIQ4_NLAVX2(SB), NOSPLIT, $0-36
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    nb+24(FP), CX
	VXORPS  Y0, Y0, Y0
	VMOVDQU m0f<>(SB), Y15
	VMOVDQU w1<>(SB), Y13
	VMOVDQU iq4<>(SB), Y12

iq4nlloop:
	PREFETCHT0 1024(SI)
	NIBBLES(2, X1, Y1, X2)
	VPSHUFB     Y1, Y12, Y1
	SIGNED32(Y1, 0)
	SCALE(0, X5, Y5)
	VFMADD231PS Y3, Y5, Y0
	ADDQ        $18, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         iq4nlloop

	HSUM8
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET

// func dotQ5_0RowsAVX2(w *byte, q *int8, d *float32, nb int, out *float32, rows int)
// rows ≥ 1 consecutive weight rows of nb ≥ 1 blocks of 22 bytes, each
// against the same nb×32 int8 and nb scales; row r's dot product goes to
// out[r]. q − 16 is built as nibble | (bit clear ? 0xF0 : 0), a signed byte.
TEXT ·dotQ5_0RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ     w+0(FP), SI
	MOVQ     q+8(FP), R8
	MOVQ     d+16(FP), R9
	MOVQ     nb+24(FP), R10
	MOVQ     out+32(FP), R11
	MOVQ     rows+40(FP), R12
	VMOVDQU  m0f<>(SB), Y15
	VPCMPEQB Y14, Y14, Y14
	VMOVDQU  w1<>(SB), Y13
	VMOVDQU  mf0<>(SB), Y12

q50row:
	MOVQ     R8, DI
	MOVQ     R9, DX
	MOVQ     R10, CX
	VXORPS   Y0, Y0, Y0

q50loop:
	PREFETCHT0  1024(SI)
	NIBBLES(6, X1, Y1, X2)
	HIBITS(2, X2, Y2)
	VPANDN      Y12, Y2, Y2
	VPOR        Y2, Y1, Y1
	SIGNED32(Y1, 0)
	SCALE(0, X5, Y5)
	VFMADD231PS Y3, Y5, Y0
	ADDQ        $22, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	DECQ        CX
	JNZ         q50loop

	HSUM8
	VMOVSS X0, (R11)
	ADDQ   $4, R11
	DECQ   R12
	JNZ    q50row
	VZEROUPPER
	RET

// func dotQ4_1AVX2(w *byte, q *int8, d *float32, s *float32, nb int) float32
// Σ_b d_w·d_a·Σq·a + m_w·s_a.
TEXT ·dotQ4_1AVX2(SB), NOSPLIT, $0-44
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    s+24(FP), BX
	MOVQ    nb+32(FP), CX
	VXORPS  Y0, Y0, Y0
	VXORPS  X11, X11, X11
	VMOVDQU m0f<>(SB), Y15
	VMOVDQU w1<>(SB), Y13

q41loop:
	PREFETCHT0  1024(SI)
	NIBBLES(4, X1, Y1, X2)
	UNSIGNED32(Y1, 0)
	SCALE(0, X5, Y5)
	VFMADD231PS Y3, Y5, Y0
	MOVWLZX     2(SI), AX
	VMOVD       AX, X6
	VCVTPH2PS   X6, X6
	VFMADD231SS (BX), X6, X11
	ADDQ        $20, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	ADDQ        $4, BX
	DECQ        CX
	JNZ         q41loop

	HSUM8
	VADDSS X11, X0, X0
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// func dotQ5_1AVX2(w *byte, q *int8, d *float32, s *float32, nb int) float32
TEXT ·dotQ5_1AVX2(SB), NOSPLIT, $0-44
	MOVQ     w+0(FP), SI
	MOVQ     q+8(FP), DI
	MOVQ     d+16(FP), DX
	MOVQ     s+24(FP), BX
	MOVQ     nb+32(FP), CX
	VXORPS   Y0, Y0, Y0
	VXORPS   X11, X11, X11
	VMOVDQU  m0f<>(SB), Y15
	VPCMPEQB Y14, Y14, Y14
	VMOVDQU  w1<>(SB), Y13
	VMOVDQU  m10<>(SB), Y12

q51loop:
	PREFETCHT0  1024(SI)
	NIBBLES(8, X1, Y1, X2)
	HIBITS(4, X2, Y2)
	VPAND       Y12, Y2, Y2
	VPOR        Y2, Y1, Y1
	UNSIGNED32(Y1, 0)
	SCALE(0, X5, Y5)
	VFMADD231PS Y3, Y5, Y0
	MOVWLZX     2(SI), AX
	VMOVD       AX, X6
	VCVTPH2PS   X6, X6
	VFMADD231SS (BX), X6, X11
	ADDQ        $24, SI
	ADDQ        $32, DI
	ADDQ        $4, DX
	ADDQ        $4, BX
	DECQ        CX
	JNZ         q51loop

	HSUM8
	VADDSS X11, X0, X0
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// Q5KCHUNK: 64 elements of a Q5_K block. Y9 holds qh shifted right by 2c,
// Y14 = 0x01, Y11 = 0x02, Y15 = 0x0F, Y6 the 8 scales as int16 (both
// lanes); int32 sums go to Y10.
#define Q5KCHUNK(woff, aoff0, aoff1, mj0, mj1) \
	VMOVDQU    woff(SI), Y1 \
	VPSRLW     $4, Y1, Y2 \
	VPAND      Y15, Y1, Y1 \
	VPAND      Y15, Y2, Y2 \
	VPAND      Y14, Y9, Y3 \
	VPSLLW     $4, Y3, Y3 \
	VPOR       Y3, Y1, Y1 \
	VPAND      Y11, Y9, Y4 \
	VPSLLW     $3, Y4, Y4 \
	VPOR       Y4, Y2, Y2 \
	VPSRLW     $2, Y9, Y9 \
	VPMADDUBSW aoff0(DI), Y1, Y1 \
	VPMADDUBSW aoff1(DI), Y2, Y2 \
	VPSHUFB    bcw<>+mj0(SB), Y6, Y3 \
	VPSHUFB    bcw<>+mj1(SB), Y6, Y4 \
	VPMADDWD   Y3, Y1, Y1 \
	VPMADDWD   Y4, Y2, Y2 \
	VPADDD     Y1, Y10, Y10 \
	VPADDD     Y2, Y10, Y10

// func dotQ5_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ5_KAVX2(SB), NOSPLIT, $0-44
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    bs+24(FP), BX
	MOVQ    nb+32(FP), CX
	VXORPS  Y0, Y0, Y0
	VXORPS  X12, X12, X12
	VMOVDQU m0f<>(SB), Y15
	VMOVDQU m01<>(SB), Y14
	VMOVDQU m02<>(SB), Y11

q5kloop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	// Scales and mins as in Q4_K (spec §2.3).
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

	VPMOVZXBW   X7, X7
	VMOVDQU     (BX), X8
	VMOVDQU     16(BX), X9
	VPHADDW     X9, X8, X8
	VPMADDWD    X8, X7, X7
	VCVTDQ2PS   X7, X7
	SCALE(2, X5, Y5)
	VFMADD231PS X7, X5, X12

	VPMOVZXBW   X6, X6
	VINSERTI128 $1, X6, Y6, Y6
	VMOVDQU     16(SI), Y9
	VPXOR       Y10, Y10, Y10
	Q5KCHUNK(48, 0, 32, 0, 32)
	Q5KCHUNK(80, 64, 96, 64, 96)
	Q5KCHUNK(112, 128, 160, 128, 160)
	Q5KCHUNK(144, 192, 224, 192, 224)
	VCVTDQ2PS   Y10, Y10
	SCALE(0, X4, Y4)
	VFMADD231PS Y10, Y4, Y0

	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q5kloop

	HSUM8
	VHADDPS X12, X12, X12
	VHADDPS X12, X12, X12
	VSUBSS  X12, X0, X0
	VMOVSS  X0, ret+40(FP)
	VZEROUPPER
	RET

// KGROUP(yq, aoff, m): unsigned quants yq (32) times activations at
// aoff(DI), each 16 weighted by its int8 scale from X12 via pairs<>+m,
// added to Y10. Clobbers Y5.
#define KGROUP(yq, aoff, m) \
	VPMADDUBSW aoff(DI), yq, yq \
	VPSHUFB    pairs<>+m(SB), X12, X5 \
	VPMOVSXBW  X5, Y5 \
	VPMADDWD   Y5, yq, yq \
	VPADDD     yq, Y10, Y10

// Q3KGROUP(shift, aoff, m): group of 32 from Y1 (qs half) shifted by
// shift, with the high bit from Y9's bit 0 (Y9 then moves on one bit).
#define Q3KGROUP(shift, aoff, m) \
	VPSRLW $shift, Y1, Y2 \
	VPAND  Y15, Y2, Y2 \
	VPAND  Y14, Y9, Y3 \
	VPSLLW $2, Y3, Y3 \
	VPOR   Y3, Y2, Y2 \
	VPSRLW $1, Y9, Y9 \
	KGROUP(Y2, aoff, m)

// func dotQ3_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
// With u = q + 4 in 0..7: Σ sc·Σ(q·a) = Σ sc·Σ(u·a) − 4·Σ sc·bsum.
TEXT ·dotQ3_KAVX2(SB), NOSPLIT, $0-44
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    bs+24(FP), BX
	MOVQ    nb+32(FP), CX
	VXORPS  Y0, Y0, Y0
	VMOVDQU m03<>(SB), Y15
	VMOVDQU m01<>(SB), Y14
	VMOVDQU m20<>(SB), Y13

q3kloop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	// Unpack the 16 six-bit scales (spec §2.3) four at a time.
	MOVL  96(SI), AX
	MOVL  100(SI), R8
	MOVL  104(SI), R9
	MOVL  AX, R10
	ANDL  $0x0f0f0f0f, R10
	MOVL  R9, R11
	ANDL  $0x03030303, R11
	SHLL  $4, R11
	ORL   R11, R10
	MOVL  R8, R11
	ANDL  $0x0f0f0f0f, R11
	MOVL  R9, R12
	SHRL  $2, R12
	ANDL  $0x03030303, R12
	SHLL  $4, R12
	ORL   R12, R11
	SHLQ  $32, R11
	ORQ   R10, R11
	VMOVQ R11, X12
	SHRL  $4, AX
	ANDL  $0x0f0f0f0f, AX
	MOVL  R9, R12
	SHRL  $4, R12
	ANDL  $0x03030303, R12
	SHLL  $4, R12
	ORL   R12, AX
	SHRL  $4, R8
	ANDL  $0x0f0f0f0f, R8
	SHRL  $6, R9
	ANDL  $0x03030303, R9
	SHLL  $4, R9
	ORL   R9, R8
	SHLQ  $32, R8
	ORQ   AX, R8
	VPINSRQ $1, R8, X12, X12
	VPSUBB  X13, X12, X12

	// Bias −4·Σ sc·bsum.
	VPMOVSXBW X12, Y11
	VPMADDWD  (BX), Y11, Y11
	VPSLLD    $2, Y11, Y11
	VPXOR     Y10, Y10, Y10
	VPSUBD    Y11, Y10, Y10

	VMOVDQU 0(SI), Y9
	VMOVDQU 32(SI), Y1
	Q3KGROUP(0, 0, 0)
	Q3KGROUP(2, 32, 16)
	Q3KGROUP(4, 64, 32)
	Q3KGROUP(6, 96, 48)
	VMOVDQU 64(SI), Y1
	Q3KGROUP(0, 128, 64)
	Q3KGROUP(2, 160, 80)
	Q3KGROUP(4, 192, 96)
	Q3KGROUP(6, 224, 112)

	VCVTDQ2PS   Y10, Y10
	SCALE(108, X4, Y4)
	VFMADD231PS Y10, Y4, Y0

	ADDQ $110, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q3kloop

	HSUM8
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// Q2KGROUP(shift, aoff, m): 32 two-bit quants of Y1 at shift.
#define Q2KGROUP(shift, aoff, m) \
	VPSRLW $shift, Y1, Y2 \
	VPAND  Y15, Y2, Y2 \
	KGROUP(Y2, aoff, m)

// func dotQ2_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ2_KAVX2(SB), NOSPLIT, $0-44
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    bs+24(FP), BX
	MOVQ    nb+32(FP), CX
	VXORPS  Y0, Y0, Y0
	VXORPS  Y8, Y8, Y8
	VMOVDQU m03<>(SB), Y15
	VMOVDQU m0f<>(SB), Y14

q2kloop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	// Scales (low nibbles) and mins (high nibbles) of the 16 sub-blocks.
	VMOVDQU     (SI), X11
	VPSRLW      $4, X11, X7
	VPAND       X14, X7, X7
	VPAND       X14, X11, X12
	// Mins: Σ m_j·bsum_j, scaled by dmin·d_a, accumulated in Y8.
	VPMOVZXBW   X7, Y7
	VPMADDWD    (BX), Y7, Y7
	VCVTDQ2PS   Y7, Y7
	SCALE(82, X5, Y5)
	VFMADD231PS Y7, Y5, Y8

	VPXOR   Y10, Y10, Y10
	VMOVDQU 16(SI), Y1
	Q2KGROUP(0, 0, 0)
	Q2KGROUP(2, 32, 16)
	Q2KGROUP(4, 64, 32)
	Q2KGROUP(6, 96, 48)
	VMOVDQU 48(SI), Y1
	Q2KGROUP(0, 128, 64)
	Q2KGROUP(2, 160, 80)
	Q2KGROUP(4, 192, 96)
	Q2KGROUP(6, 224, 112)

	VCVTDQ2PS   Y10, Y10
	SCALE(80, X4, Y4)
	VFMADD231PS Y10, Y4, Y0

	ADDQ $84, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q2kloop

	VSUBPS Y8, Y0, Y0
	HSUM8
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// IQ4XSSUB(j, qoff, aoff): sub-block j of an IQ4_XS block: 16 bytes of
// nibbles at qoff(SI) looked up in Y12, times 32 activations, weighted by
// ls_j − 32 (from scales_l at 4(SI) and scales_h in R8), into Y10.
#define IQ4XSSUB(lbyte, lshift, hshift, qoff, aoff) \
	MOVBLZX     lbyte(SI), AX \
	SHRL        $lshift, AX \
	ANDL        $15, AX \
	MOVL        R8, R9 \
	SHRL        $hshift, R9 \
	ANDL        $3, R9 \
	SHLL        $4, R9 \
	ORL         R9, AX \
	SUBL        $32, AX \
	VMOVD       AX, X6 \
	VPBROADCASTW X6, Y6 \
	VMOVDQU     qoff(SI), X1 \
	VPSRLW      $4, X1, X2 \
	VINSERTI128 $1, X2, Y1, Y1 \
	VPAND       Y15, Y1, Y1 \
	VPSHUFB     Y1, Y12, Y1 \
	VMOVDQU     aoff(DI), Y4 \
	VPSIGNB     Y1, Y1, Y3 \
	VPSIGNB     Y1, Y4, Y4 \
	VPMADDUBSW  Y4, Y3, Y3 \
	VPMADDWD    Y6, Y3, Y3 \
	VPADDD      Y3, Y10, Y10

// func dotIQ4_XSAVX2(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotIQ4_XSAVX2(SB), NOSPLIT, $0-36
	MOVQ    w+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    nb+24(FP), CX
	VXORPS  Y0, Y0, Y0
	VMOVDQU m0f<>(SB), Y15
	VMOVDQU iq4<>(SB), Y12

iq4xsloop:
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	MOVWLZX    2(SI), R8
	VPXOR      Y10, Y10, Y10
	IQ4XSSUB(4, 0, 0, 8, 0)
	IQ4XSSUB(4, 4, 2, 24, 32)
	IQ4XSSUB(5, 0, 4, 40, 64)
	IQ4XSSUB(5, 4, 6, 56, 96)
	IQ4XSSUB(6, 0, 8, 72, 128)
	IQ4XSSUB(6, 4, 10, 88, 160)
	IQ4XSSUB(7, 0, 12, 104, 192)
	IQ4XSSUB(7, 4, 14, 120, 224)
	VCVTDQ2PS   Y10, Y10
	SCALE(0, X4, Y4)
	VFMADD231PS Y10, Y4, Y0

	ADDQ $136, SI
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  iq4xsloop

	HSUM8
	VMOVSS X0, ret+32(FP)
	VZEROUPPER
	RET
