package gguf

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/internal/mmap"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// Limits from ggml (spec §1.5).
const (
	maxDims    = 4  // GGML_MAX_DIMS
	maxNameLen = 63 // GGML_MAX_NAME minus the NUL
	minKVSize  = 8 + 1 + 4 + 1
	minTIsize  = 8 + 1 + 4 + 8 + 4 + 8 // name length, 1-byte name, n_dims, one dim, type, offset
	headerSize = 4 + 4 + 8 + 8
)

// Open memory-maps the GGUF file at path read-only (on Unix; elsewhere the
// file is read through os.File) and parses its header. Nothing of the tensor
// data is read or copied. A missing file fails with core.KindNotFound, a
// malformed one with core.KindInvalid.
func Open(path string) (*File, error) {
	const op = "gguf.Open"
	fh, size, err := mmap.Open(op, path)
	if err != nil {
		return nil, err
	}
	if size < headerSize {
		fh.Close()
		return nil, core.E(core.KindInvalid, op, fmt.Errorf("%s: %w", path, formatErr(0, "file of %d bytes is shorter than the %d-byte header", size, headerSize)))
	}
	data, unmap, err := mmap.File(fh, size)
	if err != nil {
		fh.Close()
		return nil, core.E(core.KindInternal, op, fmt.Errorf("%s: map: %w", path, err))
	}
	var f *File
	if data != nil {
		// The mapping outlives the descriptor.
		fh.Close()
		f, err = parse(byteReaderAt(data), size, data)
		if err != nil {
			unmap()
			return nil, core.E(core.KindInvalid, op, fmt.Errorf("%s: %w", path, err))
		}
		f.data, f.closer = data, unmap
		return f, nil
	}
	f, err = parse(fh, size, nil)
	if err != nil {
		fh.Close()
		return nil, core.E(core.KindInvalid, op, fmt.Errorf("%s: %w", path, err))
	}
	f.r, f.closer = fh, fh.Close
	return f, nil
}

// Read parses a GGUF file of size bytes from r. Tensor data stay in r and
// are read on demand by File.Tensor, so r must stay usable while the File is
// in use. A malformed file fails with core.KindInvalid.
func Read(r io.ReaderAt, size int64) (*File, error) {
	f, err := parse(r, size, nil)
	if err != nil {
		return nil, core.E(core.KindInvalid, "gguf.Read", err)
	}
	f.r = r
	return f, nil
}

// byteReaderAt adapts a byte slice to io.ReaderAt without copying it.
type byteReaderAt []byte

