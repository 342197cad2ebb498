package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
	"github.com/pensieve-llm/pensieve/server"
)

// fakeLoader loads on-demand models as real engines over scripted fake
// models that answer "<reply> <id>", counting loads and closes.
type fakeLoader struct {
	bytes int64         // Loaded.Bytes of every model
	gate  chan struct{} // when set, loads wait until it is closed

	mu      sync.Mutex // guards the fields below
	reply   string
	cfg     enginetest.ModelConfig
	fail    error // when set, loads fail with it
	calls   map[string]int
	closes  map[string]int
	engines map[string]*engine.Engine // the latest engine of each model
}

func newFakeLoader(reply string) *fakeLoader {
	return &fakeLoader{reply: reply, calls: map[string]int{}, closes: map[string]int{}, engines: map[string]*engine.Engine{}}
}

func (l *fakeLoader) load(ctx context.Context, m server.Model) (*server.Loaded, error) {
	l.mu.Lock()
	l.calls[m.ID]++
	reply, cfg, fail := l.reply, l.cfg, l.fail
	l.mu.Unlock()
	if l.gate != nil {
		select {
		case <-l.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	cfg.Next = scripted(reply + " " + m.ID)
	tok := newTokenizer()
	eng, err := engine.New(enginetest.NewModel(cfg), tok, engine.WithContext(1024), engine.WithSlots(2))
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.engines[m.ID] = eng
	l.mu.Unlock()
	return &server.Loaded{Generator: eng, Tokenizer: tok, Template: lineTemplate{}, Bytes: l.bytes,
		Close: func(ctx context.Context) error {
			l.mu.Lock()
			l.closes[m.ID]++
			l.mu.Unlock()
			return eng.Close(ctx)
		}}, nil
}

// set changes what later loads do.
func (l *fakeLoader) set(change func(l *fakeLoader)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	change(l)
}

func (l *fakeLoader) counts(id string) (loads, closes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[id], l.closes[id]
}

func (l *fakeLoader) engine(id string) *engine.Engine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.engines[id]
}

// onDemand is an on-demand model (no pieces) with a keep-alive.
func onDemand(id string, keepAlive time.Duration, aliases ...string) server.Model {
	return server.Model{ID: id, Aliases: aliases, KeepAlive: keepAlive}
}

// message posts a small non-streaming request and returns its text.
func (f *fixture) message(t *testing.T, model string) string {
	t.Helper()
	text, err := f.tryMessage(model)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// tryMessage is message for goroutines other than the test's.
func (f *fixture) tryMessage(model string) (string, error) {
	status, body, err := f.try(http.MethodPost, "/v1/messages",
		fmt.Sprintf(`{"model":%q,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, model), nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("POST /v1/messages for %s: %d %s", model, status, body)
	}
	var msg struct {
		Content []struct{ Text string } `json:"content"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, c := range msg.Content {
		sb.WriteString(c.Text)
	}
	return sb.String(), nil
}

// try is do for goroutines other than the test's: it returns errors.
func (f *fixture) try(method, path, body string, header map[string]string) (int, []byte, error) {
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// status reads GET /api/status.
func (f *fixture) status(t *testing.T) server.Status {
	t.Helper()
	res, body := f.do(t, http.MethodGet, "/api/status", "", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/status: %d %s", res.StatusCode, body)
	}
	var st server.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func loadedIDs(st server.Status) []string {
	ids := []string{}
	for _, m := range st.Models {
		ids = append(ids, m.ID)
	}
	return ids
}

// waitFor polls cond every 10 ms until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOnDemandLoadAndKeepAlive(t *testing.T) {
	const keep = 300 * time.Millisecond
	l := newFakeLoader("hello")
	f := start(t, server.Config{}, []server.Model{onDemand("one", keep), onDemand("two", keep, "second")},
		server.WithLoader(l.load), server.WithVersion("v-test"))

	if got := loadedIDs(f.status(t)); len(got) != 0 {
		t.Fatalf("loaded before any request: %v", got)
	}
	if got := f.message(t, "second"); got != "hello two" {
		t.Errorf("reply %q", got)
	}
	st := f.status(t)
	if diff := cmp.Diff([]string{"two"}, loadedIDs(st)); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"one", "two"}, st.Configured); diff != "" {
		t.Errorf("configured (-want +got):\n%s", diff)
	}
	if st.Version != "v-test" || st.Default != "one" || st.Models[0].ContextLength != 1024 || st.Models[0].Slots != 2 ||
		!st.Models[0].OnDemand || st.Models[0].KeepAliveSeconds != keep.Seconds() || st.Models[0].ExpiresAt == nil {
		t.Errorf("status = %+v", st)
	}
	lastUse := time.Now()
	waitFor(t, "two is unloaded", func() bool { return len(f.status(t).Models) == 0 })
	if idle := time.Since(lastUse); idle < keep {
		t.Errorf("unloaded after %v idle, keep-alive %v", idle, keep)
	}
	if loads, closes := l.counts("two"); loads != 1 || closes != 1 {
		t.Errorf("two: %d loads, %d closes; want 1, 1", loads, closes)
	}
	f.message(t, "two")
	if loads, _ := l.counts("two"); loads != 2 {
		t.Errorf("two: %d loads after a new request, want 2", loads)
	}
	if loads, _ := l.counts("one"); loads != 0 {
		t.Errorf("one was loaded %d times without a request", loads)
	}

	_, body := f.do(t, http.MethodGet, "/metrics", "", nil)
	for _, want := range []string{
		`pensieve_model_loads_total{model="two"} 2`,
		`pensieve_model_unloads_total{model="two",reason="idle"} 1`,
		"pensieve_models_loaded 1\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(string(body), "pensieve_model"))
		}
	}
}

func TestBusyModelIsNotUnloaded(t *testing.T) {
	const keep = 50 * time.Millisecond
	l := newFakeLoader(strings.Repeat("z", 30))
	l.cfg.PerPass = 10 * time.Millisecond // about 300 ms of generation: six keep-alives
	f := start(t, server.Config{}, []server.Model{onDemand("slow", keep)}, server.WithLoader(l.load))
	done := make(chan error, 1)
	go func() {
		_, _, err := f.try(http.MethodPost, "/v1/messages", streamBody("slow", "hi", 64, ""), nil)
		done <- err
	}()
	waitFor(t, "the generation runs", func() bool {
		st := f.status(t)
		return len(st.Models) == 1 && st.Models[0].ActiveRequests == 1
	})
	time.Sleep(4 * keep)
	if st := f.status(t); len(st.Models) != 1 || st.Models[0].ExpiresAt != nil {
		t.Errorf("a busy model: status %+v", st)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, closes := l.counts("slow"); closes != 0 {
		t.Errorf("closed %d times while busy", closes)
	}
	waitFor(t, "slow is unloaded once idle", func() bool { return len(f.status(t).Models) == 0 })
}

func TestConcurrentFirstRequestsLoadOnce(t *testing.T) {
	l := newFakeLoader("once")
	l.gate = make(chan struct{})
	f := start(t, server.Config{}, []server.Model{onDemand("m", 0)}, server.WithLoader(l.load))
	const n = 4
	replies := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			text, err := f.tryMessage("m")
			if err != nil {
				text = err.Error()
			}
			replies <- text
		})
	}
	waitFor(t, "the load has started", func() bool { loads, _ := l.counts("m"); return loads == 1 })
	time.Sleep(50 * time.Millisecond) // every request is waiting for the load by now
	close(l.gate)
	wg.Wait()
	close(replies)
	for r := range replies {
		if r != "once m" {
			t.Errorf("reply %q", r)
		}
	}
	if loads, _ := l.counts("m"); loads != 1 {
		t.Errorf("%d concurrent first requests caused %d loads, want 1", n, loads)
	}
}

