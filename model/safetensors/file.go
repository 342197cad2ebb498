// Package safetensors reads Hugging Face SafeTensors checkpoints (spec
// gguf-and-quants.md §5.1): single files and sharded checkpoints described
// by model.safetensors.index.json. Files are memory-mapped read-only and
// tensors are zero-copy views. Every header is validated before use: a
// malformed file is reported as a *FormatError (wrapped in a core.Error of
// kind core.KindInvalid) naming the byte offset and tensor at fault.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"unicode/utf8"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/internal/mmap"
)

// MaxHeaderSize is the largest JSON header accepted, as in the reference
// implementation (safetensors/src/tensor.rs).
const MaxHeaderSize = 100_000_000

// TensorInfo describes one tensor as the header declares it.
type TensorInfo struct {
	Name  string
	DType string // the SafeTensors dtype name, e.g. "BF16", "F8_E4M3"
	Shape []int  // dimensions, outermost first (PyTorch order), as stored
	Begin int64  // start of the data, relative to File.DataOffset
	End   int64  // end of the data (exclusive), relative to File.DataOffset
}

// Size returns the tensor's byte length.
func (ti TensorInfo) Size() int64 { return ti.End - ti.Begin }

// File is one opened SafeTensors file. Its fields are read-only after Open
// or Read; a File is safe for concurrent use. Views returned by Tensor and
// Bytes alias the mapping and are invalid after Close.
type File struct {
	HeaderSize int64             // length of the JSON header
	DataOffset int64             // absolute offset of the byte buffer (8 + HeaderSize)
	FileSize   int64             // total bytes
	Metadata   map[string]string // the __metadata__ map, nil when absent
	Tensors    []TensorInfo      // in header order

	index  map[string]int
	data   []byte      // the whole file when memory-mapped
	r      io.ReaderAt // the file otherwise
	closer func() error
}

// Open memory-maps the SafeTensors file at path read-only (on Unix;
// elsewhere it is read through os.File) and parses its header. A missing
// file fails with core.KindNotFound, a malformed one with core.KindInvalid.
func Open(path string) (*File, error) {
	const op = "safetensors.Open"
	fh, size, err := mmap.Open(op, path)
	if err != nil {
		return nil, err
	}
	var data []byte
	var unmap func() error
	if size > 0 {
		if data, unmap, err = mmap.File(fh, size); err != nil {
			fh.Close()
			return nil, core.E(core.KindInternal, op, fmt.Errorf("%s: map: %w", path, err))
		}
	}
	var src io.ReaderAt = fh
	if data != nil {
		fh.Close()
		src = bytes.NewReader(data)
	}
	f, err := parse(src, size)
	if err != nil {
		if data != nil {
			unmap()
		} else {
			fh.Close()
		}
		return nil, core.E(core.KindInvalid, op, fmt.Errorf("%s: %w", path, err))
	}
	if data != nil {
		f.data, f.closer = data, unmap
	} else {
		f.r, f.closer = fh, fh.Close
	}
	return f, nil
}

// Read parses a SafeTensors file of size bytes from r. Tensor data stay in
// r and are read on demand, so r must stay usable while the File is in use.
// A malformed file fails with core.KindInvalid.
func Read(r io.ReaderAt, size int64) (*File, error) {
	f, err := parse(r, size)
	if err != nil {
		return nil, core.E(core.KindInvalid, "safetensors.Read", err)
	}
	f.r = r
	return f, nil
}

// Close releases the mapping or the open file; it is idempotent.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer, f.data, f.r = nil, nil, nil
	if err := c(); err != nil {
		return core.E(core.KindInternal, "safetensors.Close", err)
	}
	return nil
}

