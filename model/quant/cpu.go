package quant

import (
	"math"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// CPU is the core.Backend (and core.Normer) that runs this package's kernels
// on a worker pool. It is safe for concurrent use (concurrent products are
// serialized by the pool).
type CPU struct {
	pool  *parallel.Pool
	owned bool // the pool was created by NewCPU and is closed by Close
}

var (
	_ core.Backend = (*CPU)(nil)
	_ core.Normer  = (*CPU)(nil)
)

// CPUOption configures a CPU backend.
type CPUOption func(*cpuOptions)

type cpuOptions struct {
	threads int
	pool    *parallel.Pool
	shared  bool // pool was given by the caller
}

// WithThreads sets the number of threads of the backend's own pool; n ≤ 0
// (the default) means runtime.GOMAXPROCS(0).
func WithThreads(n int) CPUOption { return func(o *cpuOptions) { o.threads = n } }

// WithPool makes the backend use p instead of a pool of its own; the caller
// keeps owning p (Close does not close it). A nil p runs everything on the
// calling goroutine.
func WithPool(p *parallel.Pool) CPUOption {
	return func(o *cpuOptions) { o.pool, o.shared = p, true }
}

// NewCPU returns a CPU backend. Without options it starts a pool with one
// worker per available core.
func NewCPU(opts ...CPUOption) *CPU {
	var o cpuOptions
	for _, f := range opts {
		f(&o)
	}
	if o.shared {
		return &CPU{pool: o.pool}
	}
	return &CPU{pool: parallel.New(o.threads), owned: true}
}

// Pool returns the worker pool the backend runs on (nil: the caller's
// goroutine alone). Callers may run their own tasks on it; it stays owned
// by whoever owned it before.
func (c *CPU) Pool() *parallel.Pool { return c.pool }

// Name returns "cpu".
func (c *CPU) Name() string { return "cpu" }

// MatMul computes out = x · wᵀ (see the package function MatMul).
func (c *CPU) MatMul(out []float32, w *core.Tensor, x []float32, n int) error {
	return MatMul(out, w, x, n, c.pool)
}

// MatMulMulti computes several products sharing one input in one pass
// (see the package function MatMulMulti).
func (c *CPU) MatMulMulti(outs [][]float32, ws []*core.Tensor, x []float32, n int) error {
	return MatMulMulti(outs, ws, x, n, c.pool)
}

// RMSNorm normalizes each row of len(weight) values of x into out the way
// ggml does (spec §6.2): the sum of squares in float64 (each square rounded
// to float32), mean rounded to float32, scale = 1/sqrtf(mean + eps), then
// x·scale and, as a separate rounding, ·weight. out and x may be the same
// slice.
func (c *CPU) RMSNorm(out, x, weight []float32, eps float32) error {
	return RMSNorm(out, x, weight, eps)
}

// RMSNorm is CPU.RMSNorm without a backend; see there.
func RMSNorm(out, x, weight []float32, eps float32) error {
	const op = "quant.RMSNorm"
	n := len(weight)
	switch {
	case n == 0:
		return core.Errorf(core.KindInvalid, op, "empty weight")
	case len(x)%n != 0:
		return core.Errorf(core.KindInvalid, op, "%d values are not whole rows of %d", len(x), n)
	case len(out) < len(x):
		return core.Errorf(core.KindInvalid, op, "out holds %d values, need %d", len(out), len(x))
	}
	for r := 0; r < len(x); r += n {
		row, dst := x[r:r+n], out[r:r+n]
		var sum float64
		for _, v := range row {
			sum += float64(v * v)
		}
		mean := float32(sum / float64(n))
		scale := 1 / float32(math.Sqrt(float64(mean+eps)))
		for i, v := range row {
			dst[i] = float32(v*scale) * weight[i]
		}
	}
	return nil
}

// Close stops the backend's own pool (not one given with WithPool). The
// backend keeps working afterwards, single-threaded.
func (c *CPU) Close() error {
	if c.owned {
		c.pool.Close()
	}
	return nil
}
