package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/server"
)

// postMessage sends a small greedy request for model to a served CLI.
func postMessage(s *servedCLI, model string, header map[string]string) error {
	body := fmt.Sprintf(`{"model":%q,"max_tokens":4,"temperature":0,"messages":[{"role":"user","content":"hi"}]}`, model)
	req, err := http.NewRequest(http.MethodPost, s.url+"/v1/messages", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/messages %s: %d %s", model, res.StatusCode, b)
	}
	return nil
}

// psJSON runs `ps --json` against s and returns the loaded model ids.
func psJSON(t *testing.T, s *servedCLI, args ...string) []string {
	t.Helper()
	out, errOut, err := execCLI(t, append([]string{"ps", "--json", "--addr", s.url}, args...)...)
	if err != nil {
		t.Fatalf("ps --json: %v\n%s", err, errOut)
	}
	var models []server.ModelStatus
	if err := json.Unmarshal([]byte(out), &models); err != nil {
		t.Fatalf("ps --json printed %q: %v", out, err)
	}
	ids := []string{}
	for _, m := range models {
		ids = append(ids, m.ID)
	}
	return ids
}

// loadsOf reads pensieve_model_loads_total of model from /metrics.
func loadsOf(t *testing.T, s *servedCLI, model string) string {
	t.Helper()
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	prefix := `pensieve_model_loads_total{model="` + model + `"} `
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return "0"
}

