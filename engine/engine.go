package engine

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine/sample"
)

// Engine runs generations for many callers at once on one core.Model: it
// implements core.Generator. A single scheduler goroutine owns the model's
// KV cache and runs continuous batching: every forward pass mixes the next
// token of each running generation with prompt chunks of new ones. Prompts
// that share a prefix with a slot's content reuse its keys and values.
//
// Generate and Stats are safe for concurrent use. Close stops the engine;
// the model is not closed (its owner closes it after the engine).
type Engine struct {
	log   *zap.Logger
	opts  options
	info  core.ModelInfo
	sched *scheduler

	submit     chan *request   // capacity maxQueue; Generate → scheduler
	drain      chan struct{}   // closed by Close: finish the work, then stop
	abort      chan struct{}   // closed when Close's ctx ends: stop now
	forwardCtx context.Context // done when abort is closed; passed to Forward

	mu        sync.RWMutex // guards closed; Generate holds it to submit, so Close sees every submission
	closed    bool
	drainOnce sync.Once
	abortOnce sync.Once
	wg        sync.WaitGroup // the scheduler and every request's forwarder

	queued       atomic.Int64 // accepted requests waiting for a slot
	active       atomic.Int64 // sequences holding a slot
	requests     atomic.Uint64
	promptTokens atomic.Uint64
	cachedTokens atomic.Uint64
	generated    atomic.Uint64
	rate         meter
}

// New returns an engine that generates with m, decoding tokens with tok,
// and starts its scheduler. It allocates the KV cache (slots × context
// positions) at once. Close the engine before closing m.
func New(m core.Model, tok core.Tokenizer, opts ...Option) (*Engine, error) {
	const op = "engine.New"
	if m == nil || tok == nil {
		return nil, core.Errorf(core.KindInvalid, op, "model and tokenizer are required")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	info := m.Info()
	if info.VocabSize < 1 {
		return nil, core.Errorf(core.KindInvalid, op, "model reports a vocabulary of %d tokens", info.VocabSize)
	}
	if o.positions == 0 {
		o.positions = DefaultContext
		if info.ContextLength > 0 {
			o.positions = min(info.ContextLength, DefaultContext)
		}
	}
	o.prefillChunk = min(o.prefillChunk, o.batchSize)
	switch {
	case o.slots < 1, o.maxQueue < 1, o.batchSize < 1, o.prefillChunk < 1, o.positions < 1:
		return nil, core.Errorf(core.KindInvalid, op, "slots %d, queue %d, batch size %d, prefill chunk %d and context %d must all be at least 1",
			o.slots, o.maxQueue, o.batchSize, o.prefillChunk, o.positions)
	case info.ContextLength > 0 && o.positions > info.ContextLength:
		return nil, core.Errorf(core.KindInvalid, op, "context of %d positions exceeds the model's %d", o.positions, info.ContextLength)
	}
	cache, err := m.NewCache(o.slots, o.positions)
	if err != nil {
		return nil, core.E(core.KindOf(err), op, err)
	}
	e := &Engine{
		log:    o.log,
		opts:   o,
		info:   info,
		submit: make(chan *request, o.maxQueue),
		drain:  make(chan struct{}),
		abort:  make(chan struct{}),
		rate:   meter{start: time.Now()},
	}
	e.forwardCtx = abortContext{e.abort}
	e.sched = &scheduler{
		e:       e,
		model:   m,
		tok:     tok,
		vocab:   tok.Vocab(),
		nVocab:  info.VocabSize,
		slots:   newSlotTable(cache),
		logits:  make([]float32, o.slots*info.VocabSize),
		scratch: make([]sample.Candidate, 0, info.VocabSize),
	}
	e.wg.Add(1)
	go e.sched.run()
	return e, nil
}

// Generate validates req and queues it; see core.Generator for the
// contract. It fails at once with core.KindInvalid for a malformed request,
// core.KindContextLength when the prompt plus MaxTokens exceeds a slot's
// positions, core.KindOverloaded when the queue is full, core.KindCanceled
// when ctx is already done, and core.KindUnavailable after Close.
//
// The returned channel is buffered by one event; events that pile up while
// the consumer is slow are merged, so the engine never waits for it.
func (e *Engine) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	if err := e.validate(req); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, core.E(core.KindCanceled, opGenerate, err)
	}
	r := newRequest(ctx, req)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, core.Errorf(core.KindUnavailable, opGenerate, "engine closed")
	}
	if !e.reserve() {
		return nil, core.Errorf(core.KindOverloaded, opGenerate, "queue full: %d requests waiting", e.opts.maxQueue)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		r.deliver(e.abort)
	}()
	// Cannot block: reserve keeps at most maxQueue requests in the channel.
	e.submit <- r
	return r.out, nil
}

