package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

// gate blocks forward passes (from a given pass on) until opened.
type gate struct {
	from int
	open chan struct{}
	once sync.Once
}

func newGate(from int) *gate { return &gate{from: from, open: make(chan struct{})} }

func (g *gate) hook(ctx context.Context, pass int, _ *core.Batch) error {
	if pass < g.from {
		return nil
	}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// generateAll starts every request at once and collects the results.
func generateAll(t *testing.T, e *engine.Engine, reqs []*core.Request) []result {
	t.Helper()
	chans := make([]<-chan core.Event, len(reqs))
	for i, r := range reqs {
		ch, err := e.Generate(context.Background(), r)
		if err != nil {
			t.Fatalf("Generate %d: %v", i, err)
		}
		chans[i] = ch
	}
	out := make([]result, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Go(func() { out[i], errs[i] = collect(ch) })
	}
	wg.Wait()
	for i := range reqs {
		if errs[i] == nil {
			errs[i] = out[i].Final.Err
		}
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
	}
	return out
}

// TestBatchingSharesPasses runs four requests at once and checks that they
// share forward passes, mixing one sequence's prefill with the others'
// decode tokens, and that batching does not change any output.
func TestBatchingSharesPasses(t *testing.T) {
	reqs := make([]*core.Request, 4)
	for i := range reqs {
		reqs[i] = &core.Request{Prompt: prompt(uint64(10+i), 40+10*i), MaxTokens: 30, IgnoreEOS: true,
			Sampling: core.Sampling{Temperature: 0.8, TopK: 40, Seed: uint64(i)}}
	}
	// Alone, one at a time: the reference outputs.
	alone := make([]result, len(reqs))
	for i, r := range reqs {
		alone[i] = run(t, newEngine(t, enginetest.NewModel(enginetest.ModelConfig{}), byteTok), r)
	}

	// Together: hold the first pass until all four are queued.
	g := newGate(1)
	m := enginetest.NewModel(enginetest.ModelConfig{Hook: g.hook})
	e := newEngine(t, m, byteTok, engine.WithSlots(4), engine.WithPrefillChunk(16), engine.WithBatchSize(40))
	var together []result
	done := make(chan struct{})
	go func() {
		defer close(done)
		together = generateAll(t, e, reqs)
	}()
	waitFor(t, "all four requests in", func() bool { s := e.Stats(); return s.Active+s.QueueDepth == 4 })
	g.release()
	<-done
	if t.Failed() {
		return
	}
	for i := range reqs {
		if diff := cmp.Diff(alone[i].Tokens, together[i].Tokens); diff != "" {
			t.Errorf("request %d: batching changed the tokens (-alone +together):\n%s", i, diff)
		}
	}

	maxSeqs, mixed, maxLen := 0, false, 0
	for _, b := range m.Batches() {
		seqs := seqsIn(b)
		maxSeqs = max(maxSeqs, len(seqs))
		maxLen = max(maxLen, b.Len())
		prefill, decode := false, false
		for _, n := range seqs {
			prefill = prefill || n > 1
			decode = decode || n == 1
		}
		mixed = mixed || (prefill && decode)
	}
	if maxSeqs < 4 {
		t.Errorf("no forward pass held all four sequences (most: %d)", maxSeqs)
	}
	if !mixed {
		t.Error("no forward pass mixed a prefill chunk with decode tokens")
	}
	if maxLen > 40 {
		t.Errorf("a batch of %d tokens exceeds the batch size 40", maxLen)
	}
	// Four sequences decoding together: far fewer passes than tokens.
	if n, gen := len(m.Batches()), 4*30; n > gen/2 {
		t.Errorf("%d forward passes for %d generated tokens; batching should need about a quarter", n, gen)
	}
}

// TestPrefillIsFair gives two long prompts a budget that fits one chunk:
// the passes must alternate between them.
func TestPrefillIsFair(t *testing.T) {
	g := newGate(1)
	m := enginetest.NewModel(enginetest.ModelConfig{Hook: g.hook})
	e := newEngine(t, m, byteTok, engine.WithBatchSize(32), engine.WithPrefillChunk(32))
	reqs := []*core.Request{
		{Prompt: prompt(20, 200), MaxTokens: 2},
		{Prompt: prompt(21, 200), MaxTokens: 2},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		generateAll(t, e, reqs)
	}()
	waitFor(t, "both requests in", func() bool { s := e.Stats(); return s.Active+s.QueueDepth == 2 })
	g.release()
	<-done
	var order []core.SeqID
	for _, b := range m.Batches()[:8] {
		for s := range seqsIn(b) {
			order = append(order, s)
		}
	}
	// The first pass may run before the second request is admitted; from
	// then on, the slots must take turns.
	for i := 2; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("slot %d got two passes in a row while another waited: %v", order[i], order)
		}
	}
}

