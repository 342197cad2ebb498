package gguf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// copyFile rebuilds f with a Writer: same metadata (types included) in the
// same order, same tensors in the same order (WriterFrom).
func copyFile(t testing.TB, f *File) *Writer {
	t.Helper()
	w, err := WriterFrom(f)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestRewriteFixturesByteExact proves the writer emits ggml's layout: every
// fixture (written by llama.cpp's tools) is reproduced byte for byte.
func TestRewriteFixturesByteExact(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(fixtures.Dir(t), "models", "*.gguf"))
	if len(paths) == 0 {
		t.Fatal("no fixture models")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var buf bytes.Buffer
			n, err := copyFile(t, f).WriteTo(&buf)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) || !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("rewritten file differs: %d bytes (reported %d), original %d, first difference at %d",
					buf.Len(), n, len(want), firstDiff(buf.Bytes(), want))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// everyType sets one value of every scalar and array type.
func everyType(t testing.TB, w *Writer) map[string]any {
	t.Helper()
	vals := map[string]any{}
	set := func(k string, v any) {
		if err := w.SetKV(k, v); err != nil {
			t.Fatal(err)
		}
		vals[k] = v
	}
	set("t.u8", uint8(200))
	set("t.i8", int8(-100))
	set("t.u16", uint16(60000))
	set("t.i16", int16(-30000))
	set("t.u32", uint32(4000000000))
	set("t.i32", int32(-2000000000))
	set("t.f32", float32(1.5))
	set("t.bool", true)
	set("t.str", "héllo\x00\xff")
	set("t.u64", uint64(math.MaxUint64))
	set("t.i64", int64(math.MinInt64))
	set("t.f64", math.Pi)
	set("a.u8", []uint8{1, 2, 255})
	set("a.i8", []int8{-1, 0, 1})
	set("a.u16", []uint16{1, 65535})
	set("a.i16", []int16{-32768})
	set("a.u32", []uint32{7})
	set("a.i32", []int32{-7, 7})
	set("a.f32", []float32{0.25, float32(math.Inf(-1))})
	set("a.bool", []bool{true, false})
	set("a.str", []string{"", "a", "ünïcode"})
	set("a.u64", []uint64{1 << 63})
	set("a.i64", []int64{-1})
	set("a.f64", []float64{-0.5})
	set("a.empty", []string{})
	return vals
}

func TestWriterRoundTrip(t *testing.T) {
	w := NewWriter()
	vals := everyType(t, w)
	if err := w.SetKV(KeyAlignment, uint32(64)); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps the original position.
	if err := w.SetKV("t.u8", uint8(201)); err != nil {
		t.Fatal(err)
	}
	vals["t.u8"] = uint8(201)
	vals[KeyAlignment] = uint32(64)
	type tensor struct {
		name  string
		typ   core.DType
		shape []int
		data  []byte
	}
	ts := []tensor{
		{"a", core.F32, []int{3}, bytes.Repeat([]byte{1}, 12)},
		{"b.weight", core.Q8_0, []int{64, 2}, bytes.Repeat([]byte{2}, 4*34)},
		{"c", core.F16, []int{1, 1, 1, 5}, bytes.Repeat([]byte{3}, 10)},
		{"empty", core.F32, []int{0, 4}, nil},
		{"d", core.Q4_K, []int{256}, bytes.Repeat([]byte{4}, 144)},
	}
	for _, x := range ts {
		if err := w.AddTensor(x.name, x.typ, x.shape, x.data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Errorf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
	}
	got := map[string]any{}
	var order []string
	for _, kv := range f.KV {
		got[kv.Key] = kv.Value.V
		order = append(order, kv.Key)
	}
	if diff := cmp.Diff(vals, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if order[0] != "t.u8" || order[len(order)-1] != KeyAlignment {
		t.Errorf("key order %v", order)
	}
	if len(f.Tensors) != len(ts) {
		t.Fatalf("%d tensors", len(f.Tensors))
	}
	for i, x := range ts {
		ti := f.Tensors[i]
		if ti.Name != x.name || ti.Type != x.typ || !cmp.Equal(ti.Shape, x.shape) || ti.Offset%64 != 0 {
			t.Errorf("tensor %d = %+v, want %s %v", i, ti, x.name, x.shape)
		}
		tt, err := f.Tensor(x.name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tt.Data, x.data) {
			t.Errorf("tensor %s data differ", x.name)
		}
	}
}

func TestAccessors(t *testing.T) {
	w := NewWriter()
	everyType(t, w)
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Uint("t.u32"); !ok || v != 4000000000 {
		t.Errorf("Uint(u32) = %d, %v", v, ok)
	}
	if v, ok := f.Uint("t.i16"); ok {
		t.Errorf("Uint(negative i16) = %d, ok", v)
	}
	if v, ok := f.Int("t.i8"); !ok || v != -100 {
		t.Errorf("Int(i8) = %d, %v", v, ok)
	}
	if v, ok := f.Int("t.u64"); ok {
		t.Errorf("Int(max u64) = %d, ok", v)
	}
	if v, ok := f.Float("t.u16"); !ok || v != 60000 {
		t.Errorf("Float(u16) = %v, %v", v, ok)
	}
	if v, ok := f.Float("t.f32"); !ok || v != 1.5 {
		t.Errorf("Float(f32) = %v, %v", v, ok)
	}
	if _, ok := f.Float("t.str"); ok {
		t.Error("Float(string) ok")
	}
	if v, ok := f.Int32s("a.u8"); !ok || !cmp.Equal(v, []int32{1, 2, 255}) {
		t.Errorf("Int32s(u8) = %v, %v", v, ok)
	}
	if _, ok := f.Int32s("a.u64"); ok {
		t.Error("Int32s(1<<63) ok")
	}
	if v, ok := f.Float32s("a.f64"); !ok || !cmp.Equal(v, []float32{-0.5}) {
		t.Errorf("Float32s(f64) = %v, %v", v, ok)
	}
	if v, ok := f.Strings("a.str"); !ok || len(v) != 3 {
		t.Errorf("Strings = %v, %v", v, ok)
	}
	if v, ok := f.Bool("t.bool"); !ok || !v {
		t.Errorf("Bool = %v, %v", v, ok)
	}
	if _, ok := f.String("missing"); ok {
		t.Error("missing key found")
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	if err := w.AddTensor("x", core.F32, []int{2}, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
	}{
		{"empty key", w.SetKV("", uint32(1))},
		{"unsupported Go type", w.SetKV("k", struct{}{})},
		{"alignment type", w.SetKV(KeyAlignment, uint64(32))},
		{"alignment not power of two", w.SetKV(KeyAlignment, uint32(48))},
		{"mismatched Value", w.SetKV("k", Value{Type: TypeUint32, V: int32(1)})},
		{"int in Value", w.SetKV("k", Value{Type: TypeInt64, V: 1})},
		{"duplicate tensor", w.AddTensor("x", core.F32, []int{2}, make([]byte, 8))},
		{"empty name", w.AddTensor("", core.F32, []int{2}, make([]byte, 8))},
		{"long name", w.AddTensor(string(make([]byte, 64)), core.F32, []int{2}, make([]byte, 8))},
		{"no dims", w.AddTensor("y", core.F32, nil, make([]byte, 4))},
		{"five dims", w.AddTensor("y", core.F32, []int{1, 1, 1, 1, 1}, make([]byte, 4))},
		{"size mismatch", w.AddTensor("y", core.F32, []int{2}, make([]byte, 7))},
		{"block mismatch", w.AddTensor("y", core.Q8_0, []int{16}, make([]byte, 17))},
		{"removed type", w.AddTensor("y", core.DType(4), []int{32}, make([]byte, 20))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !errors.Is(c.err, core.KindInvalid) {
				t.Errorf("err = %v, want KindInvalid", c.err)
			}
		})
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		return 0, errors.New("disk full")
	}
	f.after -= len(p)
	return len(p), nil
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	w := NewWriter()
	if err := w.SetKV("general.architecture", "llama"); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("x", core.F32, []int{4}, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Architecture() != "llama" || len(f.Tensors) != 1 {
		t.Errorf("reopened: arch %q, %d tensors", f.Architecture(), len(f.Tensors))
	}
	f.Close()
	if err := w.WriteFile(filepath.Join(dir, "missing", "m.gguf")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	if _, err := w.WriteTo(&failWriter{after: 10}); err == nil {
		t.Error("failing writer: no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only m.gguf", len(entries))
	}
}

func TestAddTensorFunc(t *testing.T) {
	w := NewWriter()
	if err := w.AddTensor("a", core.F32, []int{3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	fill := func(v byte) func([]byte) error {
		return func(dst []byte) error {
			calls++
			for i := range dst {
				dst[i] = v + byte(i)
			}
			return nil
		}
	}
	if err := w.AddTensorFunc("b", core.Q8_0, []int{32, 2}, fill(10)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensorFunc("c", core.F16, []int{5}, fill(100)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensorFunc("b", core.F16, []int{5}, fill(0)); !errors.Is(err, core.KindInvalid) {
		t.Errorf("duplicate: %v", err)
	}
	if err := w.AddTensorFunc("d", core.F16, []int{5}, nil); !errors.Is(err, core.KindInvalid) {
		t.Errorf("nil fill: %v", err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("%d fill calls, want 2", calls)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]byte{"b": 10, "c": 100} {
		tt, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range tt.Data {
			if b != v+byte(i) {
				t.Fatalf("%s[%d] = %d, want %d", name, i, b, v+byte(i))
			}
		}
	}
	w.AddTensorFunc("e", core.F32, []int{1}, func([]byte) error {
		return core.Errorf(core.KindCanceled, "test", "stop")
	})
	path := filepath.Join(t.TempDir(), "x.gguf")
	if err := w.WriteFile(path); !errors.Is(err, core.KindCanceled) {
		t.Errorf("failing fill: %v, want KindCanceled", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("failed write left %d files", len(entries))
	}
}
