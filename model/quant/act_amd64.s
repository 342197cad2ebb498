//go:build !purego

#include "textflag.h"

// Activation quantization on AVX2, bit for bit as the Go forms in act.go.

DATA q8kAbs<>+0(SB)/8, $0x7fffffff7fffffff
DATA q8kAbs<>+8(SB)/8, $0x7fffffff7fffffff
DATA q8kAbs<>+16(SB)/8, $0x7fffffff7fffffff
DATA q8kAbs<>+24(SB)/8, $0x7fffffff7fffffff
GLOBL q8kAbs<>(SB), RODATA|NOPTR, $32

DATA q8kBias<>+0(SB)/8, $0x8080808080808080
DATA q8kBias<>+8(SB)/8, $0x8080808080808080
DATA q8kBias<>+16(SB)/8, $0x8080808080808080
DATA q8kBias<>+24(SB)/8, $0x8080808080808080
GLOBL q8kBias<>(SB), RODATA|NOPTR, $32

// q8kPerm puts the dwords of two VPACKSSDW + VPACKSSWB steps back in order.
DATA q8kPerm<>+0(SB)/8, $0x0000000400000000
DATA q8kPerm<>+8(SB)/8, $0x0000000500000001
DATA q8kPerm<>+16(SB)/8, $0x0000000600000002
DATA q8kPerm<>+24(SB)/8, $0x0000000700000003
GLOBL q8kPerm<>(SB), RODATA|NOPTR, $32

DATA q8kConst<>+0(SB)/4, $-127.0
DATA q8kConst<>+4(SB)/4, $1.0
DATA q8kConst<>+8(SB)/4, $127.0
GLOBL q8kConst<>(SB), RODATA|NOPTR, $12

// func quantizeQ8KAVX2(x *float32, q *int8, bs *int16) float32
// One block of 256 (quantizeQ8K): the value of largest magnitude (the first
// one), iscale = −127/max, q = round-to-even(iscale·x) (VCVTPS2DQ under the
// default rounding mode is ggml's nearest_int in this range), the sums of
// each 16 quants, and 1/iscale returned; an all-zero block gives zeros.
TEXT ·quantizeQ8KAVX2(SB), NOSPLIT, $0-28
	MOVQ    x+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    bs+16(FP), DX
	VMOVUPS q8kAbs<>(SB), Y15
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	MOVQ    SI, AX
	MOVQ    $16, CX

amax:
	// max(|x|, acc) keeps acc where x is NaN, as the Go form skips it.
	VANDPS  (AX), Y15, Y2
	VANDPS  32(AX), Y15, Y3
	VMAXPS  Y0, Y2, Y0
	VMAXPS  Y1, Y3, Y1
	ADDQ    $64, AX
	DECQ    CX
	JNZ     amax
	VMAXPS  Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS  X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS  X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS  X1, X0, X0
	VXORPS  X1, X1, X1
	VUCOMISS X1, X0
	JEQ     zero
	VBROADCASTSS X0, Y2

	// The first value whose magnitude is the maximum.
	XORQ    CX, CX

find:
	VANDPS  (SI)(CX*4), Y15, Y3
	VCMPPS  $0, Y2, Y3, Y3
	VMOVMSKPS Y3, AX
	TESTL   AX, AX
	JNZ     found
	ADDQ    $8, CX
	CMPQ    CX, $256
	JLT     find
	// Unreachable for finite input (amax is one of the values); a block
	// of NaNs and zeros ends here and is treated as zero.
	JMP     zero

found:
	TZCNTL  AX, AX
	ADDQ    AX, CX
	VMOVSS  (SI)(CX*4), X4
	VMOVSS  q8kConst<>+0(SB), X5
	VDIVSS  X4, X5, X5                // iscale = −127/max
	VMOVSS  q8kConst<>+4(SB), X6
	VDIVSS  X5, X6, X6                // d = 1/iscale
	VMOVSS  X6, ret+24(FP)
	VBROADCASTSS X5, Y5
	VMOVDQU q8kPerm<>(SB), Y14
	VMOVDQU q8kBias<>(SB), Y13
	VPXOR   Y12, Y12, Y12
	MOVQ    $8, CX

quant:
	VMULPS    (SI), Y5, Y7
	VMULPS    32(SI), Y5, Y8
	VMULPS    64(SI), Y5, Y9
	VMULPS    96(SI), Y5, Y10
	VCVTPS2DQ Y7, Y7
	VCVTPS2DQ Y8, Y8
	VCVTPS2DQ Y9, Y9
	VCVTPS2DQ Y10, Y10
	VPACKSSDW Y8, Y7, Y7
	VPACKSSDW Y10, Y9, Y9
	VPACKSSWB Y9, Y7, Y7
	VPERMD    Y7, Y14, Y7
	VMOVDQU   Y7, (DI)

	// Sums of each 16: bytes biased to unsigned, VPSADBW per 8, minus 16·128.
	VPXOR     Y13, Y7, Y8
	VPSADBW   Y12, Y8, Y8
	VEXTRACTI128 $1, Y8, X9
	VPSHUFD   $0x4e, X8, X10
	VPADDQ    X10, X8, X8
	VPSHUFD   $0x4e, X9, X10
	VPADDQ    X10, X9, X9
	VMOVQ     X8, AX
	SUBL      $2048, AX
	MOVW      AX, (DX)
	VMOVQ     X9, AX
	SUBL      $2048, AX
	MOVW      AX, 2(DX)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  quant
	VZEROUPPER
	RET

zero:
	VPXOR   Y0, Y0, Y0
	MOVQ    $8, CX

zloop:
	VMOVDQU Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     zloop
	VMOVDQU Y0, (DX)
	MOVL    $0, ret+24(FP)
	VZEROUPPER
	RET

// func quantizeQ8_0AVX2(x *float32, q *int8, d *float32, nb int)
// nb ≥ 1 blocks of 32 as quantizeQ8x86 (without the Q8_1 sum): amax = the
// largest magnitude, d = fp16(amax/127) widened, q = round-to-even(x·127/amax)
// (zeros when amax is 0).
TEXT ·quantizeQ8_0AVX2(SB), NOSPLIT, $0-32
	MOVQ    x+0(FP), SI
	MOVQ    q+8(FP), DI
	MOVQ    d+16(FP), DX
	MOVQ    nb+24(FP), CX
	VMOVUPS q8kAbs<>(SB), Y15
	VMOVDQU q8kPerm<>(SB), Y14
	VMOVSS  q8kConst<>+8(SB), X13
	VXORPS  X12, X12, X12

q80block:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS  Y0, Y15, Y4
	VANDPS  Y1, Y15, Y5
	VANDPS  Y2, Y15, Y6
	VANDPS  Y3, Y15, Y7
	VMAXPS  Y5, Y4, Y4
	VMAXPS  Y7, Y6, Y6
	VMAXPS  Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS  X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS  X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS  X5, X4, X4              // amax in every lane
	VDIVSS  X13, X4, X5             // amax/127
	VCVTPS2PH $0, X5, X5
	VCVTPH2PS X5, X5
	VMOVSS  X5, (DX)
	VXORPS  X6, X6, X6
	VUCOMISS X12, X4
	JEQ     q80id
	VDIVSS  X4, X13, X6             // 127/amax

q80id:
	VBROADCASTSS X6, Y6
	VMULPS    Y6, Y0, Y0
	VMULPS    Y6, Y1, Y1
	VMULPS    Y6, Y2, Y2
	VMULPS    Y6, Y3, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y14, Y0
	VMOVDQU   Y0, (DI)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q80block
	VZEROUPPER
	RET