func TestMemoryBudgetUnloadsLeastRecentlyUsed(t *testing.T) {
	l := newFakeLoader("hi")
	l.bytes = 100
	f := start(t, server.Config{MemoryBudget: 250},
		[]server.Model{onDemand("a", 0), onDemand("b", 0), onDemand("c", 0)}, server.WithLoader(l.load))
	f.message(t, "a")
	f.message(t, "b")
	f.message(t, "a") // b is now the least recently used
	f.message(t, "c")
	st := f.status(t)
	if diff := cmp.Diff([]string{"a", "c"}, loadedIDs(st)); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	if st.MemoryBudgetBytes != 250 || st.MemoryUsedBytes != 200 {
		t.Errorf("memory %d of %d, want 200 of 250", st.MemoryUsedBytes, st.MemoryBudgetBytes)
	}
	_, body := f.do(t, http.MethodGet, "/metrics", "", nil)
	if want := `pensieve_model_unloads_total{model="b",reason="memory"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %q", want)
	}

	// A busy model is never the one to go, even as the least recently
	// used: c generates while a is used after it, so loading b unloads a.
	f.do(t, http.MethodPost, "/api/unload", `{"model":"c"}`, nil)
	l.set(func(l *fakeLoader) { l.cfg.PerPass, l.reply = 10*time.Millisecond, strings.Repeat("c", 30) })
	done := make(chan error, 1)
	go func() {
		_, _, err := f.try(http.MethodPost, "/v1/messages", streamBody("c", "hi", 64, ""), nil)
		done <- err
	}()
	waitFor(t, "c generates", func() bool { st := f.status(t); return len(st.Models) == 2 && st.Models[1].ActiveRequests == 1 })
	f.message(t, "a")
	f.message(t, "b")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b", "c"}, loadedIDs(f.status(t))); diff != "" {
		t.Errorf("loaded after b (-want +got):\n%s", diff)
	}
}

func TestUnloadAPI(t *testing.T) {
	l := newFakeLoader("hi")
	l.cfg.PerPass = 10 * time.Millisecond
	pinned := testModel("pinned", &scriptGenerator{reply: "p"})
	f := start(t, server.Config{APIKeys: []string{"k"}}, []server.Model{onDemand("m", 0, "mm"), pinned},
		server.WithLoader(l.load))
	key := map[string]string{"x-api-key": "k"}
	unload := func(body string, header map[string]string) (*http.Response, []byte) {
		return f.do(t, http.MethodPost, "/api/unload", body, header)
	}
	res, body := unload(`{"model":"m"}`, nil)
	checkError(t, res, body, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
	res, body = f.do(t, http.MethodGet, "/api/status", "", nil)
	checkError(t, res, body, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")

	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"not loaded", `{"model":"m"}`, 200, `{"model":"m","pending":false}`},
		{"unknown", `{"model":"nope"}`, 404, "model: nope"},
		{"pinned", `{"model":"pinned"}`, 400, "model pinned was loaded by the embedding program"},
		{"no model", `{}`, 400, "model: field required"},
		{"not json", `{`, 400, "invalid request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := unload(tt.body, key)
			if res.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("%d %s; want %d with %q", res.StatusCode, body, tt.status, tt.want)
			}
		})
	}

	post := func(stream bool) error {
		_, _, err := f.try(http.MethodPost, "/v1/messages",
			fmt.Sprintf(`{"model":"mm","max_tokens":8,"stream":%t,"messages":[{"role":"user","content":"x"}]}`, stream), key)
		return err
	}
	if err := post(false); err != nil {
		t.Fatal(err)
	}
	if res, body := unload(`{"model":"mm"}`, key); res.StatusCode != 200 || string(body) != `{"model":"m","pending":false}` {
		t.Errorf("idle unload: %d %s", res.StatusCode, body)
	}
	if _, closes := l.counts("m"); closes != 1 {
		t.Errorf("%d closes after an idle unload", closes)
	}

	// Busy: the unload waits for the request in flight.
	l.set(func(l *fakeLoader) { l.reply = strings.Repeat("w", 20) })
	done := make(chan error, 1)
	go func() { done <- post(true) }()
	waitFor(t, "m generates", func() bool {
		_, b := f.do(t, http.MethodGet, "/api/status", "", key)
		return strings.Contains(string(b), `"active_requests":1`)
	})
	if res, body := unload(`{"model":"m"}`, key); res.StatusCode != 200 || string(body) != `{"model":"m","pending":true}` {
		t.Errorf("busy unload: %d %s", res.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m is closed after its request", func() bool { _, c := l.counts("m"); return c == 2 })
}

func TestLoadFailure(t *testing.T) {
	l := newFakeLoader("hi")
	l.set(func(l *fakeLoader) { l.fail = errors.New("bad magic") })
	f := start(t, server.Config{}, []server.Model{onDemand("m", 0)}, server.WithLoader(l.load))
	res, body := f.do(t, http.MethodPost, "/v1/messages", `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"x"}]}`, nil)
	// The cause (which may name paths) is logged, not sent.
	checkError(t, res, body, http.StatusInternalServerError, "api_error", "Internal server error")
	l.set(func(l *fakeLoader) { l.fail = nil }) // the next request tries again
	if got := f.message(t, "m"); got != "hi m" {
		t.Errorf("reply %q", got)
	}
}

func TestNewOnDemandValidation(t *testing.T) {
	l := newFakeLoader("x")
	dir := t.TempDir()
	file := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(file, make([]byte, 1234), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		models []server.Model
		opts   []server.Option
		want   string
	}{
		{"no loader", []server.Model{onDemand("m", 0)}, nil, `model "m": missing Generator, Tokenizer, Template, ContextLength`},
		{"missing file", []server.Model{{ID: "m", Path: filepath.Join(dir, "nope.gguf")}}, []server.Option{server.WithLoader(l.load)}, "nope.gguf"},
		{"no id", []server.Model{{Path: file}}, []server.Option{server.WithLoader(l.load)}, "missing ID"},
		{"duplicate alias", []server.Model{onDemand("m", 0), onDemand("n", 0, "m")}, []server.Option{server.WithLoader(l.load)}, `"m" is used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := server.New(server.Config{}, tt.models, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, core.KindInvalid) {
				t.Errorf("err = %v, want invalid with %q", err, tt.want)
			}
		})
	}
	f := start(t, server.Config{}, []server.Model{{ID: "m", Path: file}}, server.WithLoader(l.load))
	f.message(t, "m")
	if st := f.status(t); len(st.Models) != 1 || st.Models[0].FileBytes != 1234 || st.Models[0].MemoryBytes != 1234 {
		t.Errorf("status = %+v: want the file's size as the memory estimate", st)
	}
}

