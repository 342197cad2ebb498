package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
)

// Writer builds a GGUF v3 file in ggml's exact layout (spec §1.4): header,
// metadata in insertion order, tensor infos in insertion order, zero padding
// to the alignment, then each tensor's data followed by zero padding, so
// tensor k sits at the sum of the aligned sizes of the tensors before it.
// A Writer is not safe for concurrent use.
type Writer struct {
	kv      []KV
	kvIndex map[string]int
	tensors []wtensor
	names   map[string]bool
	align   int
}

type wtensor struct {
	info TensorInfo
	data []byte
	fill func(dst []byte) error // produces data at write time when data is nil
}

// NewWriter returns an empty Writer with the default alignment.
func NewWriter() *Writer {
	return &Writer{kvIndex: map[string]int{}, names: map[string]bool{}, align: DefaultAlignment}
}

// WriterFrom returns a Writer holding f's metadata (types included) and
// tensors, both in f's order, ready for edits: SetKV on an existing key
// keeps its position, AddTensor appends. The tensor data alias f, which must
// stay open until the Writer has written.
func WriterFrom(f *File) (*Writer, error) {
	const op = "gguf.WriterFrom"
	w := NewWriter()
	for _, kv := range f.KV {
		if err := w.SetKV(kv.Key, kv.Value); err != nil {
			return nil, core.Errorf(core.KindInvalid, op, "%w", err)
		}
	}
	for _, ti := range f.Tensors {
		t, err := f.Tensor(ti.Name)
		if err != nil {
			return nil, core.Errorf(core.KindInvalid, op, "%w", err)
		}
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, t.Data); err != nil {
			return nil, core.Errorf(core.KindInvalid, op, "%w", err)
		}
	}
	return w, nil
}

// SetKV sets the metadata value of key. v is a Go value that ValueOf
// accepts (uint32, int32, float32, bool, string, []string, []float32,
// []int32, uint64, …) or a Value. A new key goes after the existing ones; an
// existing key keeps its position and gets the new value. Setting
// general.alignment to a power-of-two uint32 changes the data alignment.
func (w *Writer) SetKV(key string, v any) error {
	const op = "gguf.SetKV"
	if key == "" || len(key) > math.MaxUint16 {
		return core.Errorf(core.KindInvalid, op, "metadata key of %d bytes", len(key))
	}
	val, err := ValueOf(v)
	if err != nil {
		return core.Errorf(core.KindInvalid, op, "key %q: %w", key, err)
	}
	if key == KeyAlignment {
		var f File
		if err := setAlignment(&f, val); err != nil {
			return core.Errorf(core.KindInvalid, op, "key %q: %w", key, err)
		}
		w.align = f.Alignment
	}
	if i, ok := w.kvIndex[key]; ok {
		w.kv[i].Value = val
		return nil
	}
	w.kvIndex[key] = len(w.kv)
	w.kv = append(w.kv, KV{Key: key, Value: val})
	return nil
}

// AddTensor appends a tensor. shape lists 1 to 4 dimensions, ne0 first;
// data must hold exactly the tensor's bytes and is not copied: it must not
// change until the file is written.
func (w *Writer) AddTensor(name string, typ core.DType, shape []int, data []byte) error {
	ti, err := w.newTensor("gguf.AddTensor", name, typ, shape)
	if err != nil {
		return err
	}
	if int64(len(data)) != ti.Size {
		return core.Errorf(core.KindInvalid, "gguf.AddTensor", "tensor %q: %d bytes of data, %s %v needs %d", name, len(data), dtype.Name(typ), shape, ti.Size)
	}
	if data == nil {
		data = []byte{}
	}
	w.tensors = append(w.tensors, wtensor{info: ti, data: data})
	return nil
}

// AddTensorFunc appends a tensor whose bytes are produced while the file is
// written, so a large model never has to be in memory at once. fill is
// called once per write, in tensor order, with a buffer of exactly the
// tensor's size (reused between tensors: fill must not retain it); an error
// from fill aborts the write.
func (w *Writer) AddTensorFunc(name string, typ core.DType, shape []int, fill func(dst []byte) error) error {
	ti, err := w.newTensor("gguf.AddTensorFunc", name, typ, shape)
	if err != nil {
		return err
	}
	if fill == nil {
		return core.Errorf(core.KindInvalid, "gguf.AddTensorFunc", "tensor %q: nil fill function", name)
	}
	w.tensors = append(w.tensors, wtensor{info: ti, fill: fill})
	return nil
}

