package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pensieve-llm/pensieve/core"
)

// stTensor is a tensor for the test writer.
type stTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

// build writes a SafeTensors file the way the reference library does:
// tensors packed in the given order, header padded with spaces to a
// multiple of 8.
func build(t testing.TB, meta map[string]string, ts ...stTensor) []byte {
	t.Helper()
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	var buf []byte
	for _, x := range ts {
		shape := x.shape
		if shape == nil {
			shape = []int{}
		}
		hdr[x.name] = map[string]any{"dtype": x.dtype, "shape": shape, "data_offsets": []int{len(buf), len(buf) + len(x.data)}}
		buf = append(buf, x.data...)
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	return assemble(js, buf)
}

// assemble joins a raw header and buffer, padding the header to 8 bytes.
func assemble(hdr []byte, buf []byte) []byte {
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, buf...)
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// allDTypes has one tensor of every dtype the issue lists, plus a scalar
// and a zero-sized tensor.
func allDTypes() []stTensor {
	return []stTensor{
		{"f64", "F64", []int{2, 3}, seq(48)},
		{"f32", "F32", []int{4, 2}, seq(32)},
		{"f16", "F16", []int{3}, seq(6)},
		{"bf16", "BF16", []int{2, 2}, seq(8)},
		{"i64", "I64", []int{1}, seq(8)},
		{"i32", "I32", []int{2}, seq(8)},
		{"i16", "I16", []int{2}, seq(4)},
		{"i8", "I8", []int{5}, seq(5)},
		{"u8", "U8", []int{3}, seq(3)},
		{"bool", "BOOL", []int{2}, []byte{0, 1}},
		{"f8a", "F8_E4M3", []int{4}, seq(4)},
		{"f8b", "F8_E5M2", []int{4}, seq(4)},
		{"scalar", "F32", nil, seq(4)},
		{"zero", "F16", []int{0, 7}, nil},
		{"model.layers.0.self_attn.q_proj.weight", "BF16", []int{4, 8}, seq(64)},
	}
}

func TestRoundTrip(t *testing.T) {
	ts := allDTypes()
	meta := map[string]string{"format": "pt", "note": "ünï"}
	file := build(t, meta, ts...)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	mf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	rf, err := Read(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*File{mf, rf} {
		if diff := cmp.Diff(meta, f.Metadata); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
		if f.DataOffset != 8+f.HeaderSize || f.HeaderSize%8 != 0 || len(f.Tensors) != len(ts) {
			t.Errorf("header %d data %d tensors %d", f.HeaderSize, f.DataOffset, len(f.Tensors))
		}
		for _, x := range ts {
			ti, ok := f.TensorInfo(x.name)
			if !ok {
				t.Fatalf("%s missing", x.name)
			}
			wantShape := x.shape
			if wantShape == nil {
				wantShape = []int{}
			}
			if ti.DType != x.dtype || !cmp.Equal(ti.Shape, wantShape) || ti.Size() != int64(len(x.data)) {
				t.Errorf("%s: %+v", x.name, ti)
			}
			b, err := f.Bytes(x.name)
			if err != nil || !bytes.Equal(b, x.data) {
				t.Errorf("%s: bytes %v, %v", x.name, b, err)
			}
			dt, hasCore := DType(x.dtype)
			tt, err := f.Tensor(x.name)
			if !hasCore {
				if !errors.Is(err, core.KindInvalid) {
					t.Errorf("%s: Tensor err = %v, want KindInvalid", x.name, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			rev := make([]int, len(x.shape))
			for i, d := range x.shape {
				rev[len(rev)-1-i] = d
			}
			if len(rev) == 0 {
				rev = []int{1}
			}
			if tt.Type != dt || !cmp.Equal(tt.Shape, rev) || !bytes.Equal(tt.Data, x.data) {
				t.Errorf("%s: tensor %v %v", x.name, tt.Type, tt.Shape)
			}
		}
		if _, err := f.Tensor("nope"); !errors.Is(err, core.KindNotFound) {
			t.Errorf("missing tensor: %v", err)
		}
	}
	if d, ok := DType("BF16"); !ok || d != core.BF16 {
		t.Errorf("DType(BF16) = %v, %v", d, ok)
	}
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestMalformed(t *testing.T) {
	good := build(t, nil, stTensor{"a", "F32", []int{2}, seq(8)}, stTensor{"b", "F16", []int{2}, seq(4)})
	hdr := func(s string, buf int) []byte { return assemble([]byte(s), make([]byte, buf)) }
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "shorter than"},
		{"header length 2^40", append(le64(1<<40), good[8:]...), "exceeds the limit"},
		{"header length beyond the file", append(le64(1000), good[8:]...), "beyond the file"},
		{"header length zero", le64(0), "cannot hold"},
		{"truncated buffer", good[:len(good)-3], "buffer holds"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0), "buffer holds"},
		{"not UTF-8", hdr("{\"a\xff\":1}", 0), "UTF-8"},
		{"not an object", hdr(`["a"]`, 0), "start with '{'"},
		{"bad JSON", hdr(`{"a": {`, 0), "header JSON"},
		{"data after object", hdr(`{} {}`, 0), "after the header"},
		{"overlapping ranges", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"gap", hdr(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap"},
		{"shape/size mismatch", hdr(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "needs 12"},
		{"dtype/size mismatch", hdr(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, 8), "needs 16"},
		{"element overflow", hdr(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "overflows"},
		{"byte overflow", hdr(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, 8), "whole bytes"},
		{"negative dim", hdr(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), "negative"},
		{"reversed offsets", hdr(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "ordered"},
		{"three offsets", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, 8), "2"},
		{"unknown dtype", hdr(`{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`, 8), "unknown dtype"},
		{"missing shape", hdr(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 8), "needs dtype"},
		{"fractional dim", hdr(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, 8), "bad tensor entry"},
		{"duplicate tensor", hdr(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "duplicate"},
		{"metadata not strings", hdr(`{"__metadata__":{"n":1}}`, 0), "__metadata__"},
		{"empty name", hdr(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), "empty tensor name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			_, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			elapsed := time.Since(start)
			runtime.ReadMemStats(&ms1)
			var fe *FormatError
			if !errors.Is(err, core.KindInvalid) || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a KindInvalid *FormatError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if elapsed > time.Second {
				t.Errorf("took %v", elapsed)
			}
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 1<<20+8*uint64(len(c.file)) {
				t.Errorf("allocated %d bytes for a %d-byte file", alloc, len(c.file))
			}
		})
	}
}

func TestErrorNamesTensor(t *testing.T) {
	file := assemble([]byte(`{"ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"bad.weight":{"dtype":"F32","shape":[3],"data_offsets":[4,8]}}`), make([]byte, 8))
	_, err := Read(bytes.NewReader(file), int64(len(file)))
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Tensor != "bad.weight" || fe.Offset <= 8 {
		t.Errorf("err = %v (%+v)", err, fe)
	}
}

// writeShards writes a sharded checkpoint: tensors split over n shards and
// an index mapping each name to its shard.
func writeShards(t *testing.T, dir string, n int, ts []stTensor, mutate func(map[string]string)) {
	t.Helper()
	wm := map[string]string{}
	for s := range n {
		var part []stTensor
		for i, x := range ts {
			if i%n == s {
				part = append(part, x)
			}
		}
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, n)
		if err := os.WriteFile(filepath.Join(dir, name), build(t, map[string]string{"format": "pt"}, part...), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, x := range part {
			wm[x.name] = name
		}
	}
	if mutate != nil {
		mutate(wm)
	}
	js, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1234}, "weight_map": wm})
	if err := os.WriteFile(filepath.Join(dir, IndexFile), js, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSharded(t *testing.T) {
	ts := allDTypes()
	dir := t.TempDir()
	writeShards(t, dir, 3, ts, nil)
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var want []string
	for _, x := range ts {
		want = append(want, x.name)
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, c.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if len(c.Files) != 3 || c.TotalSize != 1234 {
		t.Errorf("%d shards, total size %d", len(c.Files), c.TotalSize)
	}
	for _, x := range ts {
		ti, f, ok := c.TensorInfo(x.name)
		if !ok || ti.DType != x.dtype {
			t.Fatalf("%s: %+v %v", x.name, ti, ok)
		}
		b, err := f.Bytes(x.name)
		if err != nil || !bytes.Equal(b, x.data) {
			t.Errorf("%s: data differ (%v)", x.name, err)
		}
	}
	if tt, err := c.Tensor("f32"); err != nil || !cmp.Equal(tt.Shape, []int{2, 4}) {
		t.Errorf("Tensor(f32) = %v, %v", tt, err)
	}
	if _, err := c.Tensor("nope"); !errors.Is(err, core.KindNotFound) {
		t.Errorf("missing: %v", err)
	}
}

func TestShardedRejects(t *testing.T) {
	ts := allDTypes()[:4]
	cases := []struct {
		name   string
		mutate func(map[string]string)
		kind   core.Kind
	}{
		{"tensor in the wrong shard", func(m map[string]string) { m["f64"] = "model-00002-of-00002.safetensors" }, core.KindInvalid},
		{"tensor not listed", func(m map[string]string) { delete(m, "f32") }, core.KindInvalid},
		{"missing shard", func(m map[string]string) { m["f64"] = "model-00009-of-00009.safetensors" }, core.KindNotFound},
		{"path traversal", func(m map[string]string) { m["f64"] = "../model-00001-of-00002.safetensors" }, core.KindInvalid},
		{"phantom tensor", func(m map[string]string) { m["ghost"] = "model-00001-of-00002.safetensors" }, core.KindInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeShards(t, dir, 2, ts, c.mutate)
			ck, err := OpenCheckpoint(filepath.Join(dir, IndexFile))
			if err == nil {
				ck.Close()
				t.Fatal("accepted")
			}
			if core.KindOf(err) != c.kind {
				t.Errorf("kind %v, want %v: %v", core.KindOf(err), c.kind, err)
			}
		})
	}
	dir := t.TempDir()
	if _, err := OpenCheckpoint(dir); !errors.Is(err, core.KindNotFound) {
		t.Errorf("empty dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"weight_map":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(dir); !errors.Is(err, core.KindInvalid) {
		t.Errorf("empty weight map: %v", err)
	}
}

func TestSingleFileCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ts := allDTypes()
	if err := os.WriteFile(filepath.Join(dir, SingleFile), build(t, nil, ts...), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var total int64
	for _, x := range ts {
		total += int64(len(x.data))
	}
	if len(c.Names()) != len(ts) || c.TotalSize != total {
		t.Errorf("%d names, total %d; want %d, %d", len(c.Names()), c.TotalSize, len(ts), total)
	}
}