func TestModelsListExtension(t *testing.T) {
	l := newFakeLoader("x")
	cfgd := onDemand("cold", 0, "frost")
	cfgd.ContextLength = 512
	f := start(t, server.Config{}, []server.Model{onDemand("lazy", 0), cfgd, testModel("hot", &scriptGenerator{})},
		server.WithLoader(l.load))
	type ext struct {
		Loaded        bool   `json:"loaded"`
		ContextLength int    `json:"context_length"`
		Default       bool   `json:"default"`
		AliasOf       string `json:"alias_of"`
	}
	list := func() map[string]ext {
		_, body := f.do(t, http.MethodGet, "/v1/models", "", nil)
		var p struct {
			Data []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Pensieve ext    `json:"pensieve"`
			}
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		out := map[string]ext{}
		for _, d := range p.Data {
			if d.Type != "model" {
				t.Errorf("entry %s has type %q", d.ID, d.Type)
			}
			out[d.ID] = d.Pensieve
		}
		return out
	}
	want := map[string]ext{
		"lazy":  {Default: true},
		"cold":  {ContextLength: 512},
		"frost": {ContextLength: 512, AliasOf: "cold"},
		"hot":   {Loaded: true, ContextLength: 4096},
	}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("before loading (-want +got):\n%s", diff)
	}
	f.message(t, "lazy")
	want["lazy"] = ext{Loaded: true, ContextLength: 1024, Default: true}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("after loading lazy (-want +got):\n%s", diff)
	}
}

