package app

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/config"
	"github.com/pensieve-llm/pensieve/server"
)

// lockedBuffer is a bytes.Buffer for a server's log, written by its
// goroutines and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// servedCLI is `pensieve-cli serve` running in the test process.
type servedCLI struct {
	url  string
	log  *lockedBuffer
	stop context.CancelFunc // what SIGINT does in main
	done chan struct{}      // closed when serve has returned
	err  error              // serve's result, set before done is closed
}

// startServe runs `pensieve-cli serve args… --addr <free port>` and waits
// until it is ready. Canceling its context is what SIGINT or SIGTERM does
// to the real binary.
func startServe(t *testing.T, args ...string) *servedCLI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedCLI{url: "http://" + addr, log: &lockedBuffer{}, stop: cancel, done: make(chan struct{})}
	go func() {
		app := New(s.log, s.log)
		s.err = app.RunContext(ctx, append([]string{"pensieve-cli", "serve", "--addr", addr}, args...))
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.url + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited early: %v\nlog:\n%s", s.err, s.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve not ready\nlog:\n%s", s.log.String())
	return nil
}

func sdkClient(url string, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL(url), option.WithAPIKey("test-key"), option.WithMaxRetries(0)}, opts...)...)
}

// TestServeSDK drives `pensieve-cli serve` over HTTP with the official Go
// SDK: models list, a message, the same message streamed (equal text at
// temperature 0), two models by id and alias through the configuration,
// and a clean shutdown.
func TestServeSDK(t *testing.T) {
	isolateLocal(t)
	llama := fixtureModel(t, "fx-llama-f32.gguf")
	qwen := fixtureModel(t, "fx-qwen2-f32.gguf")
	s := startServe(t, "--model", llama, "--model", qwen, "--threads", "1", "--slots", "2")
	client := sdkClient(s.url)
	ctx := context.Background()

	models, err := client.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if diff := cmp.Diff([]string{"fx-llama-f32", "fx-qwen2-f32"}, ids); diff != "" {
		t.Errorf("model ids (-want +got):\n%s", diff)
	}

	for _, model := range []string{"fx-llama-f32", "fx-qwen2-f32", "claude-sonnet-4-5"} {
		t.Run(model, func(t *testing.T) {
			params := anthropic.MessageNewParams{
				Model:     model,
				MaxTokens: 16,
				Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hi"))},
			}
			// Go SDK v2 speaks API version 2026-10-21, which has no sampling
			// fields; greedy decoding needs 2023-06-01's temperature.
			greedy := []option.RequestOption{option.WithHeader("anthropic-version", "2023-06-01"), option.WithJSONSet("temperature", 0)}
			msg, err := client.Messages.New(ctx, params, greedy...)
			if err != nil {
				t.Fatalf("messages.new: %v\nlog:\n%s", err, s.log.String())
			}
			if msg.Usage.OutputTokens == 0 || msg.Usage.InputTokens == 0 {
				t.Errorf("usage %+v: want input and output tokens", msg.Usage)
			}
			stream := client.Messages.NewStreaming(ctx, params, greedy...)
			var acc anthropic.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if diff := cmp.Diff(textOf(msg), textOf(&acc)); diff != "" {
				t.Errorf("streamed text differs from the message (-message +stream):\n%s", diff)
			}
			if acc.StopReason != msg.StopReason {
				t.Errorf("stop reason: message %q, stream %q", msg.StopReason, acc.StopReason)
			}
		})
	}

	s.stop()
	<-s.done
	if s.err != nil {
		t.Errorf("serve after shutdown: %v (exit %d)", s.err, ExitCode(s.err))
	}
}

func textOf(m *anthropic.Message) string {
	var sb strings.Builder
	for _, b := range m.Content {
		sb.WriteString(b.Text)
	}
	return sb.String()
}

// TestServeShutdownDuringStream: a shutdown (SIGINT/SIGTERM) while a
// stream is running lets the stream finish with message_stop, and serve
// then returns without error (exit 0).
func TestServeShutdownDuringStream(t *testing.T) {
	isolateLocal(t)
	s := startServe(t, "--model", fixtureModel(t, "fx-llama-f32.gguf"), "--threads", "1")
	client := sdkClient(s.url)
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model:     "fx-llama-f32",
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Tell a long story"))},
	})
	var acc anthropic.Message
	stopped := false
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "message_start" && !stopped {
			s.stop() // the stream is under way
			stopped = true
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream cut by the shutdown: %v", err)
	}
	t.Logf("%d events, %d output tokens", len(types), acc.Usage.OutputTokens)
	if acc.StopReason == "" || acc.Usage.OutputTokens == 0 {
		t.Errorf("stop reason %q after %d tokens: want a finished message", acc.StopReason, acc.Usage.OutputTokens)
	}
	if len(types) == 0 || types[len(types)-1] != "message_stop" {
		t.Errorf("events %v: want message_stop last", types)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("serve: %v", s.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after the shutdown")
	}
	if _, err := http.Get(s.url + "/health"); err == nil {
		t.Errorf("still serving after shutdown")
	}
}

func TestServeErrors(t *testing.T) {
	isolateLocal(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	model := fixtureModel(t, "fx-llama-f32.gguf")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"busy port", []string{"serve", "--model", model, "--addr", busy.Addr().String()}, ExitRuntime,
			[]string{"cannot listen on " + busy.Addr().String(), "another process is using this port"}},
		{"no model", []string{"serve", "--addr", "127.0.0.1:0"}, ExitUsage, []string{"no model to serve"}},
		{"missing file", []string{"serve", "--addr", "127.0.0.1:0", "--model", "/nonexistent/x.gguf"}, ExitRuntime, []string{`model "x"`, "/nonexistent/x.gguf"}},
		{"metal", []string{"serve", "--addr", "127.0.0.1:0", "--model", model, "--device", "metal"}, ExitRuntime, []string{"Metal"}},
		{"bad addr", []string{"serve", "--model", model, "--addr", "nonsense"}, ExitUsage, []string{"server.addr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "metal" && metalPlatform() {
				t.Skip("Metal may be available here")
			}
			_, _, err := execCLI(t, tt.args...)
			if err == nil {
				t.Fatal("serve succeeded")
			}
			if got := ExitCode(err); got != tt.code {
				t.Errorf("exit code %d, want %d (%v)", got, tt.code, err)
			}
			for _, want := range tt.contains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Server.APIKeys = []string{"k"}
	cfg.Server.RateLimit = config.RateLimit{RequestsPerMinute: 120}
	cfg.Server.ReadTimeout = 0
	cfg.Server.WriteTimeout = time.Minute
	cfg.Server.ClaudeAliasDefault = false
	cfg.Server.MaxConcurrentPerKey = 3
	cfg.Server.LogPrompts = true
	cfg.Server.ImageURLs.Fetch = true
	got := serverConfig(cfg, "m")
	want := server.Config{
		Addr: cfg.Server.Addr, APIKeys: []string{"k"}, BodyLimit: int64(cfg.Server.BodyLimit),
		RateLimit: 2, RateBurst: 120, MaxConcurrentPerKey: 3, LogPrompts: true,
		ImageURLs: server.ImageURLs{Fetch: true, MaxBytes: 20 << 20, Timeout: 10 * time.Second}, ReadTimeout: -1, WriteTimeout: time.Minute, IdleTimeout: cfg.Server.IdleTimeout,
		ShutdownTimeout: cfg.Server.ShutdownTimeout, DefaultModel: "m", DisableClaudeAliases: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("serverConfig (-want +got):\n%s", diff)
	}
}
