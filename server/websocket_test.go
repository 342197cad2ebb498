package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
	"github.com/pensieve-llm/pensieve/server"
)

// dial opens a WebSocket to the fixture's /v1/messages/ws; the test's
// cleanup closes it.
func (f *fixture) dial(t *testing.T, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, f.ts.URL+"/v1/messages/ws", &websocket.DialOptions{HTTPClient: f.ts.Client(), HTTPHeader: header})
	if err == nil {
		t.Cleanup(func() { conn.CloseNow() })
	}
	return conn, res, err
}

// eventStep is what the comparison keeps of one stream event: its type,
// and the text or stop reason it carries (ids and cache usage differ
// between runs).
type eventStep struct {
	Type, Text, StopReason string
}

func stepOf(t *testing.T, data []byte) eventStep {
	t.Helper()
	var ev struct {
		Type  string `json:"type"`
		Delta struct {
			Text       string `json:"text"`
			StopReason string `json:"stop_reason"`
		} `json:"delta"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("event %q: %v", data, err)
	}
	return eventStep{Type: ev.Type, Text: ev.Delta.Text, StopReason: ev.Delta.StopReason}
}

// sseSteps runs body as a streaming POST /v1/messages.
func sseSteps(t *testing.T, f *fixture, body string) []eventStep {
	t.Helper()
	res, raw := f.do(t, http.MethodPost, "/v1/messages", body, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("SSE: %d %s", res.StatusCode, raw)
	}
	events, err := parseSSE(raw)
	if err != nil {
		t.Fatal(err)
	}
	var steps []eventStep
	for _, ev := range events {
		st := stepOf(t, ev.Data)
		if st.Type != ev.Name {
			t.Errorf("event %q carries type %q", ev.Name, st.Type)
		}
		steps = appendStep(steps, st)
	}
	return steps
}

// appendStep appends st, merging consecutive text deltas: how the text is
// cut into events depends on timing (the engine merges what piles up).
func appendStep(steps []eventStep, st eventStep) []eventStep {
	if n := len(steps); n > 0 && st.Type == "content_block_delta" && steps[n-1].Type == st.Type {
		steps[n-1].Text += st.Text
		return steps
	}
	return append(steps, st)
}

// wsSteps sends body on conn and reads events until message_stop or an
// error event.
func wsSteps(t *testing.T, conn *websocket.Conn, body string) []eventStep {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var steps []eventStep
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", steps, err)
		}
		if typ != websocket.MessageText {
			t.Fatalf("a %v message", typ)
		}
		st := stepOf(t, data)
		if st.Type == "error" {
			st.Text = string(data)
		}
		steps = appendStep(steps, st)
		if st.Type == "message_stop" || st.Type == "error" {
			return steps
		}
	}
}

func TestWebSocketMatchesSSE(t *testing.T) {
	m := engineModel(t, "m", "Hello over a socket.", enginetest.ModelConfig{})
	f := start(t, server.Config{}, []server.Model{m})
	body := streamBody("m", "hi", 64, "")
	want := sseSteps(t, f, body)
	if len(want) < 5 || want[0].Type != "message_start" {
		t.Fatalf("SSE events %v", want)
	}
	conn, _, err := f.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // one connection, two requests
		if diff := cmp.Diff(want, wsSteps(t, conn, body)); diff != "" {
			t.Errorf("request %d: WebSocket events differ from SSE (-sse +ws):\n%s", i, diff)
		}
	}
	// A non-streaming body streams as well.
	if diff := cmp.Diff(want, wsSteps(t, conn, strings.Replace(body, `"stream":true`, `"stream":false`, 1))); diff != "" {
		t.Errorf("stream false: (-sse +ws):\n%s", diff)
	}
	if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestWebSocketCloseCancelsGeneration(t *testing.T) {
	m := engineModel(t, "m", strings.Repeat("y", 400), enginetest.ModelConfig{PerPass: 5 * time.Millisecond})
	eng := m.Generator.(*engine.Engine)
	f := start(t, server.Config{}, []server.Model{m})
	conn, _, err := f.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := conn.Write(ctx, websocket.MessageText, []byte(streamBody("m", "hi", 400, ""))); err != nil {
		t.Fatal(err)
	}
	for range 5 { // message_start, content_block_start, deltas: the generation runs
		if _, _, err := conn.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st := eng.Stats(); st.Active != 1 {
		t.Fatalf("engine stats %+v: want one active sequence", st)
	}
	conn.CloseNow()
	waitFor(t, "the engine frees the sequence", func() bool { st := eng.Stats(); return st.Active == 0 && st.QueueDepth == 0 })
	_, body := f.do(t, http.MethodGet, "/metrics", "", nil)
	if want := `pensieve_generations_total{model="m",reason="error_canceled"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %q:\n%s", want, grep(string(body), "pensieve_generations_total"))
	}
}

func TestWebSocketErrors(t *testing.T) {
	m := engineModel(t, "m", "ok", enginetest.ModelConfig{})
	f := start(t, server.Config{APIKeys: []string{"k"}}, []server.Model{m})
	key := http.Header{"X-Api-Key": {"k"}}

	t.Run("no key", func(t *testing.T) {
		_, res, err := f.dial(t, nil)
		if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("dial without a key: %v (%v)", err, res)
		}
	})
	t.Run("bad version", func(t *testing.T) {
		_, res, err := f.dial(t, http.Header{"X-Api-Key": {"k"}, "Anthropic-Version": {"1999-01-01"}})
		if err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("dial with a bad version: %v (%v)", err, res)
		}
	})
	t.Run("not an upgrade", func(t *testing.T) {
		res, body := f.do(t, http.MethodGet, "/v1/messages/ws", "", map[string]string{"x-api-key": "k"})
		checkError(t, res, body, http.StatusBadRequest, "invalid_request_error", "GET /v1/messages/ws expects a WebSocket upgrade")
	})

	conn, _, err := f.dial(t, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, body, want string }{
		{"not json", `{"model":`, `"type":"invalid_request_error"`},
		{"unknown model", streamBody("nope", "hi", 8, ""), `"type":"not_found_error","message":"model: nope"`},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, `max_tokens`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := wsSteps(t, conn, tt.body)
			if len(steps) != 1 || steps[0].Type != "error" || !strings.Contains(steps[0].Text, tt.want) ||
				!strings.Contains(steps[0].Text, `"request_id":"req_`) {
				t.Errorf("events %+v, want one error event with %s", steps, tt.want)
			}
		})
	}
	t.Run("binary", func(t *testing.T) {
		ctx := context.Background()
		if err := conn.Write(ctx, websocket.MessageBinary, []byte(streamBody("m", "hi", 8, ""))); err != nil {
			t.Fatal(err)
		}
		_, data, err := conn.Read(ctx)
		if err != nil || !strings.Contains(string(data), "send requests as text messages") {
			t.Errorf("answer %s, %v", data, err)
		}
	})
	// After all that the socket still serves.
	steps := wsSteps(t, conn, streamBody("m", "hi", 8, ""))
	if last := steps[len(steps)-1]; last.Type != "message_stop" {
		t.Errorf("events %+v", steps)
	}
}