// TensorInfo returns the info of the named tensor.
func (f *File) TensorInfo(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// Bytes returns the raw little-endian bytes of the named tensor: a zero-copy
// view for a mapped file, a fresh buffer for one from Read. A missing name
// fails with core.KindNotFound.
func (f *File) Bytes(name string) ([]byte, error) {
	const op = "safetensors.Bytes"
	i, ok := f.index[name]
	if !ok {
		return nil, core.Errorf(core.KindNotFound, op, "no tensor %q", name)
	}
	ti := f.Tensors[i]
	start, end := f.DataOffset+ti.Begin, f.DataOffset+ti.End
	switch {
	case f.data != nil:
		return f.data[start:end:end], nil
	case f.r != nil:
		b := make([]byte, end-start)
		if n, err := f.r.ReadAt(b, start); n < len(b) {
			return nil, core.Errorf(core.KindInternal, op, "tensor %q: read %d bytes at %d: %w", name, len(b), start, err)
		}
		return b, nil
	}
	return nil, core.Errorf(core.KindInvalid, op, "tensor %q: file is closed", name)
}

// Tensor returns the named tensor as a core.Tensor: its Shape is reversed
// into ggml order (ne0, the contiguous dimension, first; a scalar becomes
// [1]) and Data is as Bytes returns it. Dtypes without a core.DType (see
// DType) fail with core.KindInvalid; read them with Bytes.
func (f *File) Tensor(name string) (*core.Tensor, error) {
	const op = "safetensors.Tensor"
	ti, ok := f.TensorInfo(name)
	if !ok {
		return nil, core.Errorf(core.KindNotFound, op, "no tensor %q", name)
	}
	dt, ok := DType(ti.DType)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, op, "tensor %q: dtype %s has no Pensieve element type", name, ti.DType)
	}
	data, err := f.Bytes(name)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(ti.Shape))
	for i, d := range ti.Shape {
		shape[len(shape)-1-i] = d
	}
	if len(shape) == 0 {
		shape = []int{1}
	}
	return &core.Tensor{Name: name, Type: dt, Shape: shape, Data: data}, nil
}

// entry is one tensor's header object.
type entry struct {
	DType   *string  `json:"dtype"`
	Shape   *[]int64 `json:"shape"`
	Offsets *[]int64 `json:"data_offsets"`
}

