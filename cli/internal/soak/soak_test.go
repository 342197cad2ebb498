package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a minimal stand-in for Pensieve's Messages endpoint, enough
// to exercise the load generator: it validates the fields soak sends,
// streams a few text deltas (stopping when the client leaves) and reports
// its process' goroutines on /metrics. Its knobs inject the faults the
// generator must catch.
type fakeServer struct {
	leak        bool // every hung-up stream leaves a goroutine blocked until stop closes
	noStop      bool // streams end without message_stop
	growRSS     bool // resident memory grows 50 % per scrape after the first few
	stop        chan struct{}
	scrapes     atomic.Int64
	sawHangUp   atomic.Int64
	mu          sync.Mutex // guards maxParallel and parallel
	parallel    int
	maxParallel int
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/metrics":
		n := f.scrapes.Add(1)
		rss := 100 << 20
		if f.growRSS && n > 3 {
			rss = rss * int(n) / 2
		}
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\nprocess_resident_memory_bytes %d\n"+
			"pensieve_active_generations{model=\"fake\"} 0\n", runtime.NumGoroutine(), rss)
	case "/v1/messages":
		f.messages(w, r)
	default:
		http.NotFound(w, r)
	}
}

func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_fake")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":%q},"request_id":"req_fake"}`, typ, msg)
}

func (f *fakeServer) messages(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model     string `json:"model"`
		MaxTokens *int   `json:"max_tokens"`
		Stream    bool   `json:"stream"`
	}
	body, _ := io.ReadAll(r.Body)
	switch err := json.Unmarshal(body, &req); {
	case err != nil:
		fail(w, 400, "invalid_request_error", "invalid JSON")
		return
	case req.MaxTokens == nil:
		fail(w, 400, "invalid_request_error", "max_tokens: Field required")
		return
	case *req.MaxTokens > 64:
		fail(w, 400, "invalid_request_error", fmt.Sprintf("max_tokens: %d > 64", *req.MaxTokens))
		return
	case req.Model != "fake":
		fail(w, 404, "not_found_error", "model: "+req.Model)
		return
	}
	f.mu.Lock()
	f.parallel++
	f.maxParallel = max(f.maxParallel, f.parallel)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.parallel--
		f.mu.Unlock()
	}()
	n := min(*req.MaxTokens, 4)
	w.Header().Set("request-id", "req_fake")
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"msg_f","type":"message","role":"assistant","model":"fake","content":[{"type":"text","text":"hi"}],`+
			`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":%d}}`, n)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	rc := http.NewResponseController(w)
	send := func(data string) bool {
		var head struct{ Type string }
		_ = json.Unmarshal([]byte(data), &head)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", head.Type, data)
		return rc.Flush() == nil
	}
	send(strings.Replace(evStart, "msg_1", "msg_f", 1))
	send(evTextStart0)
	for range n {
		send(evTextDelta0)
		select {
		case <-r.Context().Done():
			f.sawHangUp.Add(1)
			if f.leak {
				go func() { <-f.stop }()
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	send(evStop0)
	send(fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":%d}}`, n))
	if !f.noStop {
		send(evMsgStop)
	}
}

func startFake(t *testing.T, f *fakeServer) string {
	t.Helper()
	f.stop = make(chan struct{})
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		close(f.stop)
		srv.Close()
	})
	return srv.URL
}

func TestRunClean(t *testing.T) {
	f := &fakeServer{}
	url := startFake(t, f)
	rep, err := Run(context.Background(), Config{BaseURL: url, Model: "fake", Streams: 8, NonStream: 2, MaxTokens: 4, Rounds: 2, Settle: 5 * time.Second})
	if err != nil {
		t.Fatalf("Run: %v\nfailures: %q", err, rep.Failures())
	}
	if len(rep.Rounds) != 2 {
		t.Fatalf("%d rounds, want 2", len(rep.Rounds))
	}
	for _, rd := range rep.Rounds {
		got := [5]int{rd.Requests, rd.Completed, rd.HungUp, rd.NonStream, rd.Refused}
		if want := [5]int{8 + 2 + 4, 6, 2, 2, 4}; got != want {
			t.Errorf("round %d: requests, completed, hung up, non-stream, refused = %v, want %v", rd.Index, got, want)
		}
		if rd.OutputTokens != (6+2)*4 {
			t.Errorf("round %d: %d output tokens, want %d", rd.Index, rd.OutputTokens, (6+2)*4)
		}
		if rd.Stream.P50 <= 0 || rd.Stream.P95 < rd.Stream.P50 || rd.Stream.Max < rd.Stream.P95 {
			t.Errorf("round %d: stream latency %+v out of order", rd.Index, rd.Stream)
		}
	}
	if got := f.sawHangUp.Load(); got != 6 {
		t.Errorf("server saw %d clients leave, want 6 (2 per round, warm-up included)", got)
	}
	if len(rep.WarmUp) != 1 || rep.WarmUp[0].HungUp != 2 {
		t.Errorf("warm-up rounds %+v, want one with 2 hang-ups", rep.WarmUp)
	}
	if f.maxParallel < 6 {
		t.Errorf("at most %d requests ran at once, want at least the 6 completed streams", f.maxParallel)
	}
	if rep.Model != "fake" || rep.Requests() != 28 {
		t.Errorf("model %q, %d requests; want fake, 28", rep.Model, rep.Requests())
	}
}

func TestRunFindsFaults(t *testing.T) {
	tests := []struct {
		name string
		f    *fakeServer
		cfg  Config
		want string
	}{
		{"goroutine leak", &fakeServer{leak: true}, Config{Streams: 8, HangUps: 8, Rounds: 1}, "not settled"},
		{"missing message_stop", &fakeServer{noStop: true}, Config{Streams: 2, Rounds: 1}, "without message_stop"},
		{"rss growth", &fakeServer{growRSS: true}, Config{Streams: 2, Rounds: 3}, "resident memory"},
		{"wrong refusal", &fakeServer{}, Config{Streams: 1, Rounds: 1,
			Malformed: []ErrorCase{{Name: "x", Body: []byte(`{}`), Status: 400, Type: "invalid_request_error", Contains: "messages"}}}, "does not contain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.BaseURL, cfg.Model, cfg.MaxTokens, cfg.NonStream, cfg.Settle = startFake(t, tt.f), "fake", 4, -1, time.Second
			rep, err := Run(context.Background(), cfg)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			// A fault may already show in the warm-up (err) or in a round.
			if f := err.Error() + "\n" + strings.Join(rep.Failures(), "\n"); !strings.Contains(f, tt.want) {
				t.Fatalf("error and failures %q do not mention %q", f, tt.want)
			}
		})
	}
}

func TestRunModelFromList(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":[{"id":"fake"},{"id":"other"}],"has_more":false}`)
	})
	f := &fakeServer{}
	mux.Handle("/", f)
	f.stop = make(chan struct{})
	srv := httptest.NewServer(mux)
	defer func() { close(f.stop); srv.Close() }()
	rep, err := Run(context.Background(), Config{BaseURL: srv.URL, Streams: 2, Rounds: 1, MaxTokens: 2})
	if err != nil {
		t.Fatalf("Run: %v (%q)", err, rep.Failures())
	}
	if rep.Model != "fake" {
		t.Errorf("model %q, want fake (first listed)", rep.Model)
	}
}

func TestRunUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if _, err := Run(context.Background(), Config{BaseURL: url, Model: "m"}); err == nil || !strings.Contains(err.Error(), "warm-up") {
		t.Fatalf("Run error %v, want a warm-up failure", err)
	}
}

func TestLatencyOf(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := latencyOf(ds)
	if want := (Latency{P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, Max: 100 * time.Millisecond}); got != want {
		t.Errorf("latencyOf = %+v, want %+v", got, want)
	}
	if got := latencyOf(nil); got != (Latency{}) {
		t.Errorf("latencyOf(nil) = %+v", got)
	}
}