func TestShutdownUnloadsOnDemandModels(t *testing.T) {
	l := newFakeLoader("x")
	s, err := server.New(server.Config{}, []server.Model{onDemand("a", time.Hour), onDemand("b", 0)}, server.WithLoader(l.load))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := s.Load(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Load(ctx, "zzz"); !errors.Is(err, core.KindNotFound) {
		t.Errorf("Load(zzz) = %v, want not found", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if loads, closes := l.counts(id); loads != 1 || closes != 1 {
			t.Errorf("%s: %d loads, %d closes; want 1, 1", id, loads, closes)
		}
	}
	if err := s.Load(ctx, "a"); !errors.Is(err, core.KindUnavailable) {
		t.Errorf("Load after Shutdown = %v, want unavailable", err)
	}
}

func TestShutdownCancelsALoad(t *testing.T) {
	l := newFakeLoader("x")
	l.gate = make(chan struct{}) // never opens: the load waits for its context
	s, err := server.New(server.Config{}, []server.Model{onDemand("a", 0)}, server.WithLoader(l.load))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan error, 1)
	go func() { loaded <- s.Load(ctx, "a") }()
	waitFor(t, "the load has started", func() bool { n, _ := l.counts("a"); return n == 1 })
	cancel()
	if err := <-loaded; !errors.Is(err, core.KindCanceled) {
		t.Errorf("Load with a canceled context = %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
