// Package gguf reads and writes GGUF files, the model container of ggml and
// llama.cpp (spec gguf-and-quants.md §1). Open memory-maps a file read-only
// and exposes tensor data as zero-copy views; Read parses any io.ReaderAt.
// Every length, count and offset in the file is validated before use, and a
// malformed file is reported as a *FormatError (wrapped in a core.Error of
// kind core.KindInvalid) that names the byte offset, key or tensor at fault.
package gguf

import (
	"io"
	"math"

	"github.com/pensieve-llm/pensieve/core"
)

// DefaultAlignment is the data alignment when general.alignment is absent
// (GGUF_DEFAULT_ALIGNMENT, spec §1.4).
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides DefaultAlignment.
const KeyAlignment = "general.alignment"

// KV is one metadata entry, in file order.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor as the file declares it.
type TensorInfo struct {
	Name   string
	Type   core.DType
	Shape  []int  // dimensions, ne0 (the contiguous one) first, as stored
	Offset uint64 // start of the data, relative to File.DataOffset
	Size   int64  // bytes of data (dtype.Size of Type and Shape)
}

// File is an opened GGUF file. Its fields are read-only after Open or Read;
// a File is safe for concurrent use. Tensor views alias the mapping and are
// invalid after Close.
type File struct {
	Version    uint32       // 2 or 3
	Alignment  int          // data alignment in bytes
	DataOffset int64        // absolute offset of the data section
	KV         []KV         // metadata in file order
	Tensors    []TensorInfo // tensor infos in file order
	FileSize   int64        // total bytes

	kvIndex     map[string]int
	tensorIndex map[string]int
	data        []byte      // the whole file when memory-mapped (or held in memory)
	r           io.ReaderAt // the file otherwise
	closer      func() error
}

// Close releases the mapping or the open file. Tensor data obtained from
// the File must not be used afterwards. Close is idempotent.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer, f.data = nil, nil
	if err := c(); err != nil {
		return core.E(core.KindInternal, "gguf.Close", err)
	}
	return nil
}

// Get returns the metadata value stored under key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Architecture returns general.architecture, or "" when it is absent.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.V.(string)
	return s, ok
}

// Uint returns an integer value of any integer type whose value is not
// negative.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asUint(v.V)
}

// Int returns an integer value of any integer type that fits in an int64.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asInt(v.V)
}

// Float returns a float32 or float64 value, or an integer value converted to
// float64.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	switch x := v.V.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if i, ok := asInt(v.V); ok {
		return float64(i), true
	}
	if u, ok := asUint(v.V); ok {
		return float64(u), true
	}
	return 0, false
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.Get(key)
	if !ok {
		return false, false
	}
	b, ok := v.V.(bool)
	return b, ok
}

// Strings returns an array of strings. The slice is shared; do not modify it.
func (f *File) Strings(key string) ([]string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	a, ok := v.V.([]string)
	return a, ok
}

// Float32s returns an array of float32 (shared; do not modify it), or a
// float64 array converted to float32.
func (f *File) Float32s(key string) ([]float32, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	switch a := v.V.(type) {
	case []float32:
		return a, true
	case []float64:
		out := make([]float32, len(a))
		for i, x := range a {
			out[i] = float32(x)
		}
		return out, true
	}
	return nil, false
}

// Int32s returns an integer array widened or copied to int32: int32 arrays
// are returned shared (do not modify them); int8, uint8, int16, uint16,
// uint32, int64 and uint64 arrays are converted when every element fits.
func (f *File) Int32s(key string) ([]int32, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	switch a := v.V.(type) {
	case []int32:
		return a, true
	case []int8:
		return widen(a)
	case []uint8:
		return widen(a)
	case []int16:
		return widen(a)
	case []uint16:
		return widen(a)
	case []uint32:
		return widen(a)
	case []int64:
		return widen(a)
	case []uint64:
		return widen(a)
	}
	return nil, false
}

type integer interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

func widen[T integer](a []T) ([]int32, bool) {
	out := make([]int32, len(a))
	for i, x := range a {
		if int64(x) < math.MinInt32 || int64(x) > math.MaxInt32 || (x > 0 && uint64(x) > math.MaxInt32) {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}

func asUint(x any) (uint64, bool) {
	switch x := x.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := asInt(x); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

func asInt(x any) (int64, bool) {
	switch x := x.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// TensorInfo returns the info of the named tensor.
func (f *File) TensorInfo(name string) (TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// Tensor returns the named tensor. For a memory-mapped file (Open) its Data
// is a zero-copy view of the mapping, valid until Close; for a File from
// Read the data are read from the io.ReaderAt into a new buffer. A missing
// name fails with core.KindNotFound.
func (f *File) Tensor(name string) (*core.Tensor, error) {
	const op = "gguf.Tensor"
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, core.Errorf(core.KindNotFound, op, "no tensor %q", name)
	}
	ti := &f.Tensors[i]
	start := f.DataOffset + int64(ti.Offset)
	t := &core.Tensor{Name: ti.Name, Type: ti.Type, Shape: append([]int(nil), ti.Shape...)}
	switch {
	case f.data != nil:
		t.Data = f.data[start : start+ti.Size : start+ti.Size]
	case f.r != nil:
		t.Data = make([]byte, ti.Size)
		if n, err := f.r.ReadAt(t.Data, start); n < len(t.Data) {
			return nil, core.Errorf(core.KindInternal, op, "tensor %q: read %d bytes at %d: %w", name, ti.Size, start, err)
		}
	default:
		return nil, core.Errorf(core.KindInvalid, op, "tensor %q: file is closed", name)
	}
	return t, nil
}