func (b byteReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// parse decodes and validates the header, metadata and tensor infos (spec
// §1.1–§1.6). whole, when not nil, is the entire file.
func parse(r io.ReaderAt, size int64, whole []byte) (*File, error) {
	if size < headerSize {
		return nil, formatErr(0, "file of %d bytes is shorter than the %d-byte header", size, headerSize)
	}
	d := newDecoder(r, size, whole)
	f := &File{FileSize: size, Alignment: DefaultAlignment}
	nTensors, nKV, err := d.header(f)
	if err != nil {
		return nil, err
	}
	// Bound both counts together before allocating from either.
	if need := uint64(nKV)*minKVSize + uint64(nTensors)*minTIsize; need > uint64(d.remaining()) {
		return nil, formatErr(8, "%d metadata entries and %d tensors need at least %d bytes, %d left", nKV, nTensors, need, d.remaining())
	}
	if err := d.metadata(f, nKV); err != nil {
		return nil, err
	}
	if err := d.tensorInfos(f, nTensors); err != nil {
		return nil, err
	}
	align := int64(f.Alignment)
	f.DataOffset = (d.pos + align - 1) / align * align
	// ggml and gguf-py always write the padding before the data section,
	// even when there are no tensors.
	if f.DataOffset > size {
		return nil, formatErr(d.pos, "data section at %d (alignment %d) starts past the end of the file (%d bytes)", f.DataOffset, align, size)
	}
	if err := checkData(f); err != nil {
		return nil, err
	}
	return f, nil
}

// header reads magic, version and the two counts.
func (d *decoder) header(f *File) (nTensors, nKV int, err error) {
	b, err := d.take(4)
	if err != nil {
		return 0, 0, err
	}
	if string(b) != Magic {
		return 0, 0, formatErr(0, "bad magic %q, want %q", b, Magic)
	}
	if f.Version, err = d.u32(); err != nil {
		return 0, 0, err
	}
	switch v := f.Version; {
	case v == 2 || v == 3:
	case bits.ReverseBytes32(v) == 2 || bits.ReverseBytes32(v) == 3:
		return 0, 0, formatErr(4, "big-endian GGUF (version %d byte-swapped) is not supported", bits.ReverseBytes32(v))
	default:
		return 0, 0, formatErr(4, "unsupported GGUF version %d (want 2 or 3)", v)
	}
	if nTensors, err = d.count("tensor count", minTIsize); err != nil {
		return 0, 0, err
	}
	if nKV, err = d.count("metadata count", minKVSize); err != nil {
		return 0, 0, err
	}
	return nTensors, nKV, nil
}

// metadata reads nKV key/value pairs and applies general.alignment.
func (d *decoder) metadata(f *File, nKV int) error {
	f.KV = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for range nKV {
		at := d.pos
		key, err := d.key()
		if err != nil {
			return err
		}
		if _, dup := f.kvIndex[key]; dup {
			return &FormatError{Offset: at, Key: key, Msg: "duplicate metadata key"}
		}
		t, err := d.valueType()
		if err != nil {
			return withKey(err, key)
		}
		v, err := d.value(t)
		if err != nil {
			return withKey(err, key)
		}
		if key == KeyAlignment {
			if err := setAlignment(f, v); err != nil {
				return &FormatError{Offset: at, Key: key, Msg: err.Error()}
			}
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}
	return nil
}

// setAlignment applies spec §1.4/§1.6 item 7: a non-zero power-of-two u32.
func setAlignment(f *File, v Value) error {
	a, ok := v.V.(uint32)
	if !ok || v.Type != TypeUint32 {
		return fmt.Errorf("alignment has type %s, want uint32", typeLabel(v))
	}
	if a == 0 || a&(a-1) != 0 {
		return fmt.Errorf("alignment %d is not a non-zero power of two", a)
	}
	f.Alignment = int(a)
	return nil
}

func withKey(err error, key string) error {
	var fe *FormatError
	if errors.As(err, &fe) && fe.Key == "" {
		fe.Key = key
	}
	return err
}

// tensorInfos reads nTensors tensor infos and checks spec §1.6 item 8.
func (d *decoder) tensorInfos(f *File, nTensors int) error {
	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tensorIndex = make(map[string]int, nTensors)
	for range nTensors {
		ti, err := d.tensorInfo(f)
		if err != nil {
			return err
		}
		f.tensorIndex[ti.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	return nil
}

func (d *decoder) tensorInfo(f *File) (TensorInfo, error) {
	at := d.pos
	nb, err := d.rawString()
	if err != nil {
		return TensorInfo{}, err
	}
	name := string(nb)
	bad := func(format string, args ...any) error {
		return &FormatError{Offset: at, Tensor: name, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case len(name) == 0:
		return TensorInfo{}, bad("empty tensor name")
	case len(name) > maxNameLen:
		return TensorInfo{}, bad("tensor name of %d bytes is longer than %d", len(name), maxNameLen)
	}
	if _, dup := f.tensorIndex[name]; dup {
		return TensorInfo{}, bad("duplicate tensor name")
	}
	nDims, err := d.u32()
	if err != nil {
		return TensorInfo{}, withTensor(err, name)
	}
	if nDims == 0 || nDims > maxDims {
		return TensorInfo{}, bad("%d dimensions, want 1 to %d", nDims, maxDims)
	}
	ti := TensorInfo{Name: name, Shape: make([]int, nDims)}
	elems := uint64(1)
	for i := range ti.Shape {
		v, err := d.u64()
		if err != nil {
			return TensorInfo{}, withTensor(err, name)
		}
		if int64(v) < 0 {
			return TensorInfo{}, bad("dimension %d is negative (%d)", i, int64(v))
		}
		if v != 0 && elems > math.MaxInt64/v {
			return TensorInfo{}, bad("element count overflows int64")
		}
		elems *= v
		ti.Shape[i] = int(v)
	}
	code, err := d.u32()
	if err != nil {
		return TensorInfo{}, withTensor(err, name)
	}
	ti.Type = core.DType(code)
	if !dtype.Known(ti.Type) {
		return TensorInfo{}, bad("unknown or removed tensor type %d", code)
	}
	if bs := dtype.BlockSize(ti.Type); ti.Shape[0]%bs != 0 {
		return TensorInfo{}, bad("row length %d is not a multiple of the %s block size %d", ti.Shape[0], dtype.Name(ti.Type), bs)
	}
	size, err := dtype.Size(ti.Type, ti.Shape)
	if err != nil {
		return TensorInfo{}, bad("%v", err)
	}
	ti.Size = size
	if ti.Offset, err = d.u64(); err != nil {
		return TensorInfo{}, withTensor(err, name)
	}
	return ti, nil
}

func withTensor(err error, name string) error {
	var fe *FormatError
	if errors.As(err, &fe) && fe.Tensor == "" {
		fe.Tensor = name
	}
	return err
}

// checkData applies spec §1.6 item 9: aligned offsets, no overflow, data
// inside the file, no two tensors overlapping. Any such layout is accepted,
// not only ggml's packed order.
func checkData(f *File) error {
	align := uint64(f.Alignment)
	avail := uint64(f.FileSize - min(f.DataOffset, f.FileSize))
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
		ti := &f.Tensors[i]
		bad := func(format string, args ...any) error {
			return &FormatError{Offset: f.DataOffset + int64(min(ti.Offset, math.MaxInt64/2)), Tensor: ti.Name, Msg: fmt.Sprintf(format, args...)}
		}
		if ti.Offset%align != 0 {
			return bad("data offset %d is not a multiple of the alignment %d", ti.Offset, align)
		}
		end := ti.Offset + uint64(ti.Size)
		if end < ti.Offset {
			return bad("data offset %d plus size %d overflows", ti.Offset, ti.Size)
		}
		if end > avail {
			return bad("data [%d, %d) extend past the end of the file (data section holds %d bytes)", ti.Offset, end, avail)
		}
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	// Sweep in offset order keeping the furthest end seen; empty tensors
	// occupy no bytes and cannot overlap anything.
	var last *TensorInfo
	for _, i := range order {
		cur := &f.Tensors[i]
		if cur.Size == 0 {
			continue
		}
		if last != nil && last.Offset+uint64(last.Size) > cur.Offset {
			return &FormatError{Offset: f.DataOffset + int64(cur.Offset), Tensor: cur.Name,
				Msg: fmt.Sprintf("data overlap tensor %q at [%d, %d)", last.Name, last.Offset, last.Offset+uint64(last.Size))}
		}
		if last == nil || cur.Offset+uint64(cur.Size) > last.Offset+uint64(last.Size) {
			last = cur
		}
	}
	return nil
}
