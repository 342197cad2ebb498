package app

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// runCLI runs pensieve-cli with args and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := New(&out, &errOut).Run(append([]string{"pensieve-cli"}, args...))
	return out.String(), errOut.String(), err
}

// writeTestGGUF writes a small GGUF file with a long vocabulary array.
func writeTestGGUF(t *testing.T) string {
	t.Helper()
	w := gguf.NewWriter()
	toks := make([]string, 100)
	for i := range toks {
		toks[i] = string(rune('a' + i%26))
	}
	for _, kv := range []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"},
		{"llama.block_count", uint32(2)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"tokenizer.ggml.tokens", toks},
		{"tokenizer.ggml.add_bos_token", true},
		{"short", []int32{1, -2, 3}},
	} {
		if err := w.SetKV(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddTensor("token_embd.weight", core.Q8_0, []int{64, 3}, make([]byte, 2*34*3)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("output_norm.weight", core.F32, []int{64}, make([]byte, 256)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

type jsonReport struct {
	Format   string                     `json:"format"`
	Version  int                        `json:"version"`
	Metadata map[string]json.RawMessage `json:"metadata"`
	Tensors  []struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Shape  []int  `json:"shape"`
		Offset uint64 `json:"offset"`
	} `json:"tensors"`
}

func TestInspectGGUFJSON(t *testing.T) {
	out, _, err := runCLI(t, "models", "inspect", "--json", writeTestGGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if r.Format != "gguf" || r.Version != 3 {
		t.Errorf("format %q version %d", r.Format, r.Version)
	}
	want := map[string]string{
		"general.architecture":                   `"llama"`,
		"llama.block_count":                      `2`,
		"llama.attention.layer_norm_rms_epsilon": `1e-05`,
		"tokenizer.ggml.add_bos_token":           `true`,
		"short":                                  `[1,-2,3]`,
		"tokenizer.ggml.tokens":                  `{"type":"array","len":100,"head":["a","b","c","d","e","f","g","h"]}`,
	}
	got := map[string]string{}
	for k, v := range r.Metadata {
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			t.Fatal(err)
		}
		got[k] = c.String()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if len(r.Tensors) != 2 || r.Tensors[0].Name != "token_embd.weight" || r.Tensors[0].Type != "q8_0" ||
		!cmp.Equal(r.Tensors[0].Shape, []int{64, 3}) || r.Tensors[1].Type != "f32" || r.Tensors[1].Offset != 224 {
		t.Errorf("tensors %+v", r.Tensors)
	}
	// Metadata keys appear in file order.
	if i, j := strings.Index(out, "general.architecture"), strings.Index(out, `"short"`); i < 0 || j < i {
		t.Errorf("metadata out of file order")
	}
}

func TestInspectTable(t *testing.T) {
	out, _, err := runCLI(t, "models", "inspect", writeTestGGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"format", "gguf", "KEY", "tokenizer.ggml.tokens", "[100 items]", "TENSOR", "token_embd.weight", "q8_0", "[64 3]"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectSafetensors(t *testing.T) {
	hdr := []byte(`{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[3,2],"data_offsets":[0,12]},"b":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[12,16]}}`)
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	file = append(append(file, hdr...), make([]byte, 16)...)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "models", "inspect", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Format != "safetensors" || string(r.Metadata["format"]) != `"pt"` || len(r.Tensors) != 2 {
		t.Fatalf("report %+v", r)
	}
	if w := r.Tensors[0]; w.Name != "w" || w.Type != "bf16" || !cmp.Equal(w.Shape, []int{3, 2}) || w.Offset != 0 {
		t.Errorf("w = %+v", w)
	}
	if b := r.Tensors[1]; b.Type != "f8_e4m3" || b.Offset != 12 {
		t.Errorf("b = %+v", b)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(writeTestGGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, good[:len(good)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.bin")
	if err := os.WriteFile(junk, []byte("hello, world"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"truncated gguf", []string{"models", "inspect", bad}, ExitRuntime, "past the end"},
		{"not a model", []string{"models", "inspect", junk}, ExitRuntime, "not a GGUF or SafeTensors"},
		{"missing file", []string{"models", "inspect", filepath.Join(dir, "none")}, ExitRuntime, "no such file"},
		{"no argument", []string{"models", "inspect"}, ExitUsage, "exactly one FILE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCLI(t, c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := ExitCode(err); got != c.code {
				t.Errorf("exit code %d, want %d", got, c.code)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
}

// TestInspectFixture inspects a llama.cpp-written Q4_K_M fixture when the
// shared fixtures are present.
func TestInspectFixture(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "fixtures", "models", "fx-llama-q4_k_m.gguf")
	if d := os.Getenv("PENSIEVE_FIXTURES"); d != "" {
		path = filepath.Join(d, "models", "fx-llama-q4_k_m.gguf")
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("PENSIEVE_REQUIRE_FIXTURES") != "" {
			t.Fatal(err)
		}
		t.Skipf("shared fixtures not found (%v): set PENSIEVE_FIXTURES", err)
	}
	out, _, err := runCLI(t, "models", "inspect", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, ti := range r.Tensors {
		types[ti.Name] = ti.Type
	}
	if len(r.Tensors) != 21 || types["output.weight"] != "q6_k" || types["blk.0.ffn_up.weight"] != "q4_k" || types["output_norm.weight"] != "f32" {
		t.Errorf("%d tensors, types %v", len(r.Tensors), types)
	}
	if string(r.Metadata["general.file_type"]) != "15" {
		t.Errorf("file_type %s", r.Metadata["general.file_type"])
	}
}
