package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pensieve-llm/pensieve/config"
	"github.com/pensieve-llm/pensieve/model"
	"github.com/pensieve-llm/pensieve/server"
)

func TestServedModels(t *testing.T) {
	cfg := config.Default()
	cfg.Server.KeepAlive = time.Minute
	cfg.Engine.Context = 2048
	cfg.Models = []config.Model{
		{ID: "a", Name: "A", Path: "/m/a.gguf", Aliases: []string{"claude-x"}},
		{ID: "b", Path: "/m/b.gguf", KeepAlive: time.Hour, ContextLength: 512},
	}
	want := []server.Model{
		{ID: "a", DisplayName: "A", Path: "/m/a.gguf", Aliases: []string{"claude-x"}, KeepAlive: time.Minute, ContextLength: 2048},
		{ID: "b", Path: "/m/b.gguf", KeepAlive: time.Hour, ContextLength: 512},
	}
	if diff := cmp.Diff(want, servedModels(cfg), cmpopts.IgnoreUnexported(server.Model{})); diff != "" {
		t.Errorf("servedModels (-want +got):\n%s", diff)
	}
}

func TestKVBytes(t *testing.T) {
	l, err := model.Open(fixtureModel(t, "fx-llama-f32.gguf"))
	if err != nil {
		t.Fatal(err) // fixtureModel has skipped when the fixtures are absent
	}
	defer l.Close()
	// fx-llama's cache: F16 keys and values per layer and position.
	one := kvBytes(l.Model, 1, 1)
	if one <= 0 || one%4 != 0 {
		t.Fatalf("kvBytes(1 slot, 1 position) = %d", one)
	}
	if got := kvBytes(l.Model, 2, 64); got != 128*one {
		t.Errorf("kvBytes(2, 64) = %d, want 128 × %d", got, one)
	}
}

func TestServeBrokenModels(t *testing.T) {
	isolateLocal(t)
	broken := filepath.Join(t.TempDir(), "broken.gguf")
	if err := os.WriteFile(broken, []byte("GGUF but not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("default model fails serve", func(t *testing.T) {
		_, _, err := execCLI(t, "serve", "--addr", "127.0.0.1:0", "--model", broken)
		if err == nil || ExitCode(err) != ExitRuntime || !strings.Contains(err.Error(), `model "broken" could not be loaded`) {
			t.Errorf("serve with a broken default model: %v", err)
		}
	})
	t.Run("another model fails its requests", func(t *testing.T) {
		s := startServe(t, "--model", fixtureModel(t, "fx-llama-f32.gguf"), "--model", broken, "--threads", "1")
		err := postMessage(s, "broken", nil)
		if err == nil || !strings.Contains(err.Error(), "500") {
			t.Errorf("request for the broken model: %v", err)
		}
		if err := postMessage(s, "fx-llama-f32", nil); err != nil {
			t.Errorf("the good model after the broken one: %v", err)
		}
		if !strings.Contains(s.log.String(), "model load failed") {
			t.Errorf("the failure is not logged:\n%s", s.log.String())
		}
	})
}
