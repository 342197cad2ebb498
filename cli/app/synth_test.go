package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

func TestModelsSynth(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "tiny.gguf")
	stdout, _, err := runCLI(t, "models", "synth", "--arch", "qwen3", "--preset", "tiny", "--type", "Q4_K_M", "--seed", "9", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("stdout %q", stdout)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Architecture() != "qwen3" {
		t.Errorf("architecture %q", f.Architecture())
	}
	if ft, _ := f.Uint("general.file_type"); ft != 15 {
		t.Errorf("file type %d, want 15 (Q4_K_M)", ft)
	}
	ti, ok := f.TensorInfo("blk.0.attn_q_norm.weight")
	if !ok || dtype.Name(ti.Type) != "f32" {
		t.Errorf("q norm: %+v %v", ti, ok)
	}
	// The same flags give the same file.
	again := filepath.Join(dir, "again.gguf")
	if _, _, err := runCLI(t, "models", "synth", "--arch", "qwen3", "--type", "q4_k_m", "--seed", "9", "-o", again); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if string(a) != string(b) {
		t.Error("same flags, different files")
	}
	// The synthesized file inspects cleanly.
	if stdout, _, err := runCLI(t, "models", "inspect", out); err != nil || !strings.Contains(stdout, "blk.1.ffn_down.weight") {
		t.Errorf("inspect: %v\n%s", err, stdout)
	}
}

func TestModelsSynthErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.gguf")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no output", []string{"models", "synth"}, ExitUsage, "-o OUT"},
		{"bad arch", []string{"models", "synth", "--arch", "gpt5", "-o", out}, ExitUsage, "--arch"},
		{"bad preset", []string{"models", "synth", "--preset", "70b", "-o", out}, ExitUsage, "--preset"},
		{"bad type", []string{"models", "synth", "--type", "q1", "-o", out}, ExitUsage, "--type"},
		{"missing vocab", []string{"models", "synth", "--vocab", filepath.Join(dir, "none.gguf"), "-o", out}, ExitRuntime, "none.gguf"},
		{"missing directory", []string{"models", "synth", "-o", filepath.Join(dir, "no", "m.gguf")}, ExitRuntime, "no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCLI(t, c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := ExitCode(err); got != c.code {
				t.Errorf("exit code %d, want %d (%v)", got, c.code, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed runs left %d files", len(entries))
	}
}