func TestQueueOverflow(t *testing.T) {
	g := newGate(1)
	m := enginetest.NewModel(enginetest.ModelConfig{Hook: g.hook})
	e := newEngine(t, m, byteTok, engine.WithSlots(1), engine.WithMaxQueue(1))
	defer g.release()
	req := &core.Request{Prompt: prompt(1, 8), MaxTokens: 4}

	first, err := e.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first request to hold the slot", func() bool { return e.Stats().Active == 1 })
	second, err := e.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.Generate(context.Background(), req); !errors.Is(err, core.KindOverloaded) {
		t.Fatalf("third request: %v, want KindOverloaded", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("overload took %v; it must fail at once", d)
	}
	if s := e.Stats(); s.QueueDepth != 1 || s.Active != 1 {
		t.Errorf("stats %+v, want 1 queued and 1 active", s)
	}
	g.release()
	for _, ch := range []<-chan core.Event{first, second} {
		if r, err := collect(ch); err != nil || r.Final.Err != nil {
			t.Errorf("queued request: %v %v", err, r.Final.Err)
		}
	}
	// The queue has room again.
	run(t, e, req)
}

// TestCancel cancels a request in the middle of a forward pass and checks
// that it is gone from the very next pass, its stream ends with
// KindCanceled, and its slot serves the next request, holding the prefix
// it had evaluated.
func TestCancel(t *testing.T) {
	tests := []struct {
		name     string
		cancelAt int // the pass during which the context is canceled
		wantGen  int // tokens sampled by then
		wantKept int // prompt tokens evaluated by then
	}{
		// Prompt of 100 in chunks of 16: passes 1–7 are prefill.
		{"mid-prefill", 3, 0, 48},
		{"mid-decode", 10, 4, 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m := enginetest.NewModel(enginetest.ModelConfig{Hook: func(_ context.Context, pass int, _ *core.Batch) error {
				if pass == tt.cancelAt {
					cancel()
				}
				return nil
			}})
			e := newEngine(t, m, byteTok, engine.WithSlots(1), engine.WithPrefillChunk(16))
			p := prompt(30, 100)
			ch, err := e.Generate(ctx, &core.Request{Prompt: p, MaxTokens: 50, IgnoreEOS: true})
			if err != nil {
				t.Fatal(err)
			}
			r, err := collect(ch)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(r.Final.Err, core.KindCanceled) {
				t.Fatalf("final error %v, want KindCanceled", r.Final.Err)
			}
			if n := len(m.Batches()); n != tt.cancelAt {
				t.Errorf("%d forward passes, want %d: the request must stop right after the pass it was canceled in", n, tt.cancelAt)
			}
			if got := r.Final.Usage.GeneratedTokens; got != tt.wantGen {
				t.Errorf("generated %d tokens, want %d", got, tt.wantGen)
			}
			waitFor(t, "the slot to be free", func() bool { return e.Stats().Active == 0 })
			// The only slot is free again and kept what was evaluated.
			again := run(t, e, &core.Request{Prompt: p, MaxTokens: 2})
			if got := again.Final.Usage.CachedTokens; got != tt.wantKept {
				t.Errorf("next request reused %d tokens, want %d", got, tt.wantKept)
			}
		})
	}
}

