//go:build !amd64

package quant

func bestKernels() *kernelSet { return genericKernels }
