package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// raw builds GGUF bytes field by field, so tests can write what no Writer
// would.
type raw struct{ b []byte }

func (r *raw) u8(v uint8) *raw   { r.b = append(r.b, v); return r }
func (r *raw) u32(v uint32) *raw { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.b = append(r.b, s...); return r }
func (r *raw) header(nT, nKV uint64) *raw {
	r.b = append(r.b, "GGUF"...)
	return r.u32(3).u64(nT).u64(nKV)
}
func (r *raw) kvU32(k string, v uint32) *raw { return r.str(k).u32(uint32(TypeUint32)).u32(v) }
func (r *raw) tensor(name string, typ uint32, off uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(typ).u64(off)
}

// pad zero-fills to a multiple of 32 and then appends n data bytes.
func (r *raw) data(n int) []byte {
	for len(r.b)%32 != 0 {
		r.b = append(r.b, 0)
	}
	return append(r.b, make([]byte, n)...)
}

// validFile is a small well-formed file (two tensors) written by Writer.
func validFile(t testing.TB) []byte {
	t.Helper()
	w := NewWriter()
	for k, v := range map[string]any{"general.architecture": "llama", "a.tokens": []string{"x", "yy"}, "a.n": uint32(7)} {
		if err := w.SetKV(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddTensor("t0", core.F32, []int{8, 2}, make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("t1", core.Q8_0, []int{32}, make([]byte, 34)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func patch(b []byte, off int, v ...byte) []byte {
	c := bytes.Clone(b)
	copy(c[off:], v)
	return c
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestMalformed(t *testing.T) {
	valid := validFile(t)
	vf, err := Read(bytes.NewReader(valid), int64(len(valid)))
	if err != nil {
		t.Fatal(err)
	}
	// t1's offset field follows its name, n_dims, one dim and its type.
	t1Off := bytes.Index(valid, []byte("\x02\x00\x00\x00\x00\x00\x00\x00t1")) + 10 + 4 + 8 + 4
	if got := binary.LittleEndian.Uint64(valid[t1Off:]); got != vf.Tensors[1].Offset {
		t.Fatalf("t1 offset field reads %d, want %d", got, vf.Tensors[1].Offset)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	copy(random, "GGUF\x03\x00\x00\x00")
	const tb = 1 << 40
	cases := []struct {
		name string
		file []byte
		want string // a fragment of the error message
	}{
		{"empty", nil, "shorter than"},
		{"truncated in header", valid[:20], "shorter than"},
		{"truncated in metadata", valid[:40], "cannot fit"},
		{"truncated in a string", valid[:150], "left in the file"},
		{"truncated in tensor infos", valid[:int(vf.DataOffset)-40], "left in the file"},
		{"data cut short", valid[:len(valid)-40], "past the end"},
		{"wrong magic", patch(valid, 0, 'G', 'G', 'M', 'L'), "bad magic"},
		{"version 99", patch(valid, 4, 99, 0, 0, 0), "version 99"},
		{"version 1", patch(valid, 4, 1, 0, 0, 0), "version 1"},
		{"big-endian", patch(valid, 4, 0, 0, 0, 3), "big-endian"},
		{"tensor count 2^60", patch(valid, 8, le64(1<<60)...), "tensor count"},
		{"tensor count negative", patch(valid, 8, le64(1<<63)...), "negative"},
		{"metadata count 2^60", patch(valid, 16, le64(1<<60)...), "metadata count"},
		{"random bytes", random, ""},
		{"string length 2^62", new(raw).header(0, 1).u64(1 << 62).data(64), "string length"},
		{"array count 2^60", new(raw).header(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 60).b, "array length"},
		{"string array count 2^60", new(raw).header(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 60).b, "array length"},
		{"nested array", new(raw).header(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1).u64(0).b, "nested"},
		{"unknown value type", new(raw).header(0, 1).str("k").u32(13).u64(0).b, "unknown value type"},
		{"bool 2", new(raw).header(0, 1).str("k").u32(uint32(TypeBool)).u8(2).u64(0).u32(0).b, "bool"},
		{"empty key", new(raw).header(0, 1).str("").u32(uint32(TypeUint8)).u8(0).u64(0).b, "empty metadata key"},
		{"key not UTF-8", new(raw).header(0, 1).str("a\xffb").u32(uint32(TypeUint8)).u8(0).u64(0).b, "UTF-8"},
		{"duplicate key", new(raw).header(0, 2).kvU32("k", 1).kvU32("k", 2).b, "duplicate metadata key"},
		{"alignment wrong type", new(raw).header(0, 1).str(KeyAlignment).u32(uint32(TypeUint64)).u64(32).b, "alignment"},
		{"alignment zero", new(raw).header(0, 1).kvU32(KeyAlignment, 0).u64(0).b, "power of two"},
		{"alignment past the file", new(raw).header(0, 1).kvU32(KeyAlignment, 1<<30).b, "past the end"},
		{"alignment 48", new(raw).header(0, 1).kvU32(KeyAlignment, 48).u64(0).b, "power of two"},
		{"empty tensor name", new(raw).header(1, 0).tensor("", 0, 0, 4).data(16), "empty tensor name"},
		{"64-byte tensor name", new(raw).header(1, 0).tensor(strings.Repeat("n", 64), 0, 0, 4).data(16), "longer than 63"},
		{"duplicate tensor", new(raw).header(2, 0).tensor("a", 0, 0, 4).tensor("a", 0, 32, 4).data(64), "duplicate tensor"},
		{"five dims", new(raw).header(1, 0).tensor("a", 0, 0, 1, 1, 1, 1, 4).data(16), "dimensions"},
		{"zero dims", new(raw).header(1, 0).tensor("a", 0, 0).u64(0).data(16), "dimensions"},
		{"negative dim", new(raw).header(1, 0).tensor("a", 0, 0, 4, 1<<63).data(16), "negative"},
		{"element overflow", new(raw).header(1, 0).tensor("a", 0, 0, 1<<32, 1<<32, 1<<32).data(16), "overflow"},
		{"unknown type", new(raw).header(1, 0).tensor("a", 40, 0, 4).data(16), "unknown or removed"},
		{"removed type Q4_2", new(raw).header(1, 0).tensor("a", 4, 0, 32).data(32), "unknown or removed"},
		{"row not a block multiple", new(raw).header(1, 0).tensor("a", 8, 0, 33).data(64), "block size"},
		{"misaligned offset", new(raw).header(1, 0).tensor("a", 0, 8, 4).data(64), "multiple of the alignment"},
		{"offset 1 TB past the end", new(raw).header(1, 0).tensor("a", 0, tb, 4).data(16), "past the end"},
		{"offset plus size overflows", new(raw).header(1, 0).tensor("a", 0, math.MaxUint64-31, 64).data(16), "overflow"},
		{"overlapping tensors", new(raw).header(2, 0).tensor("a", 0, 0, 16).tensor("b", 0, 32, 4).data(96), "overlap"},
		{"overlap across an empty tensor", new(raw).header(3, 0).tensor("a", 0, 0, 32).tensor("z", 0, 32, 0).tensor("b", 0, 64, 4).data(160), "overlap"},
		{"second tensor 1 TB off", patch(valid, t1Off, le64(tb)...), "past the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			f, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			elapsed := time.Since(start)
			runtime.ReadMemStats(&ms1)
			if err == nil {
				t.Fatalf("accepted: %d tensors, %d keys", len(f.Tensors), len(f.KV))
			}
			if !errors.Is(err, core.KindInvalid) {
				t.Errorf("kind %v, want invalid: %v", core.KindOf(err), err)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("no *FormatError in %v", err)
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

func TestErrorLocation(t *testing.T) {
	b := new(raw).header(2, 1).kvU32("k", 1).tensor("good", 0, 0, 4).tensor("bad", 40, 32, 4).data(64)
	_, err := Read(bytes.NewReader(b), int64(len(b)))
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v", err)
	}
	// header 24 + kv (8+1+4+4) + tensor "good" (8+4+4+8+4+8) = 77.
	if fe.Tensor != "bad" || fe.Offset != 77 {
		t.Errorf("tensor %q offset %d, want \"bad\" at 77", fe.Tensor, fe.Offset)
	}
	b = new(raw).header(0, 1).str("key.x").u32(uint32(TypeBool)).u8(7).u64(0).b
	_, err = Read(bytes.NewReader(b), int64(len(b)))
	if !errors.As(err, &fe) || fe.Key != "key.x" || fe.Offset != 24+8+5+4 {
		t.Errorf("err = %v, want key.x at 41", err)
	}
}

// TestTruncations cuts a fixture at many points; each prefix must be
// refused without panicking.
func TestTruncations(t *testing.T) {
	data, err := os.ReadFile(fixtures.Path(t, "models", "fx-llama-q4_k_m.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	cuts := []int{0, 3, 4, 7, 8, 23, 24, 25, 100, 1000, 3000, int(f.DataOffset) - 1, int(f.DataOffset), len(data) - 1}
	for step := 1; step < int(f.DataOffset); step += 97 {
		cuts = append(cuts, step)
	}
	for _, n := range cuts {
		if _, err := Read(bytes.NewReader(data[:n]), int64(n)); !errors.Is(err, core.KindInvalid) {
			t.Errorf("cut at %d: err = %v", n, err)
		}
	}
}

// TestReadMatchesOpen checks the io.ReaderAt path against the mapping.
func TestReadMatchesOpen(t *testing.T) {
	path := fixtures.Path(t, "models", "fx-qwen2-f32.gguf")
	mf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rf, err := Read(fh, mf.FileSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.KV) != len(mf.KV) || rf.DataOffset != mf.DataOffset {
		t.Fatalf("Read: %d keys data at %d; Open: %d keys data at %d", len(rf.KV), rf.DataOffset, len(mf.KV), mf.DataOffset)
	}
	for _, ti := range mf.Tensors {
		a, err := mf.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := rf.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Data, b.Data) {
			t.Errorf("%s: data differ", ti.Name)
		}
	}
	if err := mf.Close(); err != nil {
		t.Error(err)
	}
	if _, err := mf.Tensor(mf.Tensors[0].Name); err == nil {
		t.Error("Tensor after Close succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none.gguf")); !errors.Is(err, core.KindNotFound) {
		t.Errorf("missing file: %v", err)
	}
	short := filepath.Join(dir, "short.gguf")
	if err := os.WriteFile(short, []byte("GGUF"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(short); !errors.Is(err, core.KindInvalid) || !strings.Contains(err.Error(), short) {
		t.Errorf("short file: %v", err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, patch(validFile(t), 4, 9), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); !errors.Is(err, core.KindInvalid) {
		t.Errorf("bad version: %v", err)
	}
}

func TestVersion2(t *testing.T) {
	v2 := patch(validFile(t), 4, 2)
	f, err := Read(bytes.NewReader(v2), int64(len(v2)))
	if err != nil || f.Version != 2 || len(f.Tensors) != 2 {
		t.Fatalf("v2 file: %v", err)
	}
}

// BenchmarkOpenVocab opens the Llama 3 vocabulary (128k tokens, 280k
// merges decoded at open).
func BenchmarkOpenVocab(b *testing.B) {
	path := fixtures.Path(b, "models", "vocab-llama3.gguf")
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
