package layering

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayering reads the real import graph of every module with
// `go list -deps` and fails on any edge the policy does not allow.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]Edge{}
	for _, mod := range Modules {
		dir := filepath.Join(root, mod)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
			t.Fatalf("module %s: %v", mod, err)
		}
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list in %s: %v\n%s", mod, err, stderr.String())
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			for _, imp := range f[min(1, len(f)):] {
				deps[mod] = append(deps[mod], Edge{From: f[0], To: imp})
			}
		}
	}
	for _, v := range Check(deps) {
		t.Error(v)
	}
}

func TestCheckReportsViolations(t *testing.T) {
	tests := []struct {
		name string
		deps map[string][]Edge
		want []string // substrings, one per expected violation
	}{
		{
			name: "engine imports model",
			deps: map[string][]Edge{"engine": {
				{Prefix + "engine", "context"}, {Prefix + "engine", Prefix + "core"},
				{Prefix + "engine/sched", Prefix + "model/gguf"},
			}},
			want: []string{"module engine must not import module model"},
		},
		{
			name: "core imports a third-party package",
			deps: map[string][]Edge{"core": {{Prefix + "core", "fmt"}, {Prefix + "core", "go.uber.org/zap"}}},
			want: []string{"module core must use only the standard library"},
		},
		{
			name: "core imports engine",
			deps: map[string][]Edge{"core": {{Prefix + "core", Prefix + "engine"}}},
			want: []string{"module core must not import module engine"},
		},
		{
			name: "claude imports server",
			deps: map[string][]Edge{"claude": {{Prefix + "claude/prompt", Prefix + "core"}, {Prefix + "claude/prompt", Prefix + "server"}}},
			want: []string{"module claude must not import module server"},
		},
		{
			name: "allowed graph",
			deps: map[string][]Edge{
				"engine": {{Prefix + "engine", "go.uber.org/zap"}, {Prefix + "engine", Prefix + "core"}},
				"cli":    {{Prefix + "cli/app", Prefix + "server"}, {Prefix + "cli/app", Prefix + "model/gguf"}, {Prefix + "cli/app", Prefix + "proxy"}},
				"proxy":  {{Prefix + "proxy", Prefix + "claude"}},
				// A third-party package importing anything is not the module's edge.
				"core": {{"go.uber.org/zap", "go.uber.org/multierr"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.deps)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations %v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i].String(), w) {
					t.Errorf("violation %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestModuleOf(t *testing.T) {
	for in, want := range map[string]string{
		Prefix + "model/gguf": "model",
		Prefix + "core":       "core",
		"github.com/other/x":  "",
		"fmt":                 "",
	} {
		if got := ModuleOf(in); got != want {
			t.Errorf("ModuleOf(%q) = %q, want %q", in, got, want)
		}
	}
}