// TestServeLoadsOnDemand is issue 14's acceptance test: `serve` with two
// models and --keep-alive 2s loads the second when a request names it,
// `ps --json` lists both, the second is gone three seconds after its last
// request and loads again on the next; `stop` unloads it, and two
// concurrent first requests load it once.
func TestServeLoadsOnDemand(t *testing.T) {
	isolateLocal(t)
	llama, qwen := fixtureModel(t, "fx-llama-f32.gguf"), fixtureModel(t, "fx-qwen2-f32.gguf")
	s := startServe(t, "--model", llama, "--model", qwen, "--keep-alive", "2s", "--threads", "1", "--slots", "1")
	if got := loadsOf(t, s, "fx-qwen2-f32"); got != "0" {
		t.Fatalf("the second model was loaded at startup (%s loads)", got)
	}
	for _, m := range []string{"fx-llama-f32", "fx-qwen2-f32"} {
		if err := postMessage(s, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	last := time.Now()
	if diff := cmp.Diff([]string{"fx-llama-f32", "fx-qwen2-f32"}, psJSON(t, s)); diff != "" {
		t.Errorf("ps --json after a request for each (-want +got):\n%s", diff)
	}

	time.Sleep(time.Until(last.Add(3 * time.Second)))
	if got := psJSON(t, s); len(got) != 0 {
		t.Errorf("3 s after the last request ps --json lists %v, want nothing (keep-alive 2s)", got)
	}
	out, _, err := execCLI(t, "ps", "--addr", s.url)
	if err != nil || strings.Contains(out, "fx-qwen2-f32 ") || !strings.Contains(out, "no model is loaded") {
		t.Errorf("ps: %v\n%s", err, out)
	}

	if err := postMessage(s, "fx-qwen2-f32", nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"fx-qwen2-f32"}, psJSON(t, s)); diff != "" {
		t.Errorf("ps --json after a new request (-want +got):\n%s", diff)
	}
	if got := loadsOf(t, s, "fx-qwen2-f32"); got != "2" {
		t.Errorf("fx-qwen2-f32 loaded %s times, want 2", got)
	}
	out, _, err = execCLI(t, "ps", "--addr", s.url)
	if err != nil || !strings.Contains(out, "MODEL") || !strings.Contains(out, "fx-qwen2-f32") {
		t.Errorf("ps: %v\n%s", err, out)
	}

	out, _, err = execCLI(t, "stop", "fx-qwen2-f32", "--addr", s.url)
	if err != nil || out != "unloaded fx-qwen2-f32\n" {
		t.Errorf("stop: %q, %v", out, err)
	}
	if got := psJSON(t, s); len(got) != 0 {
		t.Errorf("ps --json after stop: %v", got)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { errs <- postMessage(s, "fx-qwen2-f32", nil) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := loadsOf(t, s, "fx-qwen2-f32"); got != "3" {
		t.Errorf("two concurrent first requests: %s loads in all, want 3 (one more)", got)
	}

	out, _, err = execCLI(t, "status", "--addr", s.url)
	for _, want := range []string{"version", "dev", "uptime", "2 configured: fx-llama-f32, fx-qwen2-f32 (default fx-llama-f32)", "fx-qwen2-f32"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("status lacks %q (%v):\n%s", want, err, out)
		}
	}
	out, _, err = execCLI(t, "status", "--json", "--addr", strings.TrimPrefix(s.url, "http://"))
	var st server.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Version != Version || len(st.Models) != 1 ||
		st.Models[0].MemoryBytes <= st.Models[0].FileBytes || st.Models[0].FileBytes == 0 {
		t.Errorf("status --json (%v): %s", err, out)
	}
}

func TestOpsCommandsAuth(t *testing.T) {
	isolateLocal(t)
	s := startServe(t, "--model", fixtureModel(t, "fx-llama-f32.gguf"), "--api-key", "sesame", "--threads", "1")
	_, _, err := execCLI(t, "ps", "--addr", s.url)
	if err == nil || ExitCode(err) != ExitRuntime || !strings.Contains(err.Error(), "401") ||
		!strings.Contains(err.Error(), "--api-key") {
		t.Errorf("ps without a key: %v", err)
	}
	if got := psJSON(t, s, "--api-key", "sesame"); len(got) != 1 {
		t.Errorf("ps with --api-key: %v", got)
	}
	t.Setenv(envAPIKey, "sesame")
	if got := psJSON(t, s); len(got) != 1 {
		t.Errorf("ps with %s: %v", envAPIKey, got)
	}
	_, _, err = execCLI(t, "stop", "nope", "--addr", s.url)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "model: nope") {
		t.Errorf("stop nope: %v", err)
	}
}

func TestOpsCommandErrors(t *testing.T) {
	isolateLocal(t)
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close() // nothing listens there any more
	notPensieve := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>hello</html>")
	}))
	defer notPensieve.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unreachable", []string{"ps", "--addr", url}, ExitRuntime, "cannot reach the server"},
		{"not pensieve", []string{"status", "--addr", notPensieve.URL}, ExitRuntime, "did not answer as a Pensieve server"},
		{"stop without model", []string{"stop", "--addr", url}, ExitUsage, "want one MODEL"},
		{"ps with arguments", []string{"ps", "x"}, ExitUsage, "unexpected arguments"},
		{"unknown flag after the model", []string{"stop", "m", "--bogus"}, ExitUsage, "bogus"},
		{"two models", []string{"stop", "m", "--addr", url, "n"}, ExitUsage, "got 2 arguments"},
		{"bad addr", []string{"ps", "--addr", "http://[::1"}, ExitUsage, "--addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execCLI(t, tt.args...)
			if err == nil || ExitCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (exit %d), want exit %d with %q", err, ExitCode(err), tt.code, tt.want)
			}
		})
	}
}

func TestModelTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	soon := now.Add(90 * time.Second)
	models := []server.ModelStatus{
		{ID: "a", MemoryBytes: 3 << 20, ContextLength: 4096, ActiveRequests: 1, QueuedRequests: 2, TokensPerSecond: 12.5,
			PrefixCacheHitRate: 0.25, OnDemand: true, KeepAliveSeconds: 300},
		{ID: "b", OnDemand: true, KeepAliveSeconds: 300, ExpiresAt: &soon},
		{ID: "c", OnDemand: true},
		{ID: "d"},
	}
	var sb strings.Builder
	if err := writeModelTable(&sb, models, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"MODEL  MEMORY   CONTEXT  ACTIVE  QUEUED  TOKENS/S  CACHE HITS  UNLOADS\n" +
		"a      3.0 MiB  4096     1       2       12.5      25%         when idle\n" +
		"b      0 B      0        0       0       0.0       0%          in 1m30s\n" +
		"c      0 B      0        0       0       0.0       0%          never\n" +
		"d      0 B      0        0       0       0.0       0%          never\n"
	if diff := cmp.Diff(want, sb.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
