package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testHub serves org/repo/resolve/main/model.gguf like the Hugging Face
// hub: a redirect carrying X-Linked-Etag, then the bytes from /cdn/.
type testHub struct {
	*httptest.Server
	data []byte

	mu   sync.Mutex // guards auth and sha
	auth []string   // Authorization headers seen on /resolve/
	sha  string     // the checksum announced
}

func newTestHub(t *testing.T, data []byte) *testHub {
	s := sha256.Sum256(data)
	h := &testHub{data: data, sha: hex.EncodeToString(s[:])}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/org/repo/resolve/main/model.gguf":
			h.mu.Lock()
			h.auth = append(h.auth, r.Header.Get("Authorization"))
			w.Header().Set("X-Linked-Etag", `"`+h.sha+`"`)
			h.mu.Unlock()
			http.Redirect(w, r, "/cdn/model.gguf", http.StatusFound)
		case "/cdn/model.gguf":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.data))
		default:
			w.Header().Set("X-Error-Message", "Entry not found")
			http.Error(w, "Entry not found", http.StatusNotFound)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func TestModelsPull(t *testing.T) {
	cliEnv(t)
	data := bytes.Repeat([]byte("pensieve"), 40_000)
	h := newTestHub(t, data)
	dir := filepath.Join(t.TempDir(), "models")
	t.Setenv("HF_TOKEN", "hf_test")

	out, errOut, code := runApp(t, "models", "pull", "--hf-endpoint", h.URL, "--models-dir", dir, "hf://org/repo/model.gguf")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := fmt.Sprintf("%s (312.5 KiB), sha256 %s verified\n", filepath.Join(dir, "model.gguf"), h.sha)
	if out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "model.gguf")); !bytes.Equal(got, data) {
		t.Error("downloaded file differs")
	}
	if !strings.Contains(errOut, "model.gguf 100% 312.5 KiB / 312.5 KiB") || strings.Contains(errOut, "\r") {
		t.Errorf("progress on a non-terminal should be plain lines: %q", errOut)
	}
	if d := cmp.Diff([]string{"Bearer hf_test"}, h.auth); d != "" {
		t.Errorf("HF_TOKEN not sent (-want +got)\n%s", d)
	}

	out, _, code = runApp(t, "models", "pull", "--hf-endpoint", h.URL, "--models-dir", dir, "org/repo/model.gguf")
	if code != 0 || !strings.Contains(out, "is already there") {
		t.Errorf("second pull: exit %d, out %q", code, out)
	}
	// The models dir and endpoint may also come from the environment.
	t.Setenv("PENSIEVE_MODELS_DIR", dir)
	t.Setenv("HF_ENDPOINT", h.URL)
	out, errOut, code = runApp(t, "models", "pull", "--force", "org/repo/model.gguf")
	if code != 0 || !strings.Contains(out, "verified") {
		t.Errorf("pull --force: exit %d, out %q, err %s", code, out, errOut)
	}
}

func TestModelsPullFailures(t *testing.T) {
	cliEnv(t)
	h := newTestHub(t, []byte("weights"))
	tests := []struct {
		name     string
		args     []string
		mismatch bool
		code     int
		want     string
	}{
		{"404", []string{"org/repo/missing.gguf"}, false, ExitRuntime, "not found on the hub (404: Entry not found)"},
		{"wrong revision", []string{"--revision", "v2", "org/repo/model.gguf"}, false, ExitRuntime, "org/repo/model.gguf@v2: not found"},
		{"checksum mismatch", []string{"org/repo/model.gguf"}, true, ExitRuntime, "checksum mismatch"},
		{"bad ref", []string{"org/model.gguf"}, false, ExitUsage, "want ORG/REPO/FILE"},
		{"no ref", nil, false, ExitUsage, "want exactly one REF"},
		{"bad endpoint", []string{"--hf-endpoint", "ftp://x", "org/repo/model.gguf"}, false, ExitUsage, "hub.endpoint: want an http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mu.Lock()
			good := h.sha
			if tt.mismatch {
				h.sha = strings.Repeat("ab", 32)
			}
			h.mu.Unlock()
			defer func() { h.mu.Lock(); h.sha = good; h.mu.Unlock() }()
			dir := t.TempDir()
			args := append([]string{"models", "pull", "--hf-endpoint", h.URL, "--models-dir", dir}, tt.args...)
			if tt.name == "bad endpoint" {
				args = append([]string{"models", "pull", "--models-dir", dir}, tt.args...)
			}
			_, errOut, code := runApp(t, args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", code, errOut, tt.code, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
}

func TestModelsListAndRm(t *testing.T) {
	cliEnv(t)
	dir := t.TempDir()
	for name, size := range map[string]int{"b.gguf": 2048, "a.safetensors": 10, "c.gguf.partial": 5, ".hidden": 1} {
		os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "subdir"), 0o755)
	mod := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "b.gguf"), mod, mod)

	out, errOut, code := runApp(t, "models", "list", "--json", "--models-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var files []modelFile
	if err := json.Unmarshal([]byte(out), &files); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var got []string
	for _, f := range files {
		got = append(got, fmt.Sprintf("%s %d %v", f.Name, f.Size, f.Partial))
	}
	if d := cmp.Diff([]string{"a.safetensors 10 false", "b.gguf 2048 false", "c.gguf.partial 5 true"}, got); d != "" {
		t.Errorf("list (-want +got)\n%s", d)
	}
	if !files[1].Modified.Equal(mod) || files[1].Path != filepath.Join(dir, "b.gguf") {
		t.Errorf("b.gguf: %+v", files[1])
	}

	out, _, _ = runApp(t, "models", "list", "--models-dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[2], "2.0 KiB") ||
		!strings.Contains(lines[3], "(interrupted download)") {
		t.Errorf("table:\n%s", out)
	}

	rmTests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"by stem", []string{"b"}, 0, "removed " + filepath.Join(dir, "b.gguf")},
		{"by name", []string{"c.gguf.partial"}, 0, "removed " + filepath.Join(dir, "c.gguf.partial")},
		{"missing", []string{"zzz.gguf"}, ExitRuntime, `"zzz.gguf": no such file`},
		{"a path", []string{"../a.safetensors"}, ExitUsage, "not a path"},
		{"a directory", []string{"subdir"}, ExitRuntime, "no such file"},
		{"no name", nil, ExitUsage, "want at least one NAME"},
	}
	for _, tt := range rmTests {
		t.Run("rm "+tt.name, func(t *testing.T) {
			out, errOut, code := runApp(t, append([]string{"models", "rm", "--models-dir", dir}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, out %q, err %q; want %d with %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
	out, _, _ = runApp(t, "models", "list", "--json", "--models-dir", dir)
	if !strings.Contains(out, "a.safetensors") || strings.Contains(out, "b.gguf") {
		t.Errorf("after rm: %s", out)
	}

	empty := filepath.Join(t.TempDir(), "none")
	out, _, code = runApp(t, "models", "list", "--models-dir", empty)
	if code != 0 || !strings.HasPrefix(out, "no models in "+empty) {
		t.Errorf("empty: exit %d, %q", code, out)
	}
	if out, _, _ = runApp(t, "models", "list", "--json", "--models-dir", empty); out != "[]\n" {
		t.Errorf("empty json: %q", out)
	}
}