// newTensor validates a tensor declaration and reserves its name.
func (w *Writer) newTensor(op, name string, typ core.DType, shape []int) (TensorInfo, error) {
	switch {
	case name == "" || len(name) > maxNameLen:
		return TensorInfo{}, core.Errorf(core.KindInvalid, op, "tensor name %q must have 1 to %d bytes", name, maxNameLen)
	case w.names[name]:
		return TensorInfo{}, core.Errorf(core.KindInvalid, op, "duplicate tensor %q", name)
	case len(shape) == 0 || len(shape) > maxDims:
		return TensorInfo{}, core.Errorf(core.KindInvalid, op, "tensor %q: %d dimensions, want 1 to %d", name, len(shape), maxDims)
	}
	size, err := dtype.Size(typ, shape)
	if err != nil {
		return TensorInfo{}, core.Errorf(core.KindInvalid, op, "tensor %q: %w", name, err)
	}
	w.names[name] = true
	return TensorInfo{Name: name, Type: typ, Shape: append([]int(nil), shape...), Size: size}, nil
}

// WriteTo writes the file to out and returns the bytes written.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	cw := &countWriter{w: out}
	bw := bufio.NewWriterSize(cw, 1<<20)
	e := &encoder{w: bw}
	e.bytes([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kv)))
	for _, kv := range w.kv {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value)
	}
	align := uint64(w.align)
	var off uint64
	for i := range w.tensors {
		ti := &w.tensors[i].info
		ti.Offset = off
		e.str(ti.Name)
		e.u32(uint32(len(ti.Shape)))
		for _, d := range ti.Shape {
			e.u64(uint64(d))
		}
		e.u32(uint32(ti.Type))
		e.u64(off)
		off += roundUp(uint64(ti.Size), align)
	}
	e.pad(align)
	var scratch []byte
	for _, t := range w.tensors {
		data := t.data
		if data == nil && e.err == nil {
			if int64(cap(scratch)) < t.info.Size {
				scratch = make([]byte, t.info.Size)
			}
			data = scratch[:t.info.Size]
			clear(data)
			if err := t.fill(data); err != nil {
				e.err = fmt.Errorf("tensor %q: %w", t.info.Name, err)
			}
		}
		e.bytes(data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		var ce *core.Error
		if errors.As(e.err, &ce) {
			return cw.n, e.err
		}
		return cw.n, core.E(core.KindInternal, "gguf.WriteTo", e.err)
	}
	return cw.n, nil
}

// WriteFile writes the file to path atomically: it writes a temporary file
// in the same directory and renames it over path, so a failure leaves no
// partial file behind.
func (w *Writer) WriteFile(path string) (err error) {
	const op = "gguf.WriteFile"
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return core.E(core.KindInvalid, op, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = w.WriteTo(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return core.E(core.KindInternal, op, err)
	}
	if err = tmp.Close(); err != nil {
		return core.E(core.KindInternal, op, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return core.E(core.KindInternal, op, err)
	}
	return nil
}

func roundUp(n, align uint64) uint64 { return (n + align - 1) / align * align }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian fields and remembers the first error.
type encoder struct {
	w       *bufio.Writer
	written uint64
	scratch [8]byte
	err     error
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	_, e.err = e.w.Write(b)
	e.written += uint64(len(b))
}

func (e *encoder) u8(v uint8) { e.bytes([]byte{v}) }

func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.scratch[:], v)
	e.bytes(e.scratch[:2])
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.scratch[:], v)
	e.bytes(e.scratch[:4])
}

func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.scratch[:], v)
	e.bytes(e.scratch[:8])
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
		e.written += uint64(len(s))
	}
}

var zeros [256]byte

func (e *encoder) pad(align uint64) {
	n := roundUp(e.written, align) - e.written
	for n > 0 {
		k := min(n, uint64(len(zeros)))
		e.bytes(zeros[:k])
		n -= k
	}
}

// value writes v's payload (its type code is written by the caller).
func (e *encoder) value(v Value) {
	if v.Type != TypeArray {
		e.scalar(v.V)
		return
	}
	e.u32(uint32(v.Elem))
	e.u64(uint64(v.Len()))
	switch a := v.V.(type) {
	case []string:
		for _, s := range a {
			e.str(s)
		}
	case []uint8:
		e.bytes(a)
	case []int8:
		eachScalar(e, a)
	case []uint16:
		eachScalar(e, a)
	case []int16:
		eachScalar(e, a)
	case []uint32:
		eachScalar(e, a)
	case []int32:
		eachScalar(e, a)
	case []float32:
		eachScalar(e, a)
	case []bool:
		eachScalar(e, a)
	case []uint64:
		eachScalar(e, a)
	case []int64:
		eachScalar(e, a)
	case []float64:
		eachScalar(e, a)
	default:
		e.fail(a)
	}
}

func eachScalar[T any](e *encoder, a []T) {
	for _, x := range a {
		e.scalar(x)
	}
}

func (e *encoder) scalar(x any) {
	switch x := x.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	default:
		e.fail(x)
	}
}

// fail records an impossible value type; SetKV checks types, so this only
// fires if a caller built a Value by hand past ValueOf.
func (e *encoder) fail(x any) {
	if e.err == nil {
		e.err = fmt.Errorf("cannot encode metadata value of type %T", x)
	}
}
