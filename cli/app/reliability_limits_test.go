package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/cli/internal/soak"
)

// Secrets the limits tests send; none may ever appear in the server's
// output.
const (
	relKey      = "sk-pensieve-canary-key-5f1e2d"
	relWrongKey = "sk-pensieve-canary-wrong-9a8b7c"
	relCanary   = "PROMPT-CANARY-7d3c1b" // put into prompts
)

// relPost sends body to path with the test key (x-api-key) and returns the
// response; the caller closes its body.
func relPost(t *testing.T, base, path, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", relKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// relExpectError checks resp against the error case and closes it.
func relExpectError(t *testing.T, resp *http.Response, c soak.ErrorCase) {
	t.Helper()
	defer resp.Body.Close()
	if err := soak.CheckErrorResponse(resp, c); err != nil {
		t.Error(err)
	}
}

func relMessage(model string, maxTokens int, content string) string {
	return fmt.Sprintf(`{"model":%s,"max_tokens":%d,"messages":[{"role":"user","content":%s}]}`, relQ(model), maxTokens, relQ(content))
}

// relQ is s as a JSON string.
func relQ(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}

// TestReliabilityLimits checks the server's limits and hardening over real
// HTTP against the built binary, configured as a user would.
func TestReliabilityLimits(t *testing.T) {
	model := fixtureModel(t, "fx-llama-q4_0.gguf")
	other := fixtureModel(t, "fx-llama-f32.gguf") // a valid model file that is not configured
	bin := relBuild(t)
	modelsDir := t.TempDir()
	relCopy(t, other, filepath.Join(modelsDir, "stray.gguf"))
	srv := relServe(t, bin, relEnv(t, "PENSIEVE_SERVER_BODY_LIMIT=64KiB", "PENSIEVE_MODELS_DIR="+modelsDir),
		"--model", model, "--api-key", relKey, "--log-level", "debug")
	const id = "fx-llama-q4_0"

	t.Run("body limit 413", func(t *testing.T) {
		big := relMessage(id, 4, strings.Repeat("x", 70<<10))
		want := soak.ErrorCase{Name: "body", Status: http.StatusRequestEntityTooLarge, Type: "request_too_large", Contains: "65536"}
		relExpectError(t, relPost(t, srv.url, "/v1/messages", big), want)
		relExpectError(t, relPost(t, srv.url, "/v1/messages/count_tokens", big), want)
		// Without Content-Length (chunked) the limit cuts the read.
		req, _ := http.NewRequest(http.MethodPost, srv.url+"/v1/messages", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("x-api-key", relKey)
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		relExpectError(t, resp, want)
		// Just under the limit is served.
		resp = relPost(t, srv.url, "/v1/messages/count_tokens", relMessage(id, 4, strings.Repeat("x", 60<<10)))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a 60 KiB body under the 64 KiB limit: status %d", resp.StatusCode)
		}
	})

	t.Run("max_tokens cap", func(t *testing.T) {
		relExpectError(t, relPost(t, srv.url, "/v1/messages", relMessage(id, 100000, "hi")), soak.ErrorCase{Name: "over",
			Status: 400, Type: "invalid_request_error", Contains: "max_tokens: 100000 > 256, which is the maximum allowed number of output tokens for " + id})
		relExpectError(t, relPost(t, srv.url, "/v1/messages", relMessage(id, -1, "hi")), soak.ErrorCase{Name: "negative",
			Status: 400, Type: "invalid_request_error", Contains: "max_tokens"})
		resp := relPost(t, srv.url, "/v1/messages", relMessage(id, 256, "hi"))
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("max_tokens at the cap: status %d: %s", resp.StatusCode, body)
		}
		m, err := soak.CheckMessage(body)
		if err != nil {
			t.Fatal(err)
		}
		if m.InputTokens+m.OutputTokens > 256 {
			t.Errorf("generated past the context: %d prompt + %d output tokens > 256", m.InputTokens, m.OutputTokens)
		}
	})

	t.Run("context length 400", func(t *testing.T) {
		// The fixtures' byte vocabulary makes every character a token.
		relExpectError(t, relPost(t, srv.url, "/v1/messages", relMessage(id, 4, strings.Repeat("y", 400))), soak.ErrorCase{
			Name: "long prompt", Status: 400, Type: "invalid_request_error", Contains: "prompt is too long: "})
		body := fmt.Sprintf(`{"model":%q,"max_tokens":4,"stream":true,"messages":[{"role":"user","content":%q}]}`, id, strings.Repeat("y", 400))
		relExpectError(t, relPost(t, srv.url, "/v1/messages", body), soak.ErrorCase{
			Name: "long prompt, streaming", Status: 400, Type: "invalid_request_error", Contains: "prompt is too long: "})
	})

	t.Run("model names are not paths", func(t *testing.T) {
		before := relOpenFiles(t, srv)
		names := []string{"../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/etc/passwd",
			`..\..\etc\passwd`, "....//....//etc/passwd", "../../../../../../../../etc/passwd\x00.gguf",
			other, filepath.Base(other), strings.TrimSuffix(filepath.Base(other), ".gguf"), "stray", "stray.gguf",
			filepath.Join(modelsDir, "stray.gguf"), "../" + filepath.Base(modelsDir) + "/stray.gguf", filepath.Base(model), model}
		for _, name := range names {
			nf := soak.ErrorCase{Name: name, Status: 404, Type: "not_found_error", Contains: "model: " + name}
			relExpectError(t, relPost(t, srv.url, "/v1/messages", relMessage(name, 4, "hi")), nf)
			relExpectError(t, relPost(t, srv.url, "/v1/messages/count_tokens", relMessage(name, 4, "hi")), nf)
			nf.Contains = "model: "
			relExpectError(t, relPost(t, srv.url, "/v1/chat/completions",
				fmt.Sprintf(`{"model":%s,"messages":[{"role":"user","content":"hi"}]}`, relQ(name))), nf)
			req, _ := http.NewRequest(http.MethodGet, srv.url+"/v1/models/"+url.PathEscape(name), nil)
			req.Header.Set("x-api-key", relKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			nf.Contains = ""
			relExpectError(t, resp, nf)
		}
		// The registry resolves the configured id only.
		req, _ := http.NewRequest(http.MethodGet, srv.url+"/v1/models", nil)
		req.Header.Set("x-api-key", relKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		listing, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if n := strings.Count(string(listing), `"type":"model"`); n != 1 || !strings.Contains(string(listing), `"id":"`+id+`"`) {
			t.Errorf("GET /v1/models lists %d models, want only %s: %s", n, id, listing)
		}
		if after := relOpenFiles(t, srv); !slices.Equal(before, after) {
			t.Errorf("files open or mapped by the server changed:\nbefore %q\nafter  %q", before, after)
		}
	})

	t.Run("image and document URLs are not fetched", func(t *testing.T) {
		var hits atomic.Int64
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
		}))
		defer target.Close()
		for _, block := range []string{
			`{"type":"image","source":{"type":"url","url":%q}}`,
			`{"type":"document","source":{"type":"url","url":%q}}`,
		} {
			b := fmt.Sprintf(block, target.URL+"/x")
			body := fmt.Sprintf(`{"model":%q,"max_tokens":4,"messages":[{"role":"user","content":[%s,{"type":"text","text":"what is it?"}]}]}`, id, b)
			resp := relPost(t, srv.url, "/v1/messages", body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("%s: served, want a 400 from a text-only model", b)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("the server fetched %d URLs", n)
		}
	})

	t.Run("metrics protected when keys are set", func(t *testing.T) {
		if _, err := relScrape(srv.url, ""); err == nil {
			t.Error("GET /metrics without a key succeeded on a server with API keys")
		}
		if _, err := relScrape(srv.url, relKey); err != nil {
			t.Errorf("GET /metrics with the key: %v", err)
		}
	})

	// Last: every request above and below carried the key (or a wrong one)
	// and prompts with the canary; the debug-level log must hold neither.
	t.Run("keys and prompts never logged", func(t *testing.T) {
		relSecretTraffic(t, srv.url, id)
		// Control: a refused request's model name is logged (at debug, with
		// the rejection), so the log does carry request details.
		const control = "control-model-3e4f"
		relExpectError(t, relPost(t, srv.url, "/v1/messages", relMessage(control, 4, relCanary)),
			soak.ErrorCase{Name: "control", Status: 404, Type: "not_found_error", Contains: control})
		// The child's output reaches the buffer through a pipe: wait for the
		// control, which was logged last.
		out := srv.out.String()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out, control) && time.Now().Before(deadline); out = srv.out.String() {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(out, `"level":"debug"`) || !strings.Contains(out, control) {
			t.Fatal("the server's debug log does not show rejected requests; the check would prove nothing")
		}
		for _, secret := range []string{relKey, relWrongKey, relCanary} {
			if strings.Contains(out, secret) {
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, secret) {
						t.Errorf("log line holds %q: %s", secret, l)
					}
				}
			}
		}
	})
}