func TestWebSocketShutdown(t *testing.T) {
	m := engineModel(t, "m", "ok", enginetest.ModelConfig{})
	s, err := server.New(server.Config{}, []server.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: s, ts: httptest.NewServer(s.Handler())}
	conn, _, err := f.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	wsSteps(t, conn, streamBody("m", "hi", 8, ""))
	f.ts.Close() // the socket, hijacked, outlives the HTTP server
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	read := make(chan error, 1)
	go func() { // a client keeps reading, so it answers the close handshake
		_, _, err := conn.Read(ctx)
		read <- err
	}()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle WebSocket: %v", err)
	}
	if err := <-read; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("read during Shutdown: %v, want going away", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("Shutdown took the whole deadline")
	}
}

func TestWebSocketShutdownDeadlineStopsGeneration(t *testing.T) {
	m := engineModel(t, "m", strings.Repeat("y", 400), enginetest.ModelConfig{PerPass: 5 * time.Millisecond})
	eng := m.Generator.(*engine.Engine)
	s, err := server.New(server.Config{}, []server.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: s, ts: httptest.NewServer(s.Handler())}
	conn, _, err := f.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(streamBody("m", "hi", 400, ""))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.Read(ctx); err != nil { // message_start: the generation is under way
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				read <- err
				return
			}
		}
	}()
	f.ts.Close()
	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer scancel()
	start := time.Now()
	_ = s.Shutdown(sctx) // the deadline ends the generation; the outcome is checked below
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("Shutdown took %v with a 100 ms deadline (the generation needs 2 s)", took)
	}
	if err := <-read; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("read: %v, want going away", err)
	}
	if st := eng.Stats(); st.Active != 0 {
		t.Errorf("engine stats after Shutdown %+v: the generation still runs", st)
	}
}

func TestWebSocketRateLimit(t *testing.T) {
	m := engineModel(t, "m", "ok", enginetest.ModelConfig{})
	// A burst of two: the upgrade and one request; then one per 1000 s.
	f := start(t, server.Config{RateLimit: 0.001, RateBurst: 2}, []server.Model{m})
	conn, _, err := f.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := streamBody("m", "hi", 8, "")
	if steps := wsSteps(t, conn, body); steps[len(steps)-1].Type != "message_stop" {
		t.Errorf("first request: %+v", steps)
	}
	steps := wsSteps(t, conn, body)
	if len(steps) != 1 || !strings.Contains(steps[0].Text, `"type":"rate_limit_error"`) {
		t.Errorf("second request: %+v, want a rate_limit_error event", steps)
	}
}