// parse reads and validates the header (spec §5.1).
func parse(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, formatErr(0, "", "file of %d bytes is shorter than the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, formatErr(0, "", "read header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	switch {
	case n > MaxHeaderSize:
		return nil, formatErr(0, "", "header length %d exceeds the limit of %d", n, MaxHeaderSize)
	case n > uint64(size-8):
		return nil, formatErr(0, "", "header length %d extends beyond the file (%d bytes follow the length)", n, size-8)
	case n < 2:
		return nil, formatErr(0, "", "header length %d cannot hold a JSON object", n)
	}
	hdr := make([]byte, n)
	if k, err := r.ReadAt(hdr, 8); k < len(hdr) {
		return nil, formatErr(8, "", "read header: %v", err)
	}
	if !utf8.Valid(hdr) {
		return nil, formatErr(8, "", "header is not valid UTF-8")
	}
	if hdr[0] != '{' {
		return nil, formatErr(8, "", "header does not start with '{'")
	}
	f := &File{HeaderSize: int64(n), DataOffset: 8 + int64(n), FileSize: size}
	if err := f.decodeHeader(hdr); err != nil {
		return nil, err
	}
	if err := f.checkLayout(); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeHeader walks the top-level object so that duplicate keys are seen
// (encoding/json would silently keep the last one).
func (f *File) decodeHeader(hdr []byte) error {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	jsonErr := func(err error) error {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		return formatErr(8+off, "", "header JSON: %v", err)
	}
	if _, err := dec.Token(); err != nil { // the '{' checked by the caller
		return jsonErr(err)
	}
	f.index = map[string]int{}
	seenMeta := false
	for dec.More() {
		at := 8 + dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return jsonErr(err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return jsonErr(err)
		}
		if _, dup := f.index[name]; dup || (name == "__metadata__" && seenMeta) {
			return formatErr(at, name, "duplicate key in header")
		}
		if name == "__metadata__" {
			seenMeta = true
			if err := json.Unmarshal(raw, &f.Metadata); err != nil {
				return formatErr(at, "", "__metadata__ is not a map of strings: %v", err)
			}
			continue
		}
		ti, err := tensorEntry(name, raw)
		if err != nil {
			return formatErr(at, name, "%v", err)
		}
		f.index[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return jsonErr(err)
	}
	// Writers pad the header with spaces; anything else after the object is
	// an error.
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimRight(rest, " \t\r\n")) != 0 {
		return formatErr(8+dec.InputOffset(), "", "data after the header object")
	}
	return nil
}

// tensorEntry decodes and checks one tensor's header object: a known dtype,
// non-negative dimensions, two ordered offsets and a byte length equal to
// elements × dtype size.
func tensorEntry(name string, raw json.RawMessage) (TensorInfo, error) {
	if name == "" {
		return TensorInfo{}, errors.New("empty tensor name")
	}
	var e entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return TensorInfo{}, fmt.Errorf("bad tensor entry: %v", err)
	}
	switch {
	case e.DType == nil || e.Shape == nil || e.Offsets == nil:
		return TensorInfo{}, errors.New("entry needs dtype, shape and data_offsets")
	case !Known(*e.DType):
		return TensorInfo{}, fmt.Errorf("unknown dtype %q", *e.DType)
	case len(*e.Offsets) != 2:
		return TensorInfo{}, fmt.Errorf("data_offsets has %d values, want 2", len(*e.Offsets))
	}
	ti := TensorInfo{Name: name, DType: *e.DType, Shape: make([]int, len(*e.Shape))}
	ti.Begin, ti.End = (*e.Offsets)[0], (*e.Offsets)[1]
	if ti.Begin < 0 || ti.End < ti.Begin {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d] are not an ordered non-negative range", ti.Begin, ti.End)
	}
	elems := uint64(1)
	for i, d := range *e.Shape {
		if d < 0 {
			return TensorInfo{}, fmt.Errorf("dimension %d is negative (%d)", i, d)
		}
		hi, lo := bits.Mul64(elems, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return TensorInfo{}, fmt.Errorf("element count of shape %v overflows", *e.Shape)
		}
		elems = lo
		ti.Shape[i] = int(d)
	}
	b := uint64(dtypes[ti.DType].bits)
	hi, nbits := bits.Mul64(elems, b)
	if hi != 0 || nbits%8 != 0 {
		return TensorInfo{}, fmt.Errorf("%d elements of %s do not fill whole bytes", elems, ti.DType)
	}
	if want := nbits / 8; uint64(ti.Size()) != want {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, shape %v of %s needs %d", ti.Begin, ti.End, ti.Size(), ti.Shape, ti.DType, want)
	}
	return ti, nil
}

// checkLayout requires the tensors to tile the byte buffer exactly: sorted
// by offset, each begins where the previous ended (no overlap, no gap), and
// the last ends at the end of the file, as the reference library does.
func (f *File) checkLayout() error {
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		x, y := f.Tensors[order[a]], f.Tensors[order[b]]
		return x.Begin < y.Begin || x.Begin == y.Begin && x.End < y.End
	})
	var end int64
	prev := ""
	for _, i := range order {
		ti := f.Tensors[i]
		switch {
		case ti.Begin < end:
			return formatErr(f.DataOffset+ti.Begin, ti.Name, "data [%d, %d) overlap tensor %q ending at %d", ti.Begin, ti.End, prev, end)
		case ti.Begin > end:
			return formatErr(f.DataOffset+end, ti.Name, "gap of %d bytes before the data at %d", ti.Begin-end, ti.Begin)
		}
		if ti.End > end || prev == "" {
			end, prev = ti.End, ti.Name
		}
	}
	if buf := f.FileSize - f.DataOffset; end != buf {
		return formatErr(f.DataOffset+min(end, buf), prev, "tensor data end at %d but the buffer holds %d bytes", end, buf)
	}
	return nil
}
