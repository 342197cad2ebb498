package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load runs Load with an isolated home directory and environment.
func load(t *testing.T, opts Options) (Config, error) {
	t.Helper()
	if opts.HomeDir == "" {
		opts.HomeDir = t.TempDir()
	}
	if opts.Environ == nil {
		opts.Environ = []string{}
	}
	return Load(opts)
}

// The same settings in each format: addr and threads are overridden by the
// environment or flags in the tests; log.level only comes from the file.
var sameInEachFormat = map[string]string{
	"config.toml": `
[server]
addr = "127.0.0.1:1111"
api_keys = ["file-key"]
[engine]
threads = 3
[log]
level = "warn"
`,
	"config.yaml": `
server:
  addr: "127.0.0.1:1111"
  api_keys: [file-key]
engine:
  threads: 3
log:
  level: warn
`,
	"config.json": `{
  "server": {"addr": "127.0.0.1:1111", "api_keys": ["file-key"]},
  "engine": {"threads": 3},
  "log": {"level": "warn"}
}`,
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	layers := []struct {
		name        string
		env         []string
		flags       map[string]any
		wantAddr    string
		wantThreads int
	}{
		{"file", nil, nil, "127.0.0.1:1111", 3},
		{"env over file", []string{"PENSIEVE_SERVER_ADDR=127.0.0.1:2222", "PENSIEVE_ENGINE_THREADS=5"}, nil, "127.0.0.1:2222", 5},
		{"flag over file", nil, map[string]any{"server.addr": "127.0.0.1:3333"}, "127.0.0.1:3333", 3},
		{"flag over env over file", []string{"PENSIEVE_SERVER_ADDR=127.0.0.1:2222", "PENSIEVE_ENGINE_THREADS=5"},
			map[string]any{"server.addr": "127.0.0.1:3333"}, "127.0.0.1:3333", 5},
	}
	for _, name := range sortedKeys(sameInEachFormat) {
		for _, l := range layers {
			t.Run(name+"/"+l.name, func(t *testing.T) {
				path := writeFile(t, t.TempDir(), name, sameInEachFormat[name])
				env := append([]string{}, l.env...)
				c, err := load(t, Options{File: path, Environ: env, Flags: l.flags})
				if err != nil {
					t.Fatal(err)
				}
				got := []any{c.Server.Addr, c.Engine.Threads, c.Log.Level, c.Server.APIKeys, c.Source.File}
				want := []any{l.wantAddr, l.wantThreads, "warn", []string{"file-key"}, path}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("(-want +got)\n%s", d)
				}
			})
		}
	}
}

