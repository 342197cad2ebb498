package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cliEnv isolates a test from the user's configuration and environment:
// HOME is a fresh directory and the variables pensieve reads are cleared.
// It returns HOME.
func cliEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PENSIEVE_") || strings.HasPrefix(k, "HF_") || k == "XDG_CONFIG_HOME" {
			t.Setenv(k, "")
		}
	}
	return home
}

// runApp runs pensieve-cli with args and returns stdout, stderr (with the
// error, as main prints it) and the exit status.
func runApp(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := New(&out, &errOut).RunContext(context.Background(), append([]string{"pensieve-cli"}, args...))
	if err != nil {
		errOut.WriteString("pensieve-cli: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

// showJSON runs `config show --json` with args and decodes the result.
func showJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, errOut, code := runApp(t, append([]string{"config", "show", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return m
}

func serverAddr(m map[string]any) string { return m["server"].(map[string]any)["addr"].(string) }

func TestConfigShowPrecedence(t *testing.T) {
	cliEnv(t)
	dir := t.TempDir()
	files := map[string]string{
		"c.toml": "[server]\naddr = \"127.0.0.1:1001\"\n[profiles.dev.server]\naddr = \"127.0.0.1:1002\"\n",
		"c.yaml": "server:\n  addr: 127.0.0.1:1001\nprofiles:\n  dev:\n    server:\n      addr: 127.0.0.1:1002\n",
		"c.json": `{"server": {"addr": "127.0.0.1:1001"}, "profiles": {"dev": {"server": {"addr": "127.0.0.1:1002"}}}}`,
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			env  string
			args []string
			want string
		}{
			{"file", "", []string{"--config", path}, "127.0.0.1:1001"},
			{"global flag before the command", "", nil, "127.0.0.1:1001"},
			{"profile", "", []string{"--config", path, "--profile", "dev"}, "127.0.0.1:1002"},
			{"env over file", "127.0.0.1:2000", []string{"--config", path}, "127.0.0.1:2000"},
			{"flag over env", "127.0.0.1:2000", []string{"--config", path, "--addr", "127.0.0.1:3000"}, "127.0.0.1:3000"},
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				t.Setenv("PENSIEVE_SERVER_ADDR", tt.env)
				var m map[string]any
				if tt.args == nil {
					out, errOut, code := runApp(t, "--config", path, "config", "show", "--json")
					if code != 0 {
						t.Fatalf("exit %d: %s", code, errOut)
					}
					json.Unmarshal([]byte(out), &m)
				} else {
					m = showJSON(t, tt.args...)
				}
				if got := serverAddr(m); got != tt.want {
					t.Errorf("server.addr = %q, want %q", got, tt.want)
				}
			})
		}
	}
	t.Run("flag after the command wins over the global one", func(t *testing.T) {
		other := filepath.Join(dir, "other.toml")
		os.WriteFile(other, []byte("server.addr = \"127.0.0.1:4000\"\n"), 0o600)
		out, errOut, code := runApp(t, "--config", filepath.Join(dir, "c.toml"), "config", "show", "--json", "--config", other)
		if code != 0 || !strings.Contains(out, "127.0.0.1:4000") {
			t.Fatalf("exit %d, out %s, err %s", code, out, errOut)
		}
	})
}

func TestConfigShowRedactsSecrets(t *testing.T) {
	cliEnv(t)
	t.Setenv("HF_TOKEN", "hf_topsecret")
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "--json"}} {
		out, errOut, code := runApp(t, append(args, "--api-key", "sk-secret-1", "--api-key", "sk-secret-2")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, s := range []string{"sk-secret", "hf_topsecret"} {
			if strings.Contains(out, s) {
				t.Errorf("%v printed a secret:\n%s", args, out)
			}
		}
		if strings.Count(out, "[redacted]") != 3 {
			t.Errorf("%v: want 3 redaction markers (2 keys, 1 token):\n%s", args, out)
		}
	}
}

func TestConfigErrorsExitTwo(t *testing.T) {
	home := cliEnv(t)
	bad := filepath.Join(home, "bad.toml")
	os.WriteFile(bad, []byte("[server]\naddr = \"nope\"\n[engine]\nslotz = 3\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"invalid value names the key", []string{"config", "show", "--config", bad}, []string{`server.addr: want host:port`, "engine.slotz: unknown key"}},
		{"validate", []string{"config", "validate", "--config", bad}, []string{"server.addr:"}},
		{"validate FILE argument", []string{"config", "validate", bad}, []string{"server.addr:"}},
		{"missing file", []string{"config", "show", "--config", filepath.Join(home, "none.toml")}, []string{"none.toml"}},
		{"no file to validate", []string{"config", "validate"}, []string{"--config FILE"}},
		{"bad flag value", []string{"config", "show", "--addr", "x"}, []string{`server.addr: want host:port`}},
		{"bad log level", []string{"--log-level", "loud", "version"}, []string{`--log-level "loud"`}},
		{"bad log format after the command", []string{"config", "show", "--log-format", "xml"}, []string{`--log-format "xml"`}},
		{"unknown flag", []string{"config", "show", "--nope"}, []string{"flag provided but not defined: -nope"}},
		{"unknown global flag", []string{"--nope", "version"}, []string{"flag provided but not defined: -nope"}},
		{"unknown profile", []string{"config", "show", "--profile", "x"}, []string{"profiles.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runApp(t, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d: %s", code, ExitUsage, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}

func TestConfigInitAndValidate(t *testing.T) {
	home := cliEnv(t)
	def := filepath.Join(home, ".config", "pensieve", "config.toml")

	out, errOut, code := runApp(t, "config", "init")
	if code != 0 || out != "wrote "+def+"\n" {
		t.Fatalf("exit %d, out %q, err %s", code, out, errOut)
	}
	st, err := os.Stat(def)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v, %v", st, err)
	}
	// The starter file is picked up by default and equals the defaults.
	withFile := showJSON(t)
	os.Rename(def, def+".bak")
	without := showJSON(t)
	os.Rename(def+".bak", def)
	if d := cmp.Diff(without, withFile); d != "" {
		t.Errorf("starter config differs from the defaults (-want +got)\n%s", d)
	}
	out, errOut, code = runApp(t, "config", "validate")
	if code != 0 || out != def+": ok\n" {
		t.Errorf("validate: exit %d, out %q, err %s", code, out, errOut)
	}

	_, errOut, code = runApp(t, "config", "init")
	if code != ExitRuntime || !strings.Contains(errOut, "already exists; use --force") {
		t.Errorf("second init: exit %d, err %s", code, errOut)
	}
	os.WriteFile(def, []byte("edited"), 0o600)
	if _, errOut, code = runApp(t, "config", "init", "--force"); code != 0 {
		t.Fatalf("init --force: exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(def); !strings.HasPrefix(string(b), "# Pensieve configuration") {
		t.Errorf("--force did not overwrite: %q", b)
	}

	other := filepath.Join(t.TempDir(), "sub", "p.toml")
	if out, errOut, code = runApp(t, "config", "init", other); code != 0 || out != "wrote "+other+"\n" {
		t.Errorf("init PATH: exit %d, out %q, err %s", code, out, errOut)
	}
	if _, errOut, code = runApp(t, "config", "init", filepath.Join(home, "x.yaml")); code != ExitUsage {
		t.Errorf("init x.yaml: exit %d: %s", code, errOut)
	}
	entries, _ := os.ReadDir(filepath.Dir(def))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
