package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// shrink rewrites a fixture as a small seed: the same keys and value types
// with arrays cut to a few elements, and every tensor cut to one block row.
func shrink(t testing.TB, f *File) []byte {
	t.Helper()
	w := NewWriter()
	for _, kv := range f.KV {
		v := kv.Value
		if v.Type == TypeArray && v.Len() > 4 {
			v.V = headOf(v.V)
		}
		if err := w.SetKV(kv.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors {
		shape := []int{ti.Shape[0], 1}
		size := rowSizeOf(t, ti)
		if err := w.AddTensor(ti.Name, ti.Type, shape, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func rowSizeOf(t testing.TB, ti TensorInfo) int {
	rows := int64(1)
	for _, d := range ti.Shape[1:] {
		rows *= int64(d)
	}
	return int(ti.Size / rows)
}

func headOf(a any) any {
	switch a := a.(type) {
	case []string:
		return a[:4]
	case []int32:
		return a[:4]
	case []float32:
		return a[:4]
	case []uint32:
		return a[:4]
	}
	return a
}

// rewrite copies f through a Writer.
func rewrite(t *testing.T, f *File) []byte {
	t.Helper()
	w := NewWriter()
	for _, kv := range f.KV {
		if err := w.SetKV(kv.Key, kv.Value); err != nil {
			t.Fatalf("SetKV(%q) of a value the reader accepted: %v", kv.Key, err)
		}
	}
	for _, ti := range f.Tensors {
		tt, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatalf("Tensor(%q) of an accepted file: %v", ti.Name, err)
		}
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, tt.Data); err != nil {
			t.Fatalf("AddTensor(%q) of a tensor the reader accepted: %v", ti.Name, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzRead checks that no input panics the reader, that every rejection is
// a KindInvalid *FormatError, and that an accepted file survives a
// writer→reader round trip: rewriting it twice gives identical bytes with
// the same metadata keys and tensor table.
func FuzzRead(f *testing.F) {
	f.Add(validFile(f))
	f.Add(new(raw).header(0, 0).b)
	f.Add(new(raw).header(2, 2).kvU32(KeyAlignment, 64).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(2).str("a").str("").
		tensor("a", 8, 0, 32).tensor("b", 30, 64, 2, 2).data(128))
	if dir := fixtures.Find(); dir != "" {
		paths, _ := filepath.Glob(filepath.Join(dir, "models", "*.gguf"))
		for _, p := range paths {
			fx, err := Open(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(shrink(f, fx))
			fx.Close()
			// The raw start of the file exercises the metadata parser on
			// real bytes (the rest is cut, so it is refused).
			raw, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw[:min(len(raw), 2048)])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var fe *FormatError
			if !errors.Is(err, core.KindInvalid) || !errors.As(err, &fe) {
				t.Fatalf("rejection is not a KindInvalid *FormatError: %v", err)
			}
			return
		}
		once := rewrite(t, file)
		f2, err := Read(bytes.NewReader(once), int64(len(once)))
		if err != nil {
			t.Fatalf("rewritten file refused: %v", err)
		}
		if len(f2.KV) != len(file.KV) || len(f2.Tensors) != len(file.Tensors) || f2.Alignment != file.Alignment {
			t.Fatalf("round trip: %d keys %d tensors alignment %d, want %d %d %d",
				len(f2.KV), len(f2.Tensors), f2.Alignment, len(file.KV), len(file.Tensors), file.Alignment)
		}
		for i, kv := range file.KV {
			if f2.KV[i].Key != kv.Key || f2.KV[i].Value.Type != kv.Value.Type || f2.KV[i].Value.Elem != kv.Value.Elem {
				t.Fatalf("key %d: %q %v, want %q %v", i, f2.KV[i].Key, f2.KV[i].Value.Type, kv.Key, kv.Value.Type)
			}
		}
		for i, ti := range file.Tensors {
			got := f2.Tensors[i]
			if got.Name != ti.Name || got.Type != ti.Type || got.Size != ti.Size || len(got.Shape) != len(ti.Shape) {
				t.Fatalf("tensor %d: %+v, want %+v", i, got, ti)
			}
		}
		if twice := rewrite(t, f2); !bytes.Equal(once, twice) {
			t.Fatal("rewriting the rewritten file changed its bytes")
		}
	})
}