// reserve takes a place in the queue, reporting false when it is full.
func (e *Engine) reserve() bool {
	for {
		n := e.queued.Load()
		if n >= int64(e.opts.maxQueue) {
			return false
		}
		if e.queued.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (e *Engine) validate(req *core.Request) error {
	if req == nil {
		return core.Errorf(core.KindInvalid, opGenerate, "nil request")
	}
	if len(req.Prompt) == 0 {
		return core.Errorf(core.KindInvalid, opGenerate, "empty prompt")
	}
	if req.MaxTokens < 1 {
		return core.Errorf(core.KindInvalid, opGenerate, "max_tokens is %d, must be at least 1", req.MaxTokens)
	}
	for i, t := range req.Prompt {
		if t < 0 || int(t) >= e.info.VocabSize {
			return core.Errorf(core.KindInvalid, opGenerate, "prompt token %d is %d, outside the vocabulary [0, %d)", i, t, e.info.VocabSize)
		}
	}
	sp := req.Sampling
	switch {
	case !(sp.Temperature >= 0) || math.IsInf(float64(sp.Temperature), 1):
		return core.Errorf(core.KindInvalid, opGenerate, "temperature %g must be a finite number ≥ 0", sp.Temperature)
	case sp.TopK < 0:
		return core.Errorf(core.KindInvalid, opGenerate, "top_k %d must be ≥ 0", sp.TopK)
	case !(sp.TopP >= 0 && sp.TopP <= 1):
		return core.Errorf(core.KindInvalid, opGenerate, "top_p %g must be in [0, 1]", sp.TopP)
	case !(sp.MinP >= 0 && sp.MinP <= 1):
		return core.Errorf(core.KindInvalid, opGenerate, "min_p %g must be in [0, 1]", sp.MinP)
	}
	for i, s := range req.Stop {
		if s == "" || !utf8.ValidString(s) {
			return core.Errorf(core.KindInvalid, opGenerate, "stop sequence %d is empty or not valid UTF-8", i)
		}
	}
	if n := len(req.Prompt) + req.MaxTokens; n > e.opts.positions {
		return core.Errorf(core.KindContextLength, opGenerate,
			"prompt of %d tokens plus max_tokens of %d is %d tokens, over the context of %d tokens",
			len(req.Prompt), req.MaxTokens, n, e.opts.positions)
	}
	return nil
}

// Close stops accepting requests (Generate then fails with
// core.KindUnavailable) and lets queued and running generations finish.
// When ctx ends first, the remaining ones end at once with a
// core.KindUnavailable error and Close returns ctx's error. Either way,
// every goroutine of the engine has exited when Close returns. Draining
// includes handing the events to their consumers, so a consumer that
// neither reads nor cancels holds Close until ctx ends. Calling Close
// again waits the same way.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.drainOnce.Do(func() { close(e.drain) })

	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	e.abortOnce.Do(func() { close(e.abort) })
	<-done
	return core.E(core.KindOf(ctx.Err()), "engine.Close", ctx.Err())
}

// Stats is a snapshot of the engine's load and counters, for metrics.
// Counters are cumulative since New.
type Stats struct {
	Slots           int     // KV slots: the most sequences generated at once
	Context         int     // positions per slot
	QueueDepth      int     // requests waiting for a slot
	Active          int     // sequences holding a slot
	Requests        uint64  // requests admitted to a slot
	PromptTokens    uint64  // prompt tokens of admitted requests
	CachedTokens    uint64  // of those, reused from the prefix cache
	GeneratedTokens uint64  // tokens sampled
	TokensPerSecond float64 // tokens sampled per second over the last 10 s
}

// Stats returns a snapshot of the engine's counters. It is cheap and safe
// for concurrent use.
func (e *Engine) Stats() Stats {
	return Stats{
		Slots:           e.opts.slots,
		Context:         e.opts.positions,
		QueueDepth:      int(e.queued.Load()),
		Active:          int(e.active.Load()),
		Requests:        e.requests.Load(),
		PromptTokens:    e.promptTokens.Load(),
		CachedTokens:    e.cachedTokens.Load(),
		GeneratedTokens: e.generated.Load(),
		TokensPerSecond: e.rate.rate(time.Now()),
	}
}

// abortContext is the context of forward passes: it ends when the engine
// aborts, so a long pass stops between layers. It carries no values and
// no deadline.
type abortContext struct{ done chan struct{} }

func (c abortContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c abortContext) Done() <-chan struct{}       { return c.done }
func (c abortContext) Value(any) any               { return nil }
func (c abortContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

var _ core.Generator = (*Engine)(nil)
