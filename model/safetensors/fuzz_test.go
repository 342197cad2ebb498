package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// fixtureSeed converts a fixture model's small tensors into a SafeTensors
// file, the way an HF checkpoint stores them (F32, PyTorch shape order).
func fixtureSeed(t testing.TB, path string) []byte {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []stTensor
	for _, ti := range f.Tensors {
		if len(ti.Shape) != 1 || ti.Type != core.F32 || len(ts) == 4 {
			continue
		}
		tt, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, stTensor{ti.Name, "F32", []int{ti.Shape[0] / 8}, bytes.Clone(tt.Data[:ti.Shape[0]/8*4])})
	}
	return build(t, map[string]string{"format": "pt", "source": filepath.Base(path)}, ts...)
}

// reencode serializes f's header again (sorted keys, no padding) in front
// of the same byte buffer.
func reencode(t *testing.T, f *File, data []byte) []byte {
	t.Helper()
	hdr := map[string]any{}
	if f.Metadata != nil {
		hdr["__metadata__"] = f.Metadata
	}
	for _, ti := range f.Tensors {
		hdr[ti.Name] = map[string]any{"dtype": ti.DType, "shape": ti.Shape, "data_offsets": []int64{ti.Begin, ti.End}}
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	return assemble(js, data[f.DataOffset:])
}

func sortedInfos(f *File) map[string]TensorInfo {
	m := map[string]TensorInfo{}
	for _, ti := range f.Tensors {
		m[ti.Name] = ti
	}
	return m
}

// FuzzSafetensors checks that no input panics the reader, that every
// rejection is a KindInvalid *FormatError, and that an accepted file whose
// header is serialized again reads back with the same tensors, metadata and
// bytes.
func FuzzSafetensors(f *testing.F) {
	f.Add(build(f, map[string]string{"format": "pt"}, allDTypes()...))
	f.Add(build(f, nil))
	f.Add(assemble([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`), make([]byte, 8)))
	f.Add(append(le64(math.MaxUint64), '{'))
	if dir := fixtures.Find(); dir != "" {
		paths, _ := filepath.Glob(filepath.Join(dir, "models", "fx-*-f32.gguf"))
		for _, p := range paths {
			f.Add(fixtureSeed(f, p))
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
		for _, ti := range file.Tensors {
			b, err := file.Bytes(ti.Name)
			if err != nil || int64(len(b)) != ti.Size() {
				t.Fatalf("%s: %d bytes, %v", ti.Name, len(b), err)
			}
		}
		again := reencode(t, file, data)
		f2, err := Read(bytes.NewReader(again), int64(len(again)))
		if err != nil {
			t.Fatalf("re-encoded header refused: %v", err)
		}
		if diff := cmp.Diff(sortedInfos(file), sortedInfos(f2)); diff != "" {
			t.Fatalf("tensors (-first +again):\n%s", diff)
		}
		if len(file.Metadata) != len(f2.Metadata) || !cmp.Equal(file.Metadata, f2.Metadata, cmpEmptyMap) {
			t.Fatalf("metadata %v, again %v", file.Metadata, f2.Metadata)
		}
		if !bytes.Equal(data[file.DataOffset:], again[f2.DataOffset:]) {
			t.Fatal("buffer changed")
		}
	})
}

// cmpEmptyMap treats nil and empty metadata maps as equal.
var cmpEmptyMap = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Comparer(func(_, _ map[string]string) bool { return true }))
