package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/server"
)

func TestUnknownPathIsJSON404(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{testModel("m", &scriptGenerator{})})
	for _, path := range []string{"/nope", "/v1/nope?beta=true", "/v1/messages/batches/x/y/z"} {
		t.Run(path, func(t *testing.T) {
			res, body := f.do(t, http.MethodGet, path, "", nil)
			checkError(t, res, body, http.StatusNotFound, "not_found_error", "Not found")
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	f := start(t, server.Config{APIKeys: []string{"k"}}, []server.Model{testModel("m", &scriptGenerator{})})
	for _, path := range []string{"/health", "/ready"} {
		res, body := f.do(t, http.MethodGet, path, "", nil) // no key needed
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s = %d %s", path, res.StatusCode, body)
		}
		if !strings.HasPrefix(res.Header.Get("request-id"), "req_") {
			t.Errorf("%s: no request-id", path)
		}
	}
	if err := f.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, body := f.do(t, http.MethodGet, "/ready", "", nil)
	checkError(t, res, body, http.StatusServiceUnavailable, "overloaded_error", "shutting down")
	if res.Header.Get("retry-after") == "" {
		t.Error("503 without retry-after")
	}
}

func TestAuthentication(t *testing.T) {
	f := start(t, server.Config{APIKeys: []string{"key-one", "key-two"}}, []server.Model{testModel("m", &scriptGenerator{})})
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"x-api-key", map[string]string{"x-api-key": "key-one"}, 200},
		{"bearer", map[string]string{"Authorization": "Bearer key-two"}, 200},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer key-one"}, 200},
		{"either suffices", map[string]string{"x-api-key": "wrong", "Authorization": "Bearer key-one"}, 200},
		{"missing", nil, 401},
		{"wrong", map[string]string{"x-api-key": "key-three"}, 401},
		{"prefix of a key", map[string]string{"x-api-key": "key-"}, 401},
		{"basic scheme", map[string]string{"Authorization": "Basic key-one"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(t, http.MethodGet, "/v1/models", "", tt.header)
			if tt.status == 401 {
				checkError(t, res, body, 401, "authentication_error", "invalid x-api-key")
				return
			}
			if res.StatusCode != tt.status {
				t.Errorf("status = %d, want %d: %s", res.StatusCode, tt.status, body)
			}
		})
	}
	t.Run("sdk bearer", func(t *testing.T) {
		c := f.client(option.WithAPIKey("key-two"))
		if _, err := c.Models.Get(context.Background(), "m", anthropic.ModelGetParams{}); err != nil {
			t.Fatal(err)
		}
		c = f.client(option.WithAPIKey("nope"))
		_, err := c.Models.Get(context.Background(), "m", anthropic.ModelGetParams{})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
			t.Fatalf("err = %v, want a 401 API error", err)
		}
	})
}

func TestOpenWithoutKeys(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{testModel("m", &scriptGenerator{})})
	res, body := f.do(t, http.MethodGet, "/v1/models", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("status = %d: %s", res.StatusCode, body)
	}
}

func TestAnthropicVersionHeader(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{testModel("m", &scriptGenerator{})})
	tests := []struct {
		version string
		status  int
	}{{"", 200}, {"2023-06-01", 200}, {"2026-10-21", 200}, {"2024-01-01", 400}}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			h := map[string]string{"anthropic-beta": "foo-2025, bar"}
			if tt.version != "" {
				h["anthropic-version"] = tt.version
			}
			res, body := f.do(t, http.MethodGet, "/v1/models/m", "", h)
			if tt.status == 400 {
				checkError(t, res, body, 400, "invalid_request_error", "anthropic-version")
				return
			}
			if res.StatusCode != tt.status {
				t.Errorf("status = %d: %s", res.StatusCode, body)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	f := start(t, server.Config{APIKeys: []string{"a", "b"}, RateLimit: 1, RateBurst: 2},
		[]server.Model{testModel("m", &scriptGenerator{})}, server.WithClock(clock.now))
	get := func(key string) (*http.Response, []byte) {
		return f.do(t, http.MethodGet, "/v1/models", "", map[string]string{"x-api-key": key})
	}
	for i := range 2 {
		if res, body := get("a"); res.StatusCode != 200 {
			t.Fatalf("request %d within burst: %d %s", i, res.StatusCode, body)
		}
	}
	res, body := get("a")
	checkError(t, res, body, 429, "rate_limit_error", "Number of requests has exceeded your rate limit")
	if got := res.Header.Get("retry-after"); got != "1" {
		t.Errorf("retry-after = %q, want 1", got)
	}
	if got := res.Header.Get("retry-after-ms"); got != "1000" {
		t.Errorf("retry-after-ms = %q, want 1000", got)
	}
	if res, body := get("b"); res.StatusCode != 200 {
		t.Errorf("another key shares the bucket: %d %s", res.StatusCode, body)
	}
	clock.advance(time.Second)
	if res, body := get("a"); res.StatusCode != 200 {
		t.Errorf("after refill: %d %s", res.StatusCode, body)
	}
	// The health endpoints are never limited.
	for range 5 {
		if res, _ := f.do(t, http.MethodGet, "/health", "", nil); res.StatusCode != 200 {
			t.Fatalf("/health limited: %d", res.StatusCode)
		}
	}
}

