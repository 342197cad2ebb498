package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

// fixturesDir returns the shared fixtures directory: PENSIEVE_FIXTURES, else
// ../shared/fixtures next to the directory holding go.work. When it is
// absent the test skips, or fails when PENSIEVE_REQUIRE_FIXTURES is set.
func fixturesDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PENSIEVE_FIXTURES")
	if dir == "" {
		if wd, err := os.Getwd(); err == nil {
			for d := wd; ; d = filepath.Dir(d) {
				if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
					dir = filepath.Join(d, "..", "shared", "fixtures")
					break
				}
				if filepath.Dir(d) == d {
					break
				}
			}
		}
	}
	if fi, err := os.Stat(dir); dir == "" || err != nil || !fi.IsDir() {
		msg := "shared fixtures not found: set PENSIEVE_FIXTURES or check out ../shared next to the workspace"
		if os.Getenv("PENSIEVE_REQUIRE_FIXTURES") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// fixtureModel returns the path of a fixture model file.
func fixtureModel(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(fixturesDir(t), "models", name)
}

// isolateLocal keeps a test away from the user's configuration and environment.
func isolateLocal(t *testing.T) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", "")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PENSIEVE_") && k != "PENSIEVE_FIXTURES" && k != "PENSIEVE_REQUIRE_FIXTURES" {
			t.Setenv(k, "")
		}
	}
}

// execCLI runs pensieve-cli with args and returns stdout, stderr and the
// error.
func execCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := New(&out, &errOut).Run(append([]string{"pensieve-cli"}, args...))
	return out.String(), errOut.String(), err
}

type greedyCase struct {
	IDs    []core.TokenID `json:"ids"`
	Greedy []core.TokenID `json:"greedy"`
}

func readGreedy(t *testing.T, model string) []greedyCase {
	t.Helper()
	f, err := os.Open(filepath.Join(fixturesDir(t), "reference", "greedy", model+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []greedyCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c greedyCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestRunGreedyMatchesReference checks `run --ids … --temperature 0 --json`
// against llama.cpp's greedy continuations of the F32 and F16 fixtures.
func TestRunGreedyMatchesReference(t *testing.T) {
	isolateLocal(t)
	for _, model := range []string{"fx-llama-f32", "fx-llama-f16", "fx-qwen2-f32"} {
		path := fixtureModel(t, model+".gguf")
		for _, gc := range readGreedy(t, model) {
			t.Run(fmt.Sprintf("%s/%d_ids", model, len(gc.IDs)), func(t *testing.T) {
				out, stderr, err := execCLI(t, "run", "--model", path, "--ids", fmtIDs(gc.IDs),
					"-n", "24", "--ignore-eos", "--temperature", "0", "--json", "--threads", "1")
				if err != nil {
					t.Fatalf("run: %v (stderr %q)", err, stderr)
				}
				var got struct {
					IDs  []core.TokenID `json:"ids"`
					Text string         `json:"text"`
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("output %q: %v", out, err)
				}
				if diff := cmp.Diff(gc.Greedy, got.IDs); diff != "" {
					t.Errorf("greedy ids (-llama.cpp +run):\n%s", diff)
				}
				if got.Text == "" {
					t.Errorf("empty text for %d generated ids", len(got.IDs))
				}
			})
		}
	}
}

func fmtIDs(ids []core.TokenID) string {
	var sb strings.Builder
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Itoa(int(id)))
	}
	return sb.String()
}

// TestRunPrompt streams a chat-templated continuation as text, and checks
// that the same seed gives the same text.
func TestRunPrompt(t *testing.T) {
	isolateLocal(t)
	path := fixtureModel(t, "fx-llama-f32.gguf")
	args := []string{"run", "--model", path, "--prompt", "hello there", "-n", "12", "--seed", "7", "--threads", "1"}
	a, stderr, err := execCLI(t, args...)
	if err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr)
	}
	b, _, err := execCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("same seed, different text:\n%q\n%q", a, b)
	}
	if !strings.HasSuffix(a, "\n") || len(a) < 2 {
		t.Errorf("output %q: want streamed text ending in a newline", a)
	}
	// --raw skips the template, so the prompt and the output differ.
	raw, _, err := execCLI(t, append(args, "--raw", "--temperature", "0")...)
	if err != nil {
		t.Fatal(err)
	}
	chat, _, err := execCLI(t, append(args, "--temperature", "0")...)
	if err != nil {
		t.Fatal(err)
	}
	if raw == chat {
		t.Errorf("--raw and the chat template gave the same greedy text %q", raw)
	}
}

