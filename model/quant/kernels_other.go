//go:build !amd64 || purego

package quant

func bestKernels() *kernelSet { return genericKernels }

// runnableKernels lists every kernel set this CPU can run, for tests.
func runnableKernels() []*kernelSet { return []*kernelSet{genericKernels} }