// TestCancelWithoutReading cancels a request whose consumer never reads:
// the engine must not wait for it, and the stream must still end with the
// canceled event (goleak in TestMain checks no goroutine is left).
func TestCancelWithoutReading(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{PerPass: 200 * time.Microsecond})
	e := newEngine(t, m, byteTok, engine.WithSlots(1))
	engineOnly := goleak.IgnoreCurrent() // the scheduler
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := e.Generate(ctx, &core.Request{Prompt: prompt(1, 10), MaxTokens: 1000, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "some tokens", func() bool { return e.Stats().GeneratedTokens >= 20 })
	cancel()
	waitFor(t, "the slot to be free", func() bool { return e.Stats().Active == 0 })
	// Another request runs while the first consumer still reads nothing.
	run(t, e, &core.Request{Prompt: prompt(2, 10), MaxTokens: 5})
	var last core.Event
	for ev := range ch {
		last = ev
	}
	if !last.Done || !errors.Is(last.Err, core.KindCanceled) {
		t.Errorf("last event %+v, want Done with KindCanceled", last)
	}
	// The requests' goroutines are gone while the engine still runs.
	if err := goleak.Find(engineOnly); err != nil {
		t.Errorf("goroutines outlived their requests: %v", err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	g := newGate(1)
	m := enginetest.NewModel(enginetest.ModelConfig{Hook: g.hook})
	e := newEngine(t, m, byteTok, engine.WithSlots(1))
	defer g.release()
	first, err := e.Generate(context.Background(), &core.Request{Prompt: prompt(1, 5), MaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first request to run", func() bool { return e.Stats().Active == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	queued, err := e.Generate(ctx, &core.Request{Prompt: prompt(2, 5), MaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second request to queue", func() bool { return e.Stats().QueueDepth == 1 })
	cancel()
	g.release()
	r, err := collect(queued)
	if err != nil || !errors.Is(r.Final.Err, core.KindCanceled) || len(r.Tokens) != 0 {
		t.Errorf("queued request: %v, final %+v; want canceled without tokens", err, r.Final)
	}
	if _, err := collect(first); err != nil {
		t.Error(err)
	}
	if q := e.Stats().QueueDepth; q != 0 {
		t.Errorf("queue depth %d after cancel, want 0", q)
	}
}

func TestForwardFailure(t *testing.T) {
	boom := core.Errorf(core.KindUnavailable, "backend", "device lost")
	m := enginetest.NewModel(enginetest.ModelConfig{Hook: func(_ context.Context, pass int, _ *core.Batch) error {
		if pass == 3 {
			return boom
		}
		return nil
	}})
	e := newEngine(t, m, byteTok, engine.WithSlots(1))
	p := prompt(5, 20)
	ch, err := e.Generate(context.Background(), &core.Request{Prompt: p, MaxTokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	r, err := collect(ch)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r.Final.Err, core.KindUnavailable) || !errors.Is(r.Final.Err, boom) {
		t.Errorf("final error %v, want the model's error", r.Final.Err)
	}
	// The failed slot was emptied: nothing is reused from it.
	if got := run(t, e, &core.Request{Prompt: p, MaxTokens: 2}).Final.Usage.CachedTokens; got != 0 {
		t.Errorf("reused %d tokens from a slot whose pass failed", got)
	}
}

func TestCloseDrains(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{PerPass: 100 * time.Microsecond})
	e, err := engine.New(m, byteTok)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := e.Generate(context.Background(), &core.Request{Prompt: prompt(1, 10), MaxTokens: 30, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan result, 1)
	go func() {
		r, _ := collect(ch)
		results <- r
	}()
	if err := e.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := <-results; r.Final.StopReason != core.StopMaxTokens || len(r.Tokens) != 30 {
		t.Errorf("drained request ended %+v after %d tokens, want max_tokens after 30", r.Final, len(r.Tokens))
	}
	if _, err := e.Generate(context.Background(), &core.Request{Prompt: prompt(1, 10), MaxTokens: 3}); !errors.Is(err, core.KindUnavailable) {
		t.Errorf("Generate after Close: %v, want KindUnavailable", err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseAborts(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{PerPass: time.Millisecond})
	e, err := engine.New(m, byteTok, engine.WithSlots(1))
	if err != nil {
		t.Fatal(err)
	}
	running, err := e.Generate(context.Background(), &core.Request{Prompt: prompt(1, 10), MaxTokens: 2000, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := e.Generate(context.Background(), &core.Request{Prompt: prompt(2, 10), MaxTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); !errors.Is(err, core.KindCanceled) {
		t.Errorf("Close past its deadline: %v, want a KindCanceled error", err)
	}
	// Neither consumer has read anything; both streams end with the error.
	for name, ch := range map[string]<-chan core.Event{"running": running, "queued": queued} {
		var last core.Event
		for ev := range ch {
			last = ev
		}
		if !last.Done || !errors.Is(last.Err, core.KindUnavailable) {
			t.Errorf("%s request: last event %+v, want Done with KindUnavailable", name, last)
		}
	}
}

func TestStats(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	e := newEngine(t, m, byteTok, engine.WithSlots(2), engine.WithContext(512))
	p := prompt(3, 50)
	run(t, e, &core.Request{Prompt: p, MaxTokens: 10, IgnoreEOS: true})
	run(t, e, &core.Request{Prompt: p, MaxTokens: 10, IgnoreEOS: true})
	s := e.Stats()
	if s.TokensPerSecond <= 0 {
		t.Errorf("tokens/s %g, want > 0", s.TokensPerSecond)
	}
	s.TokensPerSecond = 0
	want := engine.Stats{Slots: 2, Context: 512, Requests: 2, PromptTokens: 100, CachedTokens: 49, GeneratedTokens: 20}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

// TestCancelStopsForwardPass: when every request of a batch is canceled
// during a forward pass, the pass's context ends, so a model that checks it
// (the real one does between layers) stops instead of finishing the pass.
func TestCancelStopsForwardPass(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	passEnded := make(chan error, 1)
	m := enginetest.NewModel(enginetest.ModelConfig{Hook: func(pctx context.Context, pass int, _ *core.Batch) error {
		if pass != 2 {
			return nil
		}
		cancel()
		select {
		case <-pctx.Done():
			passEnded <- pctx.Err()
			return pctx.Err()
		case <-time.After(5 * time.Second):
			passEnded <- nil
			return nil
		}
	}})
	e := newEngine(t, m, byteTok, engine.WithSlots(1), engine.WithPrefillChunk(16))
	ch, err := e.Generate(ctx, &core.Request{Prompt: prompt(7, 100), MaxTokens: 10, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := collect(ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-passEnded; err == nil {
		t.Fatal("the forward pass's context did not end when its only request was canceled")
	}
	if !errors.Is(r.Final.Err, core.KindCanceled) {
		t.Errorf("final error %v, want KindCanceled", r.Final.Err)
	}
	waitFor(t, "the slot to be free", func() bool { return e.Stats().Active == 0 })
}
