package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/config"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name    string
		log     config.Log
		check   func(string) bool
		wantErr bool
	}{
		{"json", config.Log{Level: "info", Format: "json"}, func(s string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(strings.TrimSpace(s)), &m) == nil && m["msg"] == "shown" && m["model"] == "m"
		}, false},
		{"console", config.Log{Level: "info", Format: "console"}, func(s string) bool {
			return strings.Contains(s, "INFO\tshown\t{\"model\": \"m\"}") && !strings.HasPrefix(s, "{")
		}, false},
		{"bad level", config.Log{Level: "loud", Format: "json"}, nil, true},
		{"bad format", config.Log{Level: "info", Format: "xml"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, level, err := newLogger(tt.log, &buf)
			if tt.wantErr {
				if ExitCode(err) != ExitUsage {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("hidden")
			log.Info("shown", zap.String("model", "m"))
			if !tt.check(buf.String()) || strings.Contains(buf.String(), "hidden") {
				t.Errorf("output %q", buf.String())
			}
			level.SetLevel(zap.DebugLevel)
			log.Debug("now shown")
			if !strings.Contains(buf.String(), "now shown") {
				t.Error("the level cannot be changed while running")
			}
		})
	}
}

// TestWatchConfigAppliesLogLevel runs a command the way `serve` will: load
// the configuration, build the logger, start hot reload; then the file's
// log level changes and the running logger follows.
func TestWatchConfigAppliesLogLevel(t *testing.T) {
	cliEnv(t)
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, []byte("log.level = \"info\"\nserver.api_keys = [\"k1\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // guards applied
	var applied []config.Config
	var logs bytes.Buffer
	app := &cli.App{
		Flags: globalFlags(),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			log, level, err := newLogger(cfg.Log, &syncWriter{w: &logs})
			if err != nil {
				return err
			}
			w := watchConfig(c, cfg, log, level, func(cfg config.Config) {
				mu.Lock()
				applied = append(applied, cfg)
				mu.Unlock()
			}, config.WithInterval(5*time.Millisecond))
			defer w.Close()
			tmp := path + ".new"
			os.WriteFile(tmp, []byte("log.level = \"debug\"\nserver.api_keys = [\"k1\", \"k2\"]\n"), 0o600)
			os.Rename(tmp, path)
			deadline := time.Now().Add(5 * time.Second)
			for !level.Enabled(zap.DebugLevel) {
				if time.Now().After(deadline) {
					t.Fatal("log level not applied within 5s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			return nil
		},
	}
	if err := app.Run([]string{"x", "--config", path}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 1 || len(applied[0].Server.APIKeys) != 2 {
		t.Fatalf("applied %+v", applied)
	}
	if !strings.Contains(logs.String(), "config reloaded") || strings.Contains(logs.String(), "k2") {
		t.Errorf("logs %q", logs.String())
	}
}

// syncWriter serializes writes from the Watcher's goroutine and the test.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
