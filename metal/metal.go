package metal

import (
	_ "embed"
	"runtime"

	"github.com/pensieve-llm/pensieve/core"
)

// kernelSource is the Metal Shading Language source of every kernel,
// compiled by the device at run time.
//
//go:embed kernels.metal
var kernelSource string

// Kernels lists the compute functions kernels.metal defines, in the order
// pipelines are built.
var Kernels = []string{
	"matmul_f32", "matmul_f16", "matmul_q8_0", "matmul_q4_0", "matmul_q4_k", "matmul_q6_k",
	"rms_norm", "rope", "softmax", "attention", "silu", "gelu", "add", "mul",
}

// Source returns the embedded Metal Shading Language source.
func Source() string { return kernelSource }

// Open returns the system's default Metal device as a core.Backend. On any
// platform other than darwin it fails with core.KindUnavailable and a
// message naming the platform.
func Open() (core.Backend, error) {
	d, err := newDevice()
	if err != nil {
		return nil, err
	}
	return d, nil
}

// platform names the running platform for error messages.
func platform() string { return runtime.GOOS + "/" + runtime.GOARCH }