func TestDefaults(t *testing.T) {
	home := t.TempDir()
	got, err := Load(Options{HomeDir: home, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.ModelsDir = filepath.Join(home, ".cache", "pensieve", "models")
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default() is invalid: %v", err)
	}
}

func TestFileDiscovery(t *testing.T) {
	home := t.TempDir()
	def := filepath.Join(home, ".config", "pensieve", "config.toml")
	if err := os.MkdirAll(filepath.Dir(def), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(def), "config.toml", "device = \"cpu\"\n")
	other := writeFile(t, t.TempDir(), "other.yml", "device: metal\n")
	xdg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(xdg, "pensieve"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(xdg, "pensieve"), "config.toml", "device = \"auto\"\nengine.slots = 2\n")
	tests := []struct {
		name       string
		opts       Options
		wantDevice string
		wantFile   string
	}{
		{"default file when present", Options{}, "cpu", def},
		{"PENSIEVE_CONFIG", Options{Environ: []string{"PENSIEVE_CONFIG=" + other}}, "metal", other},
		{"explicit file wins over PENSIEVE_CONFIG", Options{File: def, Environ: []string{"PENSIEVE_CONFIG=" + other}}, "cpu", def},
		{"XDG_CONFIG_HOME", Options{Environ: []string{"XDG_CONFIG_HOME=" + xdg}}, "auto", filepath.Join(xdg, "pensieve", "config.toml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.HomeDir = home
			c, err := load(t, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.Device != tt.wantDevice || c.Source.File != tt.wantFile {
				t.Errorf("device %q from %q, want %q from %q", c.Device, c.Source.File, tt.wantDevice, tt.wantFile)
			}
		})
	}
	t.Run("no default file", func(t *testing.T) {
		c, err := load(t, Options{})
		if err != nil || c.Source.File != "" {
			t.Fatalf("got file %q, err %v", c.Source.File, err)
		}
	})
	t.Run("named file missing", func(t *testing.T) {
		_, err := load(t, Options{File: filepath.Join(t.TempDir(), "nope.toml")})
		if !errors.Is(err, core.KindNotFound) {
			t.Fatalf("err = %v, want kind not_found", err)
		}
	})
	t.Run("unknown extension", func(t *testing.T) {
		_, err := load(t, Options{File: writeFile(t, t.TempDir(), "c.ini", "x=1")})
		if !errors.Is(err, core.KindInvalid) || !strings.Contains(err.Error(), ".toml, .yaml, .yml or .json") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		_, err := load(t, Options{File: writeFile(t, t.TempDir(), "c.toml", "[server\n")})
		if !errors.Is(err, core.KindInvalid) || !strings.Contains(err.Error(), "parse") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		get  func(Config) any
		want any
	}{
		{"list comma-separated", []string{"PENSIEVE_SERVER_API_KEYS= k1, k2 ,,"}, func(c Config) any { return c.Server.APIKeys }, []string{"k1", "k2"}},
		{"empty list clears the file's list", []string{"PENSIEVE_SERVER_CORS_ORIGINS="}, func(c Config) any { return c.Server.CORSOrigins }, []string(nil)},
		{"nested key with underscores", []string{"PENSIEVE_SERVER_RATE_LIMIT_REQUESTS_PER_MINUTE=60"}, func(c Config) any { return c.Server.RateLimit.RequestsPerMinute }, 60},
		{"int", []string{"PENSIEVE_SERVER_MAX_CONCURRENT_PER_KEY=3"}, func(c Config) any { return c.Server.MaxConcurrentPerKey }, 3},
		{"nested bool", []string{"PENSIEVE_SERVER_IMAGE_URLS_FETCH=true"}, func(c Config) any { return c.Server.ImageURLs.Fetch }, true},
		{"nested size", []string{"PENSIEVE_SERVER_IMAGE_URLS_MAX_BYTES=5MiB"}, func(c Config) any { return c.Server.ImageURLs.MaxBytes }, 5 * MiB},
		{"bool true", []string{"PENSIEVE_SERVER_LOG_PROMPTS=true"}, func(c Config) any { return c.Server.LogPrompts }, true},
		{"bool", []string{"PENSIEVE_SERVER_METRICS_AUTH=true"}, func(c Config) any { return c.Server.MetricsAuth }, true},
		{"duration", []string{"PENSIEVE_SERVER_READ_TIMEOUT=45s"}, func(c Config) any { return c.Server.ReadTimeout }, 45 * time.Second},
		{"size", []string{"PENSIEVE_ENGINE_KV_MEMORY=2GiB"}, func(c Config) any { return c.Engine.KVMemory }, 2 * GiB},
		{"HF_TOKEN", []string{"HF_TOKEN=hf_abc"}, func(c Config) any { return c.Hub.Token }, "hf_abc"},
		{"PENSIEVE_HUB_TOKEN wins over HF_TOKEN", []string{"HF_TOKEN=hf_abc", "PENSIEVE_HUB_TOKEN=hf_xyz"}, func(c Config) any { return c.Hub.Token }, "hf_xyz"},
		{"HF_ENDPOINT", []string{"HF_ENDPOINT=http://mirror.local"}, func(c Config) any { return c.Hub.Endpoint }, "http://mirror.local"},
		{"empty scalar counts as unset", []string{"PENSIEVE_SERVER_ADDR=", "HF_TOKEN="}, func(c Config) any { return c.Server.Addr + "|" + c.Hub.Token }, DefaultAddr + "|"},
		{"unknown PENSIEVE_ variables ignored", []string{"PENSIEVE_FIXTURES=/x", "PENSIEVE_NOPE=1"}, func(c Config) any { return c.Server.Addr }, DefaultAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "c.json", `{"server": {"cors_origins": ["https://a.example"]}}`)
			c, err := load(t, Options{File: file, Environ: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, tt.get(c)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.toml", `
device = "cpu"
[log]
level = "warn"
[server]
addr = "127.0.0.1:1111"
[profiles.dev]
log = { level = "debug" }
[profiles.dev.server]
addr = "127.0.0.1:2222"
[profiles.prod]
device = "metal"
`)
	tests := []struct {
		name    string
		opts    Options
		want    []string // addr, level, device, profile
		wantErr string
	}{
		{"no profile", Options{}, []string{"127.0.0.1:1111", "warn", "cpu", ""}, ""},
		{"dev overrides base", Options{Profile: "dev"}, []string{"127.0.0.1:2222", "debug", "cpu", "dev"}, ""},
		{"PENSIEVE_PROFILE", Options{Environ: []string{"PENSIEVE_PROFILE=prod"}}, []string{"127.0.0.1:1111", "warn", "metal", "prod"}, ""},
		{"env beats profile", Options{Profile: "dev", Environ: []string{"PENSIEVE_LOG_LEVEL=error"}}, []string{"127.0.0.1:2222", "error", "cpu", "dev"}, ""},
		{"flag beats profile", Options{Profile: "dev", Flags: map[string]any{"server.addr": "127.0.0.1:3333"}}, []string{"127.0.0.1:3333", "debug", "cpu", "dev"}, ""},
		{"unknown profile", Options{Profile: "staging"}, nil, "profiles.staging: no such profile (defined: dev, prod)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.File = path
			c, err := load(t, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{c.Server.Addr, c.Log.Level, c.Device, c.Source.Profile}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	t.Run("profile without a file", func(t *testing.T) {
		_, err := load(t, Options{Profile: "dev"})
		if err == nil || !strings.Contains(err.Error(), "profiles.dev: a profile needs a configuration file") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestModelsAndPaths(t *testing.T) {
	home := t.TempDir()
	path := writeFile(t, t.TempDir(), "c.yaml", `
models_dir: ~/models
models:
  - path: qwen2.5-0.5b-q4_k_m.gguf
    aliases: [claude-haiku-4-5]
  - id: big
    name: Big Model
    path: /abs/llama.gguf
    default: true
    keep_alive: 5m
    context_length: 8192
`)
	c, err := load(t, Options{File: path, HomeDir: home})
	if err != nil {
		t.Fatal(err)
	}
	want := []Model{
		{ID: "qwen2.5-0.5b-q4_k_m", Name: "qwen2.5-0.5b-q4_k_m", Path: filepath.Join(home, "models", "qwen2.5-0.5b-q4_k_m.gguf"), Aliases: []string{"claude-haiku-4-5"}},
		{ID: "big", Name: "Big Model", Path: "/abs/llama.gguf", Default: true, KeepAlive: 5 * time.Minute, ContextLength: 8192},
	}
	if d := cmp.Diff(want, c.Models); d != "" {
		t.Errorf("models (-want +got)\n%s", d)
	}
	if m, _ := c.DefaultModel(); m.ID != "big" {
		t.Errorf("default model %q, want big", m.ID)
	}
	t.Run("models from flags replace the file's", func(t *testing.T) {
		c, err := load(t, Options{File: path, HomeDir: home, Flags: map[string]any{
			"models": []any{map[string]any{"path": "/m/a.gguf"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Models) != 1 || c.Models[0].ID != "a" {
			t.Fatalf("models = %+v", c.Models)
		}
		if m, ok := c.DefaultModel(); !ok || m.ID != "a" {
			t.Errorf("first model is not the default: %+v", m)
		}
	})
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	keys := writeFile(t, dir, "keys", "# team keys\nk-one\n\n  k-two  \n")
	token := writeFile(t, dir, "token", "hf_secret\n")
	path := writeFile(t, dir, "c.toml", `
[server]
api_keys = ["k-inline"]
api_keys_file = "`+keys+`"
[hub]
token_file = "`+token+`"
`)
	c, err := load(t, Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"k-inline", "k-one", "k-two"}, c.Server.APIKeys); d != "" {
		t.Errorf("api keys (-want +got)\n%s", d)
	}
	if c.Hub.Token != "hf_secret" {
		t.Errorf("token %q", c.Hub.Token)
	}
	if d := cmp.Diff([]string{keys, token}, c.Source.SecretFiles); d != "" {
		t.Errorf("secret files (-want +got)\n%s", d)
	}
	t.Run("HF_TOKEN wins over token_file", func(t *testing.T) {
		c, err := load(t, Options{File: path, Environ: []string{"HF_TOKEN=hf_env"}})
		if err != nil || c.Hub.Token != "hf_env" {
			t.Fatalf("token %q, err %v", c.Hub.Token, err)
		}
	})
	t.Run("missing file names the key", func(t *testing.T) {
		_, err := load(t, Options{Flags: map[string]any{"server.api_keys_file": filepath.Join(dir, "gone")}})
		if err == nil || !strings.Contains(err.Error(), "server.api_keys_file: open") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStarterTOML(t *testing.T) {
	home := t.TempDir()
	path := writeFile(t, t.TempDir(), "config.toml", string(StarterTOML()))
	got, err := load(t, Options{File: path, HomeDir: home})
	if err != nil {
		t.Fatal(err)
	}
	want, err := load(t, Options{HomeDir: home})
	if err != nil {
		t.Fatal(err)
	}
	want.Source.File = path
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("starter file differs from the defaults (-want +got)\n%s", d)
	}
	keys := map[string]reflect.Type{}
	leafKeys(configType, "", keys)
	for key := range keys {
		name := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(StarterTOML()), name+" =") {
			t.Errorf("starter file does not mention %s", key)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	base := Default()
	base.ModelsDir = "/srv/models"
	base.Server.CORSOrigins = []string{"https://a.example"}
	base.Engine.KVMemory = 3 * GiB
	base.Server.ReadTimeout = 90 * time.Second
	base.Models = []Model{{ID: "m", Name: "M", Path: "/srv/models/m.gguf", Aliases: []string{"claude-x"}, KeepAlive: time.Hour, Default: true}}
	for _, ext := range []string{"toml", "yaml", "json"} {
		t.Run(ext, func(t *testing.T) {
			b, err := base.Marshal(ext)
			if err != nil {
				t.Fatal(err)
			}
			path := writeFile(t, t.TempDir(), "c."+ext, string(b))
			got, err := load(t, Options{File: path})
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			got.Source = Source{}
			if d := cmp.Diff(base, got); d != "" {
				t.Errorf("(-want +got)\n%s\n%s", d, b)
			}
		})
	}
	if _, err := base.Marshal("ini"); !errors.Is(err, core.KindInvalid) {
		t.Errorf("Marshal(ini) err = %v", err)
	}
}
