//go:build !unix

package quant

// cpuSeconds is not measured here; benchmarks then report 0.
func cpuSeconds() float64 { return 0 }
