package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeAnthropic is a test double of an Anthropic-compatible upstream: it
// answers /v1/messages with a fixed message (JSON or SSE) naming itself.
type fakeAnthropic struct {
	name  string
	calls atomic.Int64
	keys  atomic.Value // last x-api-key seen
	model atomic.Value // last model seen
}

const sseBody = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n" +
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
	": a comment line\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

func (f *fakeAnthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.keys.Store(r.Header.Get("x-api-key"))
	switch r.URL.Path {
	case "/health":
		io.WriteString(w, `{"status":"ok"}`)
		return
	case "/v1/models":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[{"id":"m","type":"model"}],"has_more":false}`)
		return
	}
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.model.Store(req.Model)
	if req.Stream {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, sseBody)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"from %s"}],"model":%q,"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}`, f.name, req.Model)
}

func startProxy(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.HealthCheck.Interval == 0 {
		cfg.HealthCheck.Interval = -1
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func post(t *testing.T, url, key, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPassthroughEqualsUpstream(t *testing.T) {
	up := &fakeAnthropic{name: "a"}
	srv := httptest.NewServer(up)
	defer srv.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "a", URL: srv.URL, APIKey: "upstream-secret"}}})
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"m","max_tokens":5,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, stream)
		direct, wantBody := post(t, srv.URL, "", body)
		resp, got := post(t, url, "client-key", body)
		if resp.StatusCode != 200 || direct.StatusCode != 200 {
			t.Fatalf("stream=%v: status %d (direct %d): %s", stream, resp.StatusCode, direct.StatusCode, got)
		}
		if diff := cmp.Diff(wantBody, got); diff != "" {
			t.Errorf("stream=%v: body differs (-upstream +proxy):\n%s", stream, diff)
		}
		if resp.Header.Get("request-id") == "" {
			t.Error("no request-id header")
		}
		if k := up.keys.Load(); k != "upstream-secret" {
			t.Errorf("upstream saw key %q, want the configured upstream key", k)
		}
	}
}

func TestFailoverWithOneUpstreamDown(t *testing.T) {
	up := &fakeAnthropic{name: "b"}
	good := httptest.NewServer(up)
	defer good.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused from now on
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "dead", URL: deadURL}, {Name: "good", URL: good.URL}}})
	for i := 0; i < 10; i++ {
		for _, stream := range []bool{false, true} {
			resp, body := post(t, url, "", fmt.Sprintf(`{"model":"m","max_tokens":5,"stream":%v,"messages":[]}`, stream))
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
			}
		}
	}
	if up.calls.Load() != 20 {
		t.Errorf("good upstream served %d requests, want 20", up.calls.Load())
	}
}

func TestFailoverOn5xx(t *testing.T) {
	var failing atomic.Int64
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failing.Add(1)
		w.WriteHeader(529)
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`)
	}))
	defer bad.Close()
	good := httptest.NewServer(&fakeAnthropic{name: "good"})
	defer good.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "bad", URL: bad.URL}, {Name: "good", URL: good.URL}}})
	for i := 0; i < 4; i++ {
		resp, body := post(t, url, "", `{"model":"m","max_tokens":5,"messages":[]}`)
		if resp.StatusCode != 200 || !strings.Contains(body, "from good") {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// After 3 consecutive failures the bad upstream is ejected: it must not
	// have seen all four requests.
	if n := failing.Load(); n > 3 {
		t.Errorf("ejected upstream still received %d requests", n)
	}
}

func TestLastUpstreamErrorIsRelayed(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(529)
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`)
	}))
	defer bad.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "bad", URL: bad.URL}}})
	resp, body := post(t, url, "", `{"model":"m","max_tokens":5,"messages":[]}`)
	if resp.StatusCode != 529 || !strings.Contains(body, "overloaded_error") {
		t.Errorf("got %d %s, want the upstream's 529", resp.StatusCode, body)
	}
}