func TestRunErrors(t *testing.T) {
	isolateLocal(t)
	path := fixtureModel(t, "fx-llama-f32.gguf")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no prompt", []string{"run", "--model", path}, ExitUsage, "exactly one of --prompt and --ids"},
		{"both", []string{"run", "--model", path, "--prompt", "x", "--ids", "1"}, ExitUsage, "exactly one"},
		{"no model", []string{"run", "--prompt", "x"}, ExitUsage, "--model FILE is required"},
		{"bad id", []string{"run", "--model", path, "--ids", "1 999"}, ExitUsage, `"999" is not a token id`},
		{"bad device", []string{"run", "--model", path, "--ids", "1", "--device", "tpu"}, ExitUsage, "device: must be one of"},
		{"missing file", []string{"run", "--model", filepath.Join(t.TempDir(), "none.gguf"), "--ids", "1"}, ExitRuntime, "none.gguf"},
		{"too long", []string{"run", "--model", path, "--ids", "1", "-n", "100000"}, ExitRuntime, "context"},
		{"bad top-p", []string{"run", "--model", path, "--ids", "1", "--top-p", "2"}, ExitUsage, "--top-p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execCLI(t, tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := ExitCode(err); got != tt.code {
				t.Errorf("exit code %d, want %d (%v)", got, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
		})
	}
}

// TestRunDeviceMetal: asking for Metal off Apple Silicon fails with a
// message naming Metal and the platform, before the model is read.
func TestRunDeviceMetal(t *testing.T) {
	if metalPlatform() {
		t.Skip("Metal may be available on darwin/arm64")
	}
	isolateLocal(t)
	_, _, err := execCLI(t, "run", "--model", "whatever.gguf", "--ids", "1", "--device", "metal")
	if err == nil {
		t.Fatal("run --device metal succeeded")
	}
	if ExitCode(err) == ExitOK {
		t.Errorf("exit code 0")
	}
	for _, want := range []string{"Metal", runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestResolveDevice(t *testing.T) {
	tests := []struct {
		in, want string
		code     int
	}{
		{"cpu", deviceCPU, ExitOK},
		{"CPU", deviceCPU, ExitOK},
		{"auto", map[bool]string{true: "", false: deviceCPU}[metalPlatform()], ExitOK},
		{"", map[bool]string{true: "", false: deviceCPU}[metalPlatform()], ExitOK},
		{"gpu", "", ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := resolveDevice(tt.in)
			if code := ExitCode(err); code != tt.code {
				t.Fatalf("exit code %d, want %d (%v)", code, tt.code, err)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("resolveDevice(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []core.TokenID
		ok   bool
	}{
		{"1 2 3", []core.TokenID{1, 2, 3}, true},
		{"[1, 2,3]", []core.TokenID{1, 2, 3}, true},
		{" 0\t260\n", []core.TokenID{0, 260}, true},
		{"", nil, false},
		{"1 x", nil, false},
		{"-1", nil, false},
		{"261", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseIDs(tt.in, 261)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMaxTokens(t *testing.T) {
	tests := []struct{ n, prompt, ctx, want int }{
		{24, 5, 256, 24},
		{0, 5, 256, 251},
		{0, 5, 4096, defaultMaxTokens},
		{0, 300, 256, 1},
	}
	for _, tt := range tests {
		if got := maxTokens(tt.n, tt.prompt, tt.ctx); got != tt.want {
			t.Errorf("maxTokens(%d, %d, %d) = %d, want %d", tt.n, tt.prompt, tt.ctx, got, tt.want)
		}
	}
}

// FuzzParseIDs: parseIDs never panics, and what it accepts are ids of the
// vocabulary that print back to an equivalent list.
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"1 2 3", "[1,2]", "", "-1", "99999999999", "1\t2\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := parseIDs(s, 261)
		if err != nil {
			return
		}
		for _, id := range ids {
			if id < 0 || id >= 261 {
				t.Fatalf("parseIDs(%q) accepted %d", s, id)
			}
		}
		again, err := parseIDs(fmtIDs(ids), 261)
		if err != nil || !slices.Equal(ids, again) {
			t.Fatalf("round trip of %v: %v, %v", ids, again, err)
		}
	})
}

// TestRunPromptFromStdin: --prompt - reads the prompt from stdin.
func TestRunPromptFromStdin(t *testing.T) {
	isolateLocal(t)
	path := fixtureModel(t, "fx-llama-f32.gguf")
	args := []string{"pensieve-cli", "run", "--model", path, "-n", "8", "--temperature", "0", "--threads", "1", "--raw", "--json"}
	var fromFlag, fromStdin, errOut bytes.Buffer
	if err := New(&fromFlag, &errOut).Run(append(args, "--prompt", "hello")); err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	app := New(&fromStdin, &errOut)
	app.Reader = strings.NewReader("hello")
	if err := app.Run(append(args, "--prompt", "-")); err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	if fromFlag.String() != fromStdin.String() {
		t.Errorf("--prompt hello gave %q, stdin gave %q", fromFlag.String(), fromStdin.String())
	}
}
