package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeLimitsFromConfig checks that serve hands the configuration's
// prompt logging and image URL policy to the server: with log_prompts on
// the prompt reaches the log, and with image URL fetching on a loopback
// URL is refused by the address policy (not by the "not fetched" rule of
// the default) without being requested.
func TestServeLimitsFromConfig(t *testing.T) {
	isolateLocal(t)
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
	}))
	defer target.Close()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	toml := fmt.Sprintf("[server]\nlog_prompts = true\nmax_concurrent_per_key = 2\n[server.image_urls]\nfetch = true\ntimeout = \"2s\"\n"+
		"[[models]]\nid = \"m\"\npath = %q\n", fixtureModel(t, "fx-llama-f32.gguf"))
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--config", cfg, "--threads", "1", "--slots", "1")
	post := func(body string) (int, string) {
		t.Helper()
		resp, err := http.Post(s.url+"/v1/messages", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	const canary = "SERVE-PROMPT-CANARY-81f2"
	if status, body := post(`{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"` + canary + `"}]}`); status != 200 {
		t.Fatalf("message: %d %s", status, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.log.String(), canary) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.log.String(), canary) {
		t.Errorf("log_prompts = true, but the prompt is not in the log:\n%s", s.log.String())
	}

	img := fmt.Sprintf(`{"model":"m","max_tokens":2,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":%q}}]}]}`,
		strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+"/cat.png")
	status, body := post(img)
	if status != http.StatusBadRequest || !strings.Contains(body, "non-public address") {
		t.Errorf("loopback image URL with fetching on: %d %s, want 400 naming the address policy", status, body)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback image host got %d requests", n)
	}
}
