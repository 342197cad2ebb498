package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

func TestValidationNamesTheField(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // "path: message" prefixes, in order
	}{
		{"addr without port", `server.addr = "8080"`, []string{`server.addr: want host:port (e.g. "127.0.0.1:8080"), got "8080"`}},
		{"addr bad port", `server.addr = "localhost:http"`, []string{`server.addr: port must be a number from 0 to 65535, got "http"`}},
		{"empty addr", `server.addr = ""`, []string{"server.addr: must not be empty"}},
		{"unknown key", "[server]\nadr = \"x\"\n", []string{"server.adr: unknown key"}},
		{"unknown top-level key", "modeldir = \"x\"\n", []string{"modeldir: unknown key"}},
		{"table expected", `server = "x"`, []string{`server: want a table, got "x"`}},
		{"wrong type", `engine.slots = "many"`, []string{`engine.slots: want int, got "many"`}},
		{"fractional number", `engine.slots = 1.5`, []string{"engine.slots: want a whole number, got 1.5"}},
		{"too few slots", `engine.slots = 0`, []string{"engine.slots: must be at least 1, got 0"}},
		{"bare number duration", `server.read_timeout = 30`, []string{`server.read_timeout: want a duration string such as "30s"`}},
		{"bad duration", `server.read_timeout = "soon"`, []string{`server.read_timeout: want a duration such as "30s" or "5m", got "soon"`}},
		{"bad size", `server.body_limit = "lots"`, []string{`server.body_limit: invalid size "lots"`}},
		{"negative size", `server.body_limit = -1`, []string{"server.body_limit: must be positive, got -1"}},
		{"device", `device = "gpu"`, []string{`device: must be one of auto, cpu, metal, got "gpu"`}},
		{"log level", `log.level = "loud"`, []string{`log.level: must be one of debug, info, warn, error, got "loud"`}},
		{"log format", `log.format = "xml"`, []string{`log.format: must be one of console, json, got "xml"`}},
		{"api key with space", `server.api_keys = ["ok", "not ok"]`, []string{"server.api_keys[1]: must be non-empty and contain no whitespace"}},
		{"cors origin", `server.cors_origins = ["example.com"]`, []string{`server.cors_origins[0]: want "*" or an origin`}},
		{"rate limit", `server.rate_limit.requests_per_minute = -5`, []string{"server.rate_limit.requests_per_minute: must not be negative, got -5"}},
		{"image size", `server.image_urls.max_bytes = 0`, []string{"server.image_urls.max_bytes: must be positive, got 0"}},
		{"image timeout", `server.image_urls.timeout = "-1s"`, []string{"server.image_urls.timeout: must be positive, got -1s"}},
		{"concurrency limit", `server.max_concurrent_per_key = -1`, []string{"server.max_concurrent_per_key: must not be negative, got -1"}},
		{"hub endpoint", `hub.endpoint = "ftp://x"`, []string{`hub.endpoint: want an http or https URL, got "ftp://x"`}},
		{"model without path", "[[models]]\nid = \"a\"\n", []string{"models[0].path: must not be empty"}},
		{"model unknown key", "[[models]]\npath = \"a.gguf\"\npth = \"b\"\n", []string{"models[0].pth: unknown key"}},
		{"duplicate id", "[[models]]\npath = \"/m/a.gguf\"\n[[models]]\npath = \"/n/a.gguf\"\n",
			[]string{`models[1].id: "a" is already used by models[0].id`}},
		{"alias collides with id", "[[models]]\npath = \"/m/a.gguf\"\n[[models]]\npath = \"/m/b.gguf\"\naliases = [\"a\"]\n",
			[]string{`models[1].aliases[0]: "a" is already used by models[0].id`}},
		{"two defaults", "[[models]]\npath = \"/m/a.gguf\"\ndefault = true\n[[models]]\npath = \"/m/b.gguf\"\ndefault = true\n",
			[]string{"models[1].default: only one model may be the default (models[0] already is)"}},
		{"profile key", "[profiles.dev.server]\nadr = \"x\"\n", []string{"profiles.dev.server.adr: unknown key"}},
		{"unknown key and bad value together", "[server]\naddr = \"nope\"\n[engine]\nslotz = 3\n",
			[]string{"engine.slotz: unknown key", "server.addr: want host:port"}},
		{"several problems at once", "device = \"gpu\"\n[engine]\nslots = 0\nbatch_size = 0\n",
			[]string{"engine.slots: must be at least 1", "engine.batch_size: must be at least 1", "device: must be one of"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "c.toml", tt.toml)
			_, err := load(t, Options{File: path})
			if !errors.Is(err, core.KindInvalid) {
				t.Fatalf("err = %v, want kind invalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			if ve.Source != path {
				t.Errorf("source %q, want %q", ve.Source, path)
			}
			if len(ve.Problems) != len(tt.want) {
				t.Fatalf("problems %v, want %d", ve.Problems, len(tt.want))
			}
			for i, p := range ve.Problems {
				if !strings.HasPrefix(p.Error(), tt.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, p.Error(), tt.want[i])
				}
				if !strings.Contains(err.Error(), p.Error()) {
					t.Errorf("error text %q lacks %q", err.Error(), p.Error())
				}
			}
		})
	}
}

func TestValidationNeverPrintsSecrets(t *testing.T) {
	c := Default()
	c.Server.APIKeys = []string{"sk-secret value"}
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), "sk-secret") {
		t.Fatalf("err = %v", err)
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{"1024", 1024, false},
		{"32MiB", 32 * MiB, false},
		{"32 mib", 32 * MiB, false},
		{"1.5GiB", 3 * GiB / 2, false},
		{"2GB", 2_000_000_000, false},
		{"10kB", 10_000, false},
		{"7B", 7, false},
		{"0", 0, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"12 parsecs", 0, true},
		{"1.2.3MB", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	for _, b := range []ByteSize{0, 1, 1000, KiB, 32 * MiB, 3 * GiB, 2 * TiB, 1536} {
		got, err := ParseByteSize(b.String())
		if err != nil || got != b {
			t.Errorf("round trip of %d via %q: %d, %v", b, b.String(), got, err)
		}
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "32MiB", "1.5 GB", "7b", "-3", "1e3KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("%q parsed to negative %d", s, b)
		}
		back, err := ParseByteSize(b.String())
		if err != nil || back != b {
			t.Fatalf("%q → %d → %q → %d, %v", s, b, b.String(), back, err)
		}
	})
}

// FuzzLoadTOML checks that no file content makes Load panic, and that a file
// Load accepts is valid and prints back to a file that loads the same.
func FuzzLoadTOML(f *testing.F) {
	f.Add(string(StarterTOML()))
	f.Add("[server]\naddr = \"127.0.0.1:1\"\napi_keys = [\"a\"]\n[[models]]\npath = \"x.gguf\"\n")
	f.Add("[profiles.a]\nlog = { level = \"debug\" }\n")
	f.Add("engine.slots = \"4\"\nserver.body_limit = 12\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := writeFile(t, dir, "f.toml", content)
		c, err := Load(Options{File: path, HomeDir: dir, Environ: []string{}})
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted an invalid config: %v", err)
		}
		b, err := c.Marshal("toml")
		if err != nil {
			t.Fatal(err)
		}
		again, err := Load(Options{File: writeFile(t, dir, "g.toml", string(b)), HomeDir: dir, Environ: []string{}})
		if err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, b)
		}
		again.Source, c.Source = Source{}, Source{}
		if d := cmp.Diff(c.Redacted(), again); d != "" {
			t.Fatalf("round trip (-want +got)\n%s", d)
		}
	})
}
