package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// TestQuantizeMatchesLlamaCpp is the acceptance test of issue 4: quantizing
// the F32 fixture model must give, tensor for tensor, the bytes llama.cpp's
// quantizer wrote — for the simple types and, since the K-quants are
// reproduced exactly too, for the _m mix and Q6_K.
func TestQuantizeMatchesLlamaCpp(t *testing.T) {
	in := fixtureModel(t, "fx-llama-f32.gguf")
	for _, c := range []struct{ typ, ref string }{
		{"q8_0", "fx-llama-q8_0.gguf"}, {"q4_0", "fx-llama-q4_0.gguf"},
		{"q4_k_m", "fx-llama-q4_k_m.gguf"}, {"q6_k", "fx-llama-q6_k.gguf"},
	} {
		t.Run(c.typ, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			var stdout, stderr bytes.Buffer
			app := New(&stdout, &stderr)
			if err := app.RunContext(context.Background(), []string{"pensieve-cli", "quantize", "--type", c.typ, in, out}); err != nil {
				t.Fatalf("quantize: %v (stderr %q)", err, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr is not a terminal, yet got %q", stderr.String())
			}
			if !strings.Contains(stdout.String(), "21 tensors") {
				t.Errorf("summary: %q", stdout.String())
			}
			got, err := gguf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			want, err := gguf.Open(fixtureModel(t, c.ref))
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			if d := cmp.Diff(keys(want), keys(got)); d != "" {
				t.Errorf("metadata keys (-llama.cpp +ours):\n%s", d)
			}
			for _, k := range []string{"general.file_type", "general.quantization_version"} {
				wv, _ := want.Uint(k)
				gv, _ := got.Uint(k)
				if wv != gv {
					t.Errorf("%s = %d, llama.cpp wrote %d", k, gv, wv)
				}
			}
			if len(got.Tensors) != len(want.Tensors) {
				t.Fatalf("%d tensors, llama.cpp wrote %d", len(got.Tensors), len(want.Tensors))
			}
			for i, wt := range want.Tensors {
				gt := got.Tensors[i]
				if gt.Name != wt.Name || gt.Type != wt.Type {
					t.Errorf("tensor %d: %s %s, llama.cpp wrote %s %s", i, gt.Name, dtype.Name(gt.Type), wt.Name, dtype.Name(wt.Type))
					continue
				}
				a, err := got.Tensor(gt.Name)
				if err != nil {
					t.Fatal(err)
				}
				b, err := want.Tensor(wt.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a.Data, b.Data) {
					t.Errorf("tensor %s (%s): payload differs from llama.cpp's", gt.Name, dtype.Name(gt.Type))
				}
			}
		})
	}
}

func keys(f *gguf.File) []string {
	out := make([]string, len(f.KV))
	for i, kv := range f.KV {
		out[i] = kv.Key
	}
	return out
}

func TestQuantizeUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"no args", []string{"quantize", "--type", "q8_0"}, ExitUsage},
		{"bad type", []string{"quantize", "--type", "q9_9", "a", "b"}, ExitUsage},
		{"missing input", []string{"quantize", "--type", "q8_0", "/nonexistent/in.gguf", filepath.Join(t.TempDir(), "o.gguf")}, ExitRuntime},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := New(&stdout, &stderr).Run(append([]string{"pensieve-cli"}, c.args...))
			if got := ExitCode(err); got != c.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, c.code)
			}
		})
	}
}

func TestQuantizeCanceled(t *testing.T) {
	in := fixtureModel(t, "fx-llama-f32.gguf")
	out := filepath.Join(t.TempDir(), "out.gguf")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := New(&stdout, &stderr).RunContext(ctx, []string{"pensieve-cli", "quantize", "-t", "q4_0", in, out})
	if err == nil {
		t.Fatal("canceled quantization succeeded")
	}
	if _, statErr := gguf.Open(out); statErr == nil {
		t.Error("a canceled quantization left an output file")
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q", stdout.String())
	}
}
