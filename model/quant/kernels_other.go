//go:build !amd64 || purego

package quant

func bestKernels() *kernelSet { return genericKernels }