// relSecretTraffic sends requests whose keys and prompts must not be
// logged: with x-api-key and Bearer, a wrong key, streams, non-streaming
// and OpenAI requests, token counts, and requests that fail validation.
func relSecretTraffic(t *testing.T, base, id string) {
	t.Helper()
	c := relCanary
	bodies := []struct {
		path, body string
		status     int
	}{
		{"/v1/messages", relMessage(id, 4, c+" hello"), 200},
		{"/v1/messages", fmt.Sprintf(`{"model":%q,"max_tokens":4,"stream":true,"system":%q,"messages":[{"role":"user","content":%q}]}`, id, c+" sys", c), 200},
		{"/v1/messages", fmt.Sprintf(`{"model":%q,"max_tokens":4,"stop_sequences":[%q],"messages":[{"role":"user","content":"a"},{"role":"assistant","content":%q}]}`, id, c, c+" prefill"), 200},
		{"/v1/messages/count_tokens", fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, id, c), 200},
		{"/v1/chat/completions", fmt.Sprintf(`{"model":%q,"max_tokens":4,"messages":[{"role":"user","content":%q}]}`, id, c), 200},
		// Refused: trailing whitespace in the prefill, a tool_result without
		// its tool_use, a prompt too long, a malformed body.
		{"/v1/messages", fmt.Sprintf(`{"model":%q,"max_tokens":4,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":%q}]}`, id, c+" "), 400},
		{"/v1/messages", fmt.Sprintf(`{"model":%q,"max_tokens":4,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":%q}]}]}`, id, c), 400},
		{"/v1/messages", relMessage(id, 4, strings.Repeat(c, 30)), 400},
		{"/v1/messages", `{"model":"` + id + `","max_tokens":4,"messages":[{"role":"user","content":"` + c, 400},
		{"/v1/messages", fmt.Sprintf(`{"model":%q,"max_tokens":4,"tools":[{"name":"bad name %s","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"a"}]}`, id, c), 400},
	}
	for _, b := range bodies {
		for _, auth := range [][]string{{"x-api-key", relKey}, {"x-api-key", "", "Authorization", "Bearer " + relKey}} {
			resp := relPost(t, base, b.path, b.body, auth...)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != b.status {
				t.Errorf("%s %.80s: status %d, want %d", b.path, b.body, resp.StatusCode, b.status)
			}
		}
	}
	for _, auth := range [][]string{{"x-api-key", relWrongKey}, {"x-api-key", "", "Authorization", "Bearer " + relWrongKey}} {
		resp := relPost(t, base, "/v1/messages", relMessage(id, 4, c), auth...)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong key: status %d, want 401", resp.StatusCode)
		}
	}
}

