//go:build !purego

package transformer

import "golang.org/x/sys/cpu"

//go:noescape
func swigluAVX2(out, gate, up *float32, n int)

// hasActAVX2 reports whether the assembly activation kernels can run.
var hasActAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// swiglu sets out[i] = SiLU(gate[i])·up[i] (see swigluGo); whole groups of
// 8 go through the AVX2 kernel, as in ggml_vec_swiglu_f32.
func swiglu(out, gate, up []float32) {
	gate, up = gate[:len(out)], up[:len(out)]
	m := len(out) &^ 7
	if !hasActAVX2 || m == 0 {
		swigluGo(out, gate, up)
		return
	}
	swigluAVX2(&out[0], &gate[0], &up[0], m)
	swigluGo(out[m:], gate[m:], up[m:])
}
