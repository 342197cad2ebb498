package gguf

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"unicode/utf8"
	"unsafe"
)

// decoder reads the packed header of a GGUF file (spec §1.1) from an
// io.ReaderAt of known size. It keeps a window of the file in buf; for a
// memory-mapped file the window is the whole mapping and is never refilled.
// Every length is checked against the bytes left in the file before anything
// is allocated from it.
type decoder struct {
	r      io.ReaderAt
	size   int64  // file size
	buf    []byte // window of the file starting at bufOff
	bufOff int64
	pos    int64 // absolute offset of the next byte to decode
	fixed  bool  // buf is the whole (read-only) file and must never be refilled
	arena  []byte
}

// windowSize is how much a ReaderAt-backed decoder reads at a time.
const windowSize = 1 << 16

func newDecoder(r io.ReaderAt, size int64, whole []byte) *decoder {
	d := &decoder{r: r, size: size}
	if whole != nil {
		d.buf, d.fixed = whole, true
	}
	return d
}

// errEOF reports a read past the end of the file.
var errEOF = errors.New("unexpected end of file")

func (d *decoder) remaining() int64 { return d.size - d.pos }

// take returns the next n bytes and advances. The slice is valid until the
// next call. It fails without reading when fewer than n bytes are left.
func (d *decoder) take(n int64) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, formatErr(d.pos, "%d bytes needed, %d left in the file: %v", n, d.remaining(), errEOF)
	}
	start := d.pos - d.bufOff
	if start < 0 || start+n > int64(len(d.buf)) {
		if err := d.fill(n); err != nil {
			return nil, err
		}
		start = 0
	}
	d.pos += n
	return d.buf[start : start+n], nil
}

// fill loads a window of at least n bytes at d.pos; n is already known to fit
// in the file.
func (d *decoder) fill(n int64) error {
	if d.fixed {
		return formatErr(d.pos, "window of %d bytes outside the mapped file", n)
	}
	want := max(n, windowSize)
	want = min(want, d.remaining())
	if int64(cap(d.buf)) < want {
		d.buf = make([]byte, want)
	}
	d.buf = d.buf[:want]
	if _, err := d.r.ReadAt(d.buf, d.pos); err != nil && !(errors.Is(err, io.EOF)) {
		d.buf = d.buf[:0]
		return formatErr(d.pos, "read: %v", err)
	}
	d.bufOff = d.pos
	return nil
}

func (d *decoder) u8() (uint8, error) {
	b, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *decoder) u16() (uint16, error) {
	b, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64() (uint64, error) {
	b, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a 64-bit element count and bounds it by the bytes left: each
// element needs at least minSize bytes (spec §1.6 items 3 and 4).
func (d *decoder) count(what string, minSize int64) (int, error) {
	at := d.pos
	v, err := d.u64()
	if err != nil {
		return 0, err
	}
	if int64(v) < 0 {
		return 0, formatErr(at, "%s %d is negative as int64", what, int64(v))
	}
	if left := d.remaining(); minSize > 0 && v > uint64(left/minSize) {
		return 0, formatErr(at, "%s %d cannot fit in the %d bytes left", what, v, left)
	}
	if v > math.MaxInt {
		return 0, formatErr(at, "%s %d overflows", what, v)
	}
	return int(v), nil
}

// rawString reads a string's bytes; the slice is valid until the next read.
func (d *decoder) rawString() ([]byte, error) {
	n, err := d.count("string length", 1)
	if err != nil {
		return nil, err
	}
	return d.take(int64(n))
}

// arenaChunk is the allocation unit for decoded strings: a 128k-token
// vocabulary becomes a few hundred allocations instead of 400,000.
const arenaChunk = 1 << 16

// str reads a string value. Short strings are copied into a shared arena
// that is never written again, so sharing its memory between strings is safe.
func (d *decoder) str() (string, error) {
	b, err := d.rawString()
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", nil
	}
	if len(b) > arenaChunk/8 {
		return string(b), nil
	}
	if len(d.arena)+len(b) > cap(d.arena) {
		d.arena = make([]byte, 0, arenaChunk)
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	s := d.arena[start:len(d.arena):len(d.arena)]
	return unsafe.String(&s[0], len(s)), nil
}

// key reads a metadata key and checks spec §1.6 item 5 (empty, not UTF-8,
// longer than 65535 bytes).
func (d *decoder) key() (string, error) {
	at := d.pos
	b, err := d.rawString()
	if err != nil {
		return "", err
	}
	switch {
	case len(b) == 0:
		return "", formatErr(at, "empty metadata key")
	case len(b) > math.MaxUint16:
		return "", formatErr(at, "metadata key of %d bytes is longer than 65535", len(b))
	case !utf8.Valid(b):
		return "", formatErr(at, "metadata key %q is not valid UTF-8", b)
	}
	return string(b), nil
}

// valueType reads a 4-byte value type code and rejects unknown codes.
func (d *decoder) valueType() (ValueType, error) {
	at := d.pos
	v, err := d.u32()
	if err != nil {
		return 0, err
	}
	if ValueType(v) >= typeCount {
		return 0, formatErr(at, "unknown value type %d", v)
	}
	return ValueType(v), nil
}

// value reads one value of type t.
func (d *decoder) value(t ValueType) (Value, error) {
	if t == TypeArray {
		return d.array()
	}
	if t == TypeString {
		s, err := d.str()
		return Value{Type: t, V: s}, err
	}
	at := d.pos
	b, err := d.take(int64(t.size()))
	if err != nil {
		return Value{}, err
	}
	v, err := scalar(t, b)
	if err != nil {
		return Value{}, formatErr(at, "%v", err)
	}
	return Value{Type: t, V: v}, nil
}

// scalar decodes a fixed-size scalar of type t from b (len(b) == t.size()).
func scalar(t ValueType, b []byte) (any, error) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeUint16:
		return le.Uint16(b), nil
	case TypeInt16:
		return int16(le.Uint16(b)), nil
	case TypeUint32:
		return le.Uint32(b), nil
	case TypeInt32:
		return int32(le.Uint32(b)), nil
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case TypeBool:
		return boolByte(b[0])
	case TypeUint64:
		return le.Uint64(b), nil
	case TypeInt64:
		return int64(le.Uint64(b)), nil
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b)), nil
	}
	return nil, errors.New("not a scalar type " + t.String())
}

