package core

// DType is a tensor element type. Values are ggml's type codes as stored in
// GGUF files (see ggml.h), so a GGUF tensor's type needs no translation.
type DType uint32

// The element types Pensieve reads. Codes follow ggml.
const (
	F32    DType = 0
	F16    DType = 1
	Q4_0   DType = 2
	Q4_1   DType = 3
	Q5_0   DType = 6
	Q5_1   DType = 7
	Q8_0   DType = 8
	Q8_1   DType = 9
	Q2_K   DType = 10
	Q3_K   DType = 11
	Q4_K   DType = 12
	Q5_K   DType = 13
	Q6_K   DType = 14
	Q8_K   DType = 15
	IQ4_NL DType = 20
	I8     DType = 24
	I16    DType = 25
	I32    DType = 26
	I64    DType = 27
	F64    DType = 28
	IQ4_XS DType = 23
	BF16   DType = 30
)

// Tensor is a read-only view of a weight tensor. Shape lists dimensions in
// ggml order: Shape[0] (ne0) is the contiguous row length. Data aliases the
// model file (usually memory-mapped) and must never be written.
type Tensor struct {
	Name  string
	Type  DType
	Shape []int  // ne0 first
	Data  []byte // row-major blocks of Type; aliases the file
}

// Rows returns the number of rows (the product of Shape[1:]).
func (t *Tensor) Rows() int {
	n := 1
	for _, d := range t.Shape[1:] {
		n *= d
	}
	return n
}

// Backend performs the heavy math of a forward pass on some device: the CPU
// kernels in model, or a GPU (metal). Optional operations are expressed as
// separate interfaces a backend may also implement (see Normer).
//
// A Backend is safe for concurrent use; each call is synchronous: when it
// returns, out holds the result and the backend retains no argument.
type Backend interface {
	// Name returns the device name, e.g. "cpu" or "metal:Apple M2".
	Name() string

	// MatMul computes out = x · wᵀ: x is (n, w.Shape[0]) row-major float32,
	// w is (w.Rows(), w.Shape[0]) of any supported DType, out is
	// (n, w.Rows()). Unsupported types fail with KindInvalid.
	MatMul(out []float32, w *Tensor, x []float32, n int) error

	// Close releases device resources.
	Close() error
}

// Normer is a Backend that also computes RMS normalisation:
// out[r] = x[r] / sqrt(mean(x[r]²) + eps) * weight, for each row r of
// len(weight) values.
type Normer interface {
	RMSNorm(out, x, weight []float32, eps float32) error
}