func TestRateLimit(t *testing.T) {
	srv := httptest.NewServer(&fakeAnthropic{name: "a"})
	defer srv.Close()
	url := startProxy(t, Config{Keys: []string{"k1", "k2"}, RateLimit: RateLimit{RequestsPerMinute: 3}, Upstreams: []Upstream{{URL: srv.URL}}})
	for i := 1; i <= 4; i++ {
		resp, body := post(t, url, "k1", `{"model":"m","max_tokens":5,"messages":[]}`)
		if i <= 3 && resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if i == 4 {
			if resp.StatusCode != 429 || !strings.Contains(body, `"rate_limit_error"`) {
				t.Fatalf("4th request: %d %s, want 429 rate_limit_error", resp.StatusCode, body)
			}
			if ra := resp.Header.Get("retry-after"); ra == "" || ra == "0" {
				t.Errorf("retry-after = %q", ra)
			}
		}
	}
	// Another key has its own budget.
	if resp, body := post(t, url, "k2", `{"model":"m","max_tokens":5,"messages":[]}`); resp.StatusCode != 200 {
		t.Errorf("k2: %d %s", resp.StatusCode, body)
	}
}

func TestAuth(t *testing.T) {
	srv := httptest.NewServer(&fakeAnthropic{name: "a"})
	defer srv.Close()
	url := startProxy(t, Config{Keys: []string{"secret"}, Upstreams: []Upstream{{URL: srv.URL}}})
	resp, body := post(t, url, "wrong", `{"model":"m","max_tokens":5,"messages":[]}`)
	if resp.StatusCode != 401 || !strings.Contains(body, "authentication_error") {
		t.Errorf("wrong key: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":5,"messages":[]}`))
	req.Header.Set("Authorization", "Bearer secret")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Errorf("bearer: %d", r2.StatusCode)
	}
}

func TestRoutingAndAliases(t *testing.T) {
	a, b := &fakeAnthropic{name: "a"}, &fakeAnthropic{name: "b"}
	sa, sb := httptest.NewServer(a), httptest.NewServer(b)
	defer sa.Close()
	defer sb.Close()
	url := startProxy(t, Config{
		Upstreams: []Upstream{{Name: "a", URL: sa.URL}, {Name: "b", URL: sb.URL}},
		Routes:    []Route{{Pattern: "claude-*", Upstreams: []string{"b"}}, {Pattern: "*", Upstreams: []string{"a"}}},
		Aliases:   map[string]string{"fast": "qwen-0.5b"},
	})
	tests := []struct{ model, from, upstreamModel string }{
		{"claude-sonnet-4-5", "from b", "claude-sonnet-4-5"},
		{"llama", "from a", "llama"},
		{"fast", "from a", "qwen-0.5b"},
	}
	for _, tt := range tests {
		_, body := post(t, url, "", fmt.Sprintf(`{"model":%q,"max_tokens":5,"messages":[]}`, tt.model))
		if !strings.Contains(body, tt.from) {
			t.Errorf("model %s: %s, want %s", tt.model, body, tt.from)
		}
	}
	if m := a.model.Load(); m != "qwen-0.5b" {
		t.Errorf("alias: upstream saw model %v", m)
	}
}

func TestRoundRobinSpreads(t *testing.T) {
	a, b := &fakeAnthropic{name: "a"}, &fakeAnthropic{name: "b"}
	sa, sb := httptest.NewServer(a), httptest.NewServer(b)
	defer sa.Close()
	defer sb.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "a", URL: sa.URL}, {Name: "b", URL: sb.URL}}})
	for i := 0; i < 10; i++ {
		post(t, url, "", `{"model":"m","max_tokens":5,"messages":[]}`)
	}
	if a.calls.Load() != 5 || b.calls.Load() != 5 {
		t.Errorf("calls a=%d b=%d, want 5 each", a.calls.Load(), b.calls.Load())
	}
}

func TestLeastOutstandingPrefersIdle(t *testing.T) {
	c := Config{Balance: LeastOutstanding, Upstreams: []Upstream{{Name: "a", URL: "http://a"}, {Name: "b", URL: "http://b"}}}
	if err := c.finish(); err != nil {
		t.Fatal(err)
	}
	p := newPool(&c)
	p.byName["a"].outstanding.Store(3)
	if got := p.candidates("m")[0].cfg.Name; got != "b" {
		t.Errorf("first candidate %s, want the idle b", got)
	}
}

func TestHealthChecksMarkDown(t *testing.T) {
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	c := Config{Upstreams: []Upstream{{Name: "a", URL: srv.URL}}}
	if err := c.finish(); err != nil {
		t.Fatal(err)
	}
	p := newPool(&c)
	m := newMetrics()
	p.checkAll(context.Background(), time.Second, srv.Client(), zapNop(), m)
	if p.backends[0].available(time.Now()) {
		t.Error("unhealthy upstream still available")
	}
	healthy.Store(true)
	p.checkAll(context.Background(), time.Second, srv.Client(), zapNop(), m)
	if !p.backends[0].available(time.Now()) {
		t.Error("recovered upstream not available")
	}
}

func TestMetricsAndNotFound(t *testing.T) {
	srv := httptest.NewServer(&fakeAnthropic{name: "a"})
	defer srv.Close()
	url := startProxy(t, Config{Upstreams: []Upstream{{Name: "a", URL: srv.URL}}})
	post(t, url, "", `{"model":"m","max_tokens":5,"messages":[]}`)
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`pensieve_proxy_requests_total{upstream="a",kind="anthropic",code="200"} 1`, `pensieve_proxy_tokens_total{upstream="a",direction="input"} 5`, "go_goroutines "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
	resp, err = http.Get(url + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "not_found_error") {
		t.Errorf("unknown route: %d %s", resp.StatusCode, b)
	}
}

func TestLoadConfigFormats(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"p.toml": "addr = \"127.0.0.1:9999\"\n[rate_limit]\nrequests_per_minute = 3\n[[upstreams]]\nname = \"local\"\nurl = \"http://127.0.0.1:8080\"\nkind = \"anthropic\"\n",
		"p.yaml": "addr: 127.0.0.1:9999\nrate_limit:\n  requests_per_minute: 3\nupstreams:\n  - name: local\n    url: http://127.0.0.1:8080\n    kind: anthropic\n",
		"p.json": `{"addr":"127.0.0.1:9999","rate_limit":{"requests_per_minute":3},"upstreams":[{"name":"local","url":"http://127.0.0.1:8080","kind":"anthropic"}]}`,
	}
	for name, text := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			os.WriteFile(path, []byte(text), 0o600)
			c, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.Addr != "127.0.0.1:9999" || c.RateLimit.RequestsPerMinute != 3 || len(c.Upstreams) != 1 || c.Upstreams[0].Name != "local" || c.Balance != RoundRobin {
				t.Errorf("config = %+v", c)
			}
		})
	}
	t.Run("env overrides file", func(t *testing.T) {
		path := filepath.Join(dir, "p.toml")
		t.Setenv("PENSIEVE_PROXY_ADDR", "127.0.0.1:7777")
		t.Setenv("PENSIEVE_PROXY_RATE_LIMIT_REQUESTS_PER_MINUTE", "9")
		c, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != "127.0.0.1:7777" || c.RateLimit.RequestsPerMinute != 9 {
			t.Errorf("env not applied: %+v", c)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no upstreams", Config{}, "upstreams: at least one"},
		{"bad url", Config{Upstreams: []Upstream{{URL: "ftp://x"}}}, "upstreams[0].url"},
		{"bad kind", Config{Upstreams: []Upstream{{URL: "http://x", Kind: "grpc"}}}, "upstreams[0].kind"},
		{"bad balance", Config{Balance: "random", Upstreams: []Upstream{{URL: "http://x"}}}, "balance:"},
		{"route to nowhere", Config{Upstreams: []Upstream{{URL: "http://x"}}, Routes: []Route{{Pattern: "*", Upstreams: []string{"y"}}}}, `routes[0].upstreams: no upstream named "y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.finish()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	c := Config{Keys: []string{"k"}, Upstreams: []Upstream{{URL: "http://x", APIKey: "s"}}}
	r := c.Redacted()
	if r.Keys[0] != "[redacted]" || r.Upstreams[0].APIKey != "[redacted]" || c.Keys[0] != "k" {
		t.Errorf("redaction: %+v (original %+v)", r, c)
	}
}
