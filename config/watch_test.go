package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRedaction(t *testing.T) {
	c := Default()
	c.Server.APIKeys = []string{"sk-one", "sk-two"}
	c.Hub.Token = "hf_secret"
	r := c.Redacted()
	if d := cmp.Diff([]string{Redacted, Redacted}, r.Server.APIKeys); d != "" {
		t.Errorf("api keys (-want +got)\n%s", d)
	}
	if r.Hub.Token != Redacted {
		t.Errorf("token %q", r.Hub.Token)
	}
	if c.Server.APIKeys[0] != "sk-one" || c.Hub.Token != "hf_secret" {
		t.Error("Redacted changed the original")
	}
	if Default().Redacted().Hub.Token != "" {
		t.Error("an empty token must stay empty")
	}
	for _, ext := range []string{"toml", "yaml", "json"} {
		b, err := c.Marshal(ext)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"sk-one", "sk-two", "hf_secret"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s output contains %q:\n%s", ext, secret, b)
			}
		}
		if !strings.Contains(string(b), Redacted) {
			t.Errorf("%s output lacks the redaction marker:\n%s", ext, b)
		}
	}
	d := c
	d.Server.APIKeys = []string{"sk-one", "sk-three"}
	changes := Diff(c, d)
	want := []Change{{Key: "server.api_keys", Old: "[[redacted], [redacted]]", New: "[[redacted], [redacted]]"}}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("a changed key is listed, redacted (-want +got)\n%s", diff)
	}
}

func TestDiffAndSafeKeys(t *testing.T) {
	a := Default()
	a.Models = []Model{{ID: "m", Path: "/m.gguf", Aliases: []string{"x"}}}
	b := a.Clone()
	b.Log.Level = "debug"
	b.Engine.Slots = 8
	b.Models[0].Aliases = []string{"x", "y"}
	b.Models = append(b.Models, Model{ID: "n", Path: "/n.gguf"})
	got := Diff(a, b)
	var keys []string
	for _, c := range got {
		keys = append(keys, c.Key)
	}
	want := []string{"engine.slots", "log.level", "models[0].aliases",
		"models[1].aliases", "models[1].context_length", "models[1].default", "models[1].id",
		"models[1].keep_alive", "models[1].max_output_tokens", "models[1].name", "models[1].path"}
	if d := cmp.Diff(want, keys); d != "" {
		t.Errorf("diff keys (-want +got)\n%s", d)
	}
	if got[1] != (Change{Key: "log.level", Old: "info", New: "debug"}) {
		t.Errorf("log.level change %+v", got[1])
	}
	if got[2].Old != "[x]" || got[2].New != "[x, y]" {
		t.Errorf("aliases change %+v", got[2])
	}
	if Diff(a, a.Clone()) != nil {
		t.Error("equal configs differ")
	}
	safe := map[string]bool{
		"log.level": true, "log.format": false, "server.api_keys": true, "server.api_keys_file": true,
		"server.rate_limit.requests_per_minute": true, "server.rate_limit.burst": true,
		"models[3].aliases": true, "models[3].path": false, "models[x].aliases": false,
		"models[1].aliases.extra": false, "server.addr": false, "engine.slots": false,
		"server.claude_alias_default": true,
	}
	for key, want := range safe {
		if SafeKey(key) != want {
			t.Errorf("SafeKey(%q) = %v", key, !want)
		}
	}
}

// replaceFile writes content to path atomically, as careful editors do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// watchFixture writes a config file and loads it.
func watchFixture(t *testing.T, content string) (Options, Config, string) {
	t.Helper()
	dir := t.TempDir()
	path := writeFile(t, dir, "c.toml", content)
	opts := Options{File: path, HomeDir: dir, Environ: []string{}}
	c, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	return opts, c, dir
}

func nextReload(t *testing.T, ch <-chan Reload) Reload {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reload within 5s")
	}
	return Reload{}
}

func keysOf(cs []Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Key)
	}
	return out
}

func TestWatcherHotReload(t *testing.T) {
	dir0 := t.TempDir()
	keys := writeFile(t, dir0, "keys", "k1\n")
	opts, c, _ := watchFixture(t, `
[log]
level = "info"
[server]
api_keys_file = "`+keys+`"
[engine]
slots = 4
[[models]]
path = "/m/a.gguf"
aliases = ["claude-x"]
`)
	// The environment still wins over a reloaded file.
	opts.Environ = []string{"PENSIEVE_SERVER_RATE_LIMIT_BURST=7"}
	c, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	ch := make(chan Reload, 4)
	w := Watch(opts, c, func(r Reload) { ch <- r }, WithInterval(5*time.Millisecond), WithLogger(zap.New(core)))
	defer w.Close()

	// A safe change (log level, alias, rate limit) and an unsafe one (slots).
	replaceFile(t, opts.File, `
[log]
level = "debug"
[server]
api_keys_file = "`+keys+`"
rate_limit = { requests_per_minute = 60, burst = 1 }
[engine]
slots = 8
[[models]]
path = "/m/a.gguf"
aliases = ["claude-x", "claude-y"]
`)
	r := nextReload(t, ch)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if d := cmp.Diff([]string{"log.level", "models[0].aliases", "server.rate_limit.requests_per_minute"}, keysOf(r.Applied)); d != "" {
		t.Errorf("applied (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"engine.slots"}, keysOf(r.Ignored)); d != "" {
		t.Errorf("ignored (-want +got)\n%s", d)
	}
	got := w.Config()
	if got.Log.Level != "debug" || got.Engine.Slots != 4 || got.Server.RateLimit != (RateLimit{60, 7}) ||
		len(got.Models[0].Aliases) != 2 {
		t.Errorf("config in effect: level %q slots %d rate %+v aliases %v",
			got.Log.Level, got.Engine.Slots, got.Server.RateLimit, got.Models[0].Aliases)
	}
	if d := cmp.Diff(got, r.Config); d != "" {
		t.Errorf("reported config differs from Config() (-want +got)\n%s", d)
	}
	if logs.FilterMessage("config reloaded").Len() != 1 || logs.FilterMessage("config changes need a restart").Len() != 1 {
		t.Errorf("logs: %v", logs.AllUntimed())
	}

	// Rotating a key in the secrets file is a reload too, and its value is
	// never logged.
	replaceFile(t, keys, "k1\nk2-new\n")
	r = nextReload(t, ch)
	if d := cmp.Diff([]string{"server.api_keys"}, keysOf(r.Applied)); d != "" {
		t.Errorf("applied (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"k1", "k2-new"}, w.Config().Server.APIKeys); d != "" {
		t.Errorf("keys (-want +got)\n%s", d)
	}
	for _, e := range logs.AllUntimed() {
		if strings.Contains(fmt.Sprint(e.ContextMap()), "k2-new") {
			t.Errorf("a secret reached the log: %v", e)
		}
	}

	// A broken file is reported and changes nothing.
	replaceFile(t, opts.File, "[log]\nlevel = \"loud\"\n")
	r = nextReload(t, ch)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "log.level") {
		t.Errorf("err = %v", r.Err)
	}
	if w.Config().Log.Level != "debug" {
		t.Errorf("level %q after a failed reload", w.Config().Log.Level)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherWithoutFile(t *testing.T) {
	c, err := load(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := Watch(Options{Environ: []string{}}, c, func(Reload) { t.Error("reload without a file") })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if _, err := os.Stat(c.ModelsDir); err == nil {
		t.Error("Load must not create directories")
	}
}
