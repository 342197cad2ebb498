//go:build !amd64 || purego

package quant

func bestKernels() *kernelSet { return genericKernels }

// runnableKernels lists every kernel set this CPU can run, for tests.
func runnableKernels() []*kernelSet { return []*kernelSet{genericKernels} }

// quantizeQ8KBlock is quantizeQ8K.
func quantizeQ8KBlock(q []int8, bs []int16, x []float32) float32 { return quantizeQ8K(q, bs, x) }

// quantizeQ8_0Blocks quantizes whole blocks of 32 of x as quantizeQ8x86.
func quantizeQ8_0Blocks(q []int8, d []float32, x []float32) {
	for b := range len(x) / 32 {
		quantizeQ8x86(q[32*b:32*b+32], &d[b], x[32*b:32*b+32])
	}
}