// boolByte accepts only 0 and 1 (spec §1.6 item 6, strict mode).
func boolByte(c byte) (bool, error) {
	switch c {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, errors.New("bool byte is not 0 or 1")
}

// array reads an array value: element type, count, elements (spec §1.2).
func (d *decoder) array() (Value, error) {
	at := d.pos
	et, err := d.valueType()
	if err != nil {
		return Value{}, err
	}
	if et == TypeArray {
		return Value{}, formatErr(at, "nested arrays are not supported")
	}
	minSize := int64(et.size())
	if et == TypeString {
		minSize = 8
	}
	n, err := d.count("array length", minSize)
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: TypeArray, Elem: et}
	if et == TypeString {
		a := make([]string, n)
		for i := range a {
			if a[i], err = d.str(); err != nil {
				return Value{}, err
			}
		}
		v.V = a
		return v, nil
	}
	at = d.pos
	b, err := d.take(int64(n) * minSize)
	if err != nil {
		return Value{}, err
	}
	if v.V, err = scalars(et, b, n); err != nil {
		return Value{}, formatErr(at, "%v", err)
	}
	return v, nil
}

// scalars decodes n packed little-endian scalars of type t from b.
func scalars(t ValueType, b []byte, n int) (any, error) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return append([]uint8(nil), b...), nil
	case TypeInt8:
		a := make([]int8, n)
		for i := range a {
			a[i] = int8(b[i])
		}
		return a, nil
	case TypeBool:
		a := make([]bool, n)
		for i := range a {
			v, err := boolByte(b[i])
			if err != nil {
				return nil, err
			}
			a[i] = v
		}
		return a, nil
	case TypeUint16:
		a := make([]uint16, n)
		for i := range a {
			a[i] = le.Uint16(b[2*i:])
		}
		return a, nil
	case TypeInt16:
		a := make([]int16, n)
		for i := range a {
			a[i] = int16(le.Uint16(b[2*i:]))
		}
		return a, nil
	case TypeUint32:
		a := make([]uint32, n)
		for i := range a {
			a[i] = le.Uint32(b[4*i:])
		}
		return a, nil
	case TypeInt32:
		a := make([]int32, n)
		for i := range a {
			a[i] = int32(le.Uint32(b[4*i:]))
		}
		return a, nil
	case TypeFloat32:
		a := make([]float32, n)
		for i := range a {
			a[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return a, nil
	case TypeUint64:
		a := make([]uint64, n)
		for i := range a {
			a[i] = le.Uint64(b[8*i:])
		}
		return a, nil
	case TypeInt64:
		a := make([]int64, n)
		for i := range a {
			a[i] = int64(le.Uint64(b[8*i:]))
		}
		return a, nil
	case TypeFloat64:
		a := make([]float64, n)
		for i := range a {
			a[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return a, nil
	}
	return nil, errors.New("not a scalar type " + t.String())
}
