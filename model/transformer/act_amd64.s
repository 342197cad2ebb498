//go:build !purego

#include "textflag.h"

// The SwiGLU activation of ggml_vec_swiglu_f32 on AVX2 + FMA: SiLU(g)·u with
// SiLU(x) = x/(1 + e^(−x)) and e^x as ggml_v_expf computes it (see expVec,
// whose float64-emulated FMAs these kernels do in hardware, rounded once).

DATA actShift<>+0(SB)/8, $0x4b4000004b400000
DATA actShift<>+8(SB)/8, $0x4b4000004b400000
DATA actShift<>+16(SB)/8, $0x4b4000004b400000
DATA actShift<>+24(SB)/8, $0x4b4000004b400000
GLOBL actShift<>(SB), RODATA|NOPTR, $32

DATA actL2E<>+0(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actL2E<>+8(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actL2E<>+16(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA actL2E<>+24(SB)/8, $0x3fb8aa3b3fb8aa3b
GLOBL actL2E<>(SB), RODATA|NOPTR, $32

DATA actC1<>+0(SB)/8, $0x3f3172003f317200
DATA actC1<>+8(SB)/8, $0x3f3172003f317200
DATA actC1<>+16(SB)/8, $0x3f3172003f317200
DATA actC1<>+24(SB)/8, $0x3f3172003f317200
GLOBL actC1<>(SB), RODATA|NOPTR, $32

DATA actC2<>+0(SB)/8, $0x35bfbe8e35bfbe8e
DATA actC2<>+8(SB)/8, $0x35bfbe8e35bfbe8e
DATA actC2<>+16(SB)/8, $0x35bfbe8e35bfbe8e
DATA actC2<>+24(SB)/8, $0x35bfbe8e35bfbe8e
GLOBL actC2<>(SB), RODATA|NOPTR, $32

DATA actP0<>+0(SB)/8, $0x3c0720103c072010
DATA actP0<>+8(SB)/8, $0x3c0720103c072010
DATA actP0<>+16(SB)/8, $0x3c0720103c072010
DATA actP0<>+24(SB)/8, $0x3c0720103c072010
GLOBL actP0<>(SB), RODATA|NOPTR, $32

DATA actP1<>+0(SB)/8, $0x3d2b9f173d2b9f17
DATA actP1<>+8(SB)/8, $0x3d2b9f173d2b9f17
DATA actP1<>+16(SB)/8, $0x3d2b9f173d2b9f17
DATA actP1<>+24(SB)/8, $0x3d2b9f173d2b9f17
GLOBL actP1<>(SB), RODATA|NOPTR, $32

DATA actP2<>+0(SB)/8, $0x3e2aaf333e2aaf33
DATA actP2<>+8(SB)/8, $0x3e2aaf333e2aaf33
DATA actP2<>+16(SB)/8, $0x3e2aaf333e2aaf33
DATA actP2<>+24(SB)/8, $0x3e2aaf333e2aaf33
GLOBL actP2<>(SB), RODATA|NOPTR, $32

DATA actP3<>+0(SB)/8, $0x3efffedb3efffedb
DATA actP3<>+8(SB)/8, $0x3efffedb3efffedb
DATA actP3<>+16(SB)/8, $0x3efffedb3efffedb
DATA actP3<>+24(SB)/8, $0x3efffedb3efffedb
GLOBL actP3<>(SB), RODATA|NOPTR, $32

DATA actP4<>+0(SB)/8, $0x3f7ffff63f7ffff6
DATA actP4<>+8(SB)/8, $0x3f7ffff63f7ffff6
DATA actP4<>+16(SB)/8, $0x3f7ffff63f7ffff6
DATA actP4<>+24(SB)/8, $0x3f7ffff63f7ffff6
GLOBL actP4<>(SB), RODATA|NOPTR, $32

DATA actOne<>+0(SB)/8, $0x3f8000003f800000
DATA actOne<>+8(SB)/8, $0x3f8000003f800000
DATA actOne<>+16(SB)/8, $0x3f8000003f800000
DATA actOne<>+24(SB)/8, $0x3f8000003f800000
GLOBL actOne<>(SB), RODATA|NOPTR, $32

DATA actSign<>+0(SB)/8, $0x8000000080000000
DATA actSign<>+8(SB)/8, $0x8000000080000000
DATA actSign<>+16(SB)/8, $0x8000000080000000
DATA actSign<>+24(SB)/8, $0x8000000080000000
GLOBL actSign<>(SB), RODATA|NOPTR, $32

DATA actAbs<>+0(SB)/8, $0x7fffffff7fffffff
DATA actAbs<>+8(SB)/8, $0x7fffffff7fffffff
DATA actAbs<>+16(SB)/8, $0x7fffffff7fffffff
DATA actAbs<>+24(SB)/8, $0x7fffffff7fffffff
GLOBL actAbs<>(SB), RODATA|NOPTR, $32

DATA act126<>+0(SB)/8, $0x42fc000042fc0000
DATA act126<>+8(SB)/8, $0x42fc000042fc0000
DATA act126<>+16(SB)/8, $0x42fc000042fc0000
DATA act126<>+24(SB)/8, $0x42fc000042fc0000
GLOBL act126<>(SB), RODATA|NOPTR, $32

DATA act192<>+0(SB)/8, $0x4340000043400000
DATA act192<>+8(SB)/8, $0x4340000043400000
DATA act192<>+16(SB)/8, $0x4340000043400000
DATA act192<>+24(SB)/8, $0x4340000043400000
GLOBL act192<>(SB), RODATA|NOPTR, $32

DATA actG<>+0(SB)/8, $0x8200000082000000
DATA actG<>+8(SB)/8, $0x8200000082000000
DATA actG<>+16(SB)/8, $0x8200000082000000
DATA actG<>+24(SB)/8, $0x8200000082000000
GLOBL actG<>(SB), RODATA|NOPTR, $32

DATA actS1<>+0(SB)/8, $0x7f0000007f000000
DATA actS1<>+8(SB)/8, $0x7f0000007f000000
DATA actS1<>+16(SB)/8, $0x7f0000007f000000
DATA actS1<>+24(SB)/8, $0x7f0000007f000000
GLOBL actS1<>(SB), RODATA|NOPTR, $32

// func swigluAVX2(out, gate, up *float32, n int)
// n is a positive multiple of 8. out may alias gate or up.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX

loop:
	VMOVUPS (SI), Y0                      // g
	VXORPS  actSign<>(SB), Y0, Y1         // x = −g
	VMOVUPS actShift<>(SB), Y2
	VFMADD231PS actL2E<>(SB), Y1, Y2      // z = x·log2(e) + shift
	VSUBPS  actShift<>(SB), Y2, Y3        // n = z − shift
	VMOVAPS Y1, Y4
	VFNMADD231PS actC1<>(SB), Y3, Y4      // x − n·c1
	VFNMADD231PS actC2<>(SB), Y3, Y4      // b = x − n·c1 − n·c2
	VPSLLD  $23, Y2, Y2                   // e = bits(z) << 23
	VPADDD  actOne<>(SB), Y2, Y5          // k = e + bits(1)
	VMULPS  Y4, Y4, Y6                    // u = b²
	VMOVUPS actP1<>(SB), Y7
	VFMADD231PS actP0<>(SB), Y4, Y7       // p0·b + p1
	VMOVUPS actP3<>(SB), Y8
	VFMADD231PS actP2<>(SB), Y4, Y8       // p2·b + p3
	VFMADD231PS Y7, Y6, Y8                // (p0·b + p1)·u + (p2·b + p3)
	VMULPS  actP4<>(SB), Y4, Y9           // p4·b
	VFMADD231PS Y8, Y6, Y9                // j
	VANDPS  actAbs<>(SB), Y3, Y10         // |n|
	VCMPPS  $0x1e, act126<>(SB), Y10, Y11 // |n| > 126
	VMOVMSKPS Y11, AX
	VMOVAPS Y5, Y12
	VFMADD231PS Y9, Y5, Y12               // k + j·k
	TESTL   AX, AX
	JNZ     wide

silu:
	VADDPS  actOne<>(SB), Y12, Y12        // 1 + e^(−g)
	VDIVPS  Y12, Y0, Y0                   // g / (1 + e^(−g))
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     loop
	VZEROUPPER
	RET

wide:
	// Lanes with |n| > 126: scale in two steps, s2·(1 + j)·s1, with
	// g = 0x82000000 where n ≤ 0; beyond 192, s1·s1 (∞ or 0).
	VXORPS  Y13, Y13, Y13
	VCMPPS  $0x12, Y13, Y3, Y13           // n ≤ 0
	VANDPS  actG<>(SB), Y13, Y13          // g
	VPADDD  actS1<>(SB), Y13, Y14         // s1 = g + 0x7f000000
	VPSUBD  Y13, Y2, Y15                  // s2 = e − g
	VMOVAPS Y15, Y13
	VFMADD231PS Y9, Y15, Y13              // s2 + s2·j
	VMULPS  Y14, Y13, Y13                 // (s2 + s2·j)·s1
	VBLENDVPS Y11, Y13, Y12, Y12          // |n| > 126: the two-step result
	VCMPPS  $0x1e, act192<>(SB), Y10, Y11 // |n| > 192
	VMULPS  Y14, Y14, Y14                 // s1·s1
	VBLENDVPS Y11, Y14, Y12, Y12
	JMP     silu