// relOpenFiles lists the regular files the server process has open or
// mapped (from /proc; Linux only, else the test part skips).
func relOpenFiles(t *testing.T, p *relProc) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Log("not Linux: open files are not compared")
		return nil
	}
	dir := fmt.Sprintf("/proc/%d", p.cmd.Process.Pid)
	var files []string
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(dir + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "/") {
			files = append(files, "fd:"+target)
		}
	}
	maps, err := os.ReadFile(dir + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.HasPrefix(f[5], "/") {
			files = append(files, "map:"+f[5])
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}

func relCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReliabilityTimeouts checks that short read and write timeouts cut a
// stalled upload but spare streams, and non-streaming requests that wait
// longer than the write timeout before their first byte.
func TestReliabilityTimeouts(t *testing.T) {
	model := fixtureModel(t, "fx-llama-q4_0.gguf")
	bin := relBuild(t)
	const timeout = 100 * time.Millisecond
	srv := relServe(t, bin, relEnv(t, "PENSIEVE_SERVER_READ_TIMEOUT="+timeout.String(), "PENSIEVE_SERVER_WRITE_TIMEOUT="+timeout.String()),
		"--model", model, "--slots", "1")
	const id = "fx-llama-q4_0"

	t.Run("stalled upload is cut", func(t *testing.T) {
		conn := relStalledUpload(t, srv.url)
		defer conn.Close()
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.ReadAll(conn) // the server answers and closes, or just closes
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server kept a stalled upload open for 10 s with read_timeout %v", timeout)
		}
		t.Logf("stalled upload closed after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("streams and slow responses are spared", func(t *testing.T) {
		// One slot: the requests queue, so the last ones wait well past the
		// timeouts between their message_start and their first delta.
		const n = 16
		results := make([]relStreamResult, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i] = relStream(context.Background(), srv.url, "", relStreamBody(id, 200, fmt.Sprintf("tale %d", i)), nil)
			})
		}
		var status int
		var slow time.Duration
		wg.Go(func() {
			time.Sleep(50 * time.Millisecond) // behind the streams in the queue
			start := time.Now()
			resp, err := http.Post(srv.url+"/v1/messages", "application/json", strings.NewReader(relMessage(id, 200, "slow")))
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status, slow = resp.StatusCode, time.Since(start)
		})
		wg.Wait()
		var longest time.Duration
		for i, r := range results {
			if r.err != nil || !r.done {
				t.Errorf("stream %d: %v (message_stop %v)", i, r.err, r.done)
			}
			longest = max(longest, r.lastRead.Sub(r.started))
		}
		if status != http.StatusOK {
			t.Errorf("non-streaming request queued for %v: status %d", slow, status)
		}
		t.Logf("longest stream %v, queued non-streaming request %v, timeouts %v", longest.Round(time.Millisecond), slow.Round(time.Millisecond), timeout)
		if longest < 3*timeout || slow < 3*timeout {
			t.Skipf("inconclusive: the longest stream took %v and the queued request %v, not well past the %v timeouts", longest, slow, timeout)
		}
	})
}
