//go:build !amd64 || purego

package transformer

// hasActAVX2 is false: there are no assembly activation kernels here.
const hasActAVX2 = false

// swiglu sets out[i] = SiLU(gate[i])·up[i]; see swigluGo.
func swiglu(out, gate, up []float32) { swigluGo(out, gate, up) }