type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestModels(t *testing.T) {
	models := []server.Model{
		testModel("alpha", &scriptGenerator{}, "a1", "a2"),
		testModel("beta", &scriptGenerator{}),
		testModel("gamma", &scriptGenerator{}),
	}
	f := start(t, server.Config{DefaultModel: "beta"}, models)
	c := f.client()
	ctx := context.Background()

	t.Run("paging visits every entry once", func(t *testing.T) {
		var ids []string
		pager := c.Models.ListAutoPaging(ctx, anthropic.ModelListParams{Limit: anthropic.Int(1)})
		for pager.Next() {
			ids = append(ids, pager.Current().ID)
		}
		if err := pager.Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{"alpha", "beta", "gamma", "a1", "a2"}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
	t.Run("page shape", func(t *testing.T) {
		res, body := f.do(t, http.MethodGet, "/v1/models?limit=2&after_id=alpha", "", nil)
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		var p struct {
			Data []struct {
				Type        string `json:"type"`
				ID          string `json:"id"`
				DisplayName string `json:"display_name"`
				CreatedAt   string `json:"created_at"`
			}
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Data) != 2 || p.Data[0].ID != "beta" || !p.HasMore || *p.FirstID != "beta" || *p.LastID != "gamma" {
			t.Errorf("page = %s", body)
		}
		if _, err := time.Parse(time.RFC3339, p.Data[0].CreatedAt); err != nil || p.Data[0].Type != "model" {
			t.Errorf("item = %+v", p.Data[0])
		}
		_, body = f.do(t, http.MethodGet, "/v1/models?before_id=alpha", "", nil)
		if !strings.Contains(string(body), `"data":[],"has_more":false,"first_id":null,"last_id":null`) {
			t.Errorf("empty page = %s", body)
		}
	})
	t.Run("bad limit", func(t *testing.T) {
		res, body := f.do(t, http.MethodGet, "/v1/models?limit=0", "", nil)
		checkError(t, res, body, 400, "invalid_request_error", "limit")
	})
	tests := []struct{ name, want string }{
		{"alpha", "alpha"}, {"a2", "alpha"}, {"gamma", "gamma"}, {"claude-sonnet-4-5", "beta"},
	}
	for _, tt := range tests {
		t.Run("get "+tt.name, func(t *testing.T) {
			m, err := c.Models.Get(ctx, tt.name, anthropic.ModelGetParams{})
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != tt.want || m.DisplayName != strings.ToUpper(tt.want) || m.CreatedAt.IsZero() {
				t.Errorf("got %+v, want id %s", m, tt.want)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		res, body := f.do(t, http.MethodGet, "/v1/models/llama-9", "", nil)
		checkError(t, res, body, 404, "not_found_error", "model: llama-9")
	})
	t.Run("claude aliases disabled", func(t *testing.T) {
		g := start(t, server.Config{DisableClaudeAliases: true}, models)
		res, body := g.do(t, http.MethodGet, "/v1/models/claude-opus-4", "", nil)
		checkError(t, res, body, 404, "not_found_error", "model: claude-opus-4")
	})
}

func TestNewRejectsBadModels(t *testing.T) {
	good := testModel("m", &scriptGenerator{})
	noGen := good
	noGen.Generator = nil
	tests := []struct {
		name   string
		cfg    server.Config
		models []server.Model
	}{
		{"missing generator", server.Config{}, []server.Model{noGen}},
		{"duplicate name", server.Config{}, []server.Model{good, testModel("x", &scriptGenerator{}, "m")}},
		{"unknown default", server.Config{DefaultModel: "zz"}, []server.Model{good}},
		{"empty key", server.Config{APIKeys: []string{""}}, []server.Model{good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := server.New(tt.cfg, tt.models); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func TestCORS(t *testing.T) {
	preflight := func(f *fixture) *http.Response {
		res, _ := f.do(t, http.MethodOptions, "/v1/models", "", map[string]string{
			"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": "x-api-key",
		})
		return res
	}
	off := start(t, server.Config{APIKeys: []string{"k"}}, []server.Model{testModel("m", &scriptGenerator{})})
	if got := preflight(off).Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS is on by default: %q", got)
	}
	on := start(t, server.Config{APIKeys: []string{"k"}, CORSOrigins: []string{"https://app.example"}},
		[]server.Model{testModel("m", &scriptGenerator{})})
	res := preflight(on)
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Allow-Origin = %q (status %d)", got, res.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{testModel("m", &scriptGenerator{})})
	f.do(t, http.MethodGet, "/v1/models", "", nil)
	f.do(t, http.MethodGet, "/v1/nope", "", nil)
	res, body := f.do(t, http.MethodGet, "/metrics", "", nil)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	text := string(body)
	for _, want := range []string{
		`pensieve_http_requests_total{route="/v1/models",method="GET",status="200"} 1`,
		`pensieve_http_requests_total{route="unmatched",method="GET",status="404"} 1`,
		`pensieve_http_request_duration_seconds_count{route="/v1/models"} 1`,
		`pensieve_model_info{model="m",context_length="4096"} 1`,
		"# TYPE go_goroutines gauge\ngo_goroutines ",
		"go_memstats_alloc_bytes ",
		"process_resident_memory_bytes ",
		"process_cpu_seconds_total ",
		"pensieve_inflight_requests 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestListenAndServeStopsWithContext runs the real listener path and stops
// it by cancelling the context.
func TestListenAndServeStopsWithContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{}, []server.Model{testModel("m", &scriptGenerator{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
