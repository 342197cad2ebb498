package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/model"
	"github.com/pensieve-llm/pensieve/server"
	"github.com/pensieve-llm/pensieve/server/internal/fixtures"
)

// fixtureLoader loads fixture GGUF files with model.Open and the real
// engine, as pensieve-cli serve does, and keeps each model's latest engine
// for the test to inspect.
type fixtureLoader struct {
	mu      sync.Mutex // guards engines
	engines map[string]*engine.Engine
}

func (l *fixtureLoader) load(_ context.Context, m server.Model) (*server.Loaded, error) {
	lm, err := model.Open(m.Path)
	if err != nil {
		return nil, err
	}
	eng, err := engine.New(lm.Model, lm.Tokenizer, engine.WithSlots(2))
	if err != nil {
		return nil, errors.Join(err, lm.Close())
	}
	l.mu.Lock()
	l.engines[m.ID] = eng
	l.mu.Unlock()
	return &server.Loaded{Generator: eng, Tokenizer: lm.Tokenizer, Template: lm.Template,
		Close: func(ctx context.Context) error { return errors.Join(eng.Close(ctx), lm.Close()) }}, nil
}

func (l *fixtureLoader) engine(id string) *engine.Engine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.engines[id]
}

// TestEndToEndOnDemandFixtures serves two fixture models on demand: a
// request loads only the model it names; the WebSocket answers with the
// SSE event sequence, twice on one connection; closing the socket mid
// generation frees the engine's sequence.
func TestEndToEndOnDemandFixtures(t *testing.T) {
	l := &fixtureLoader{engines: map[string]*engine.Engine{}}
	models := []server.Model{
		{ID: "fx-llama", Path: fixtures.Path(t, "models", "fx-llama-f32.gguf")},
		{ID: "fx-qwen2", Path: fixtures.Path(t, "models", "fx-qwen2-f32.gguf")},
	}
	f := start(t, server.Config{}, models, server.WithLoader(l.load))
	body := streamBody("fx-qwen2", "Name three colours.", 12, "")
	want := sseSteps(t, f, body)
	if diff := cmp.Diff([]string{"fx-qwen2"}, loadedIDs(f.status(t))); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	if len(want) < 5 || want[len(want)-1].Type != "message_stop" {
		t.Fatalf("SSE events %v", want)
	}
	conn, _, err := f.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if diff := cmp.Diff(want, wsSteps(t, conn, body)); diff != "" {
			t.Errorf("request %d: WebSocket events differ from SSE (-sse +ws):\n%s", i, diff)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	long := streamBody("fx-qwen2", "Tell a long story.", 200, "")
	if err := conn.Write(ctx, websocket.MessageText, []byte(long)); err != nil {
		t.Fatal(err)
	}
	for range 3 { // message_start, content_block_start, a delta
		if _, data, err := conn.Read(ctx); err != nil || strings.Contains(string(data), `"type":"message_stop"`) {
			t.Fatalf("the long generation: %s, %v", data, err)
		}
	}
	conn.CloseNow()
	eng := l.engine("fx-qwen2")
	waitFor(t, "the engine frees the sequence", func() bool { st := eng.Stats(); return st.Active == 0 && st.QueueDepth == 0 })
	t.Logf("engine after the close: %+v", eng.Stats())
	if st := eng.Stats(); st.GeneratedTokens >= 12*3+200 {
		t.Errorf("the closed socket's generation ran to its end: %+v", st)
	}
	_, mb := f.do(t, http.MethodGet, "/metrics", "", nil)
	if want := `pensieve_generations_total{model="fx-qwen2",reason="error_canceled"} 1`; !strings.Contains(string(mb), want) {
		t.Errorf("metrics lack %q:\n%s", want, grep(string(mb), "pensieve_generations_total"))
	}
}
