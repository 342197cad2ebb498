package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
)

// unloadTimeout bounds closing one unloaded model (its engine has no
// generation left, so this is only a safeguard).
const unloadTimeout = 30 * time.Second

// startLoadLocked starts loading e in a goroutine of the registry and
// returns the call requests wait on. The first load also starts the
// registry's life: a context that keeps ctx's values but not its
// cancellation (loads outlive the request that started them) and ends in
// close, and the janitor when some model has a keep-alive. r.mu is held.
func (r *registry) startLoadLocked(ctx context.Context, e *entry) *loadCall {
	if r.life == nil {
		r.life, r.endLife = context.WithCancel(context.WithoutCancel(ctx))
		if every := r.janitorInterval(); every > 0 {
			life := r.life
			r.wg.Go(func() { r.janitor(life, every) })
		}
	}
	call := &loadCall{done: make(chan struct{})}
	e.loading = call
	life := r.life
	r.wg.Go(func() { r.runLoad(life, e, call) })
	return call
}

// runLoad loads e: it first unloads idle models until e's estimate fits
// the budget, then calls the Loader, then publishes the model (or the
// failure) to the waiting requests.
func (r *registry) runLoad(ctx context.Context, e *entry, call *loadCall) {
	r.mu.Lock()
	victims := r.makeRoomLocked(e, e.estimate)
	r.mu.Unlock()
	for _, v := range victims {
		r.unload(ctx, v, unloadMemory)
	}

	start := time.Now()
	m, err := r.open(ctx, e)
	took := time.Since(start)

	r.mu.Lock()
	e.loading = nil
	if err == nil && r.closed {
		err = core.Errorf(core.KindUnavailable, "server.load", "the server is shutting down")
	}
	if err != nil {
		call.err = err
		close(call.done)
		r.mu.Unlock()
		if m != nil { // loaded while Shutdown began: nobody will use it
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unloadTimeout)
			defer cancel()
			err = errors.Join(err, m.close(cctx))
		}
		r.log.Warn("model load failed", zap.String("model", e.spec.ID), zap.Error(err))
		return
	}
	e.cur, e.lastUsed, e.unloadIdle = m, r.now(), false
	e.estimate, e.contextLen, e.maxOutput = m.bytes, m.ContextLength, m.MaxOutputTokens
	e.loadedCount++
	victims = r.makeRoomLocked(e, m.bytes) // the measured size may exceed the estimate
	n := e.loadedCount
	r.mu.Unlock()

	r.log.Info("model loaded", zap.String("model", e.spec.ID), zap.String("path", e.spec.Path),
		zap.Int64("bytes", m.bytes), zap.Int("context", m.ContextLength), zap.Duration("took", took), zap.Int("loads", n))
	if r.hooks.loaded != nil {
		r.hooks.loaded(e.spec.ID, took)
	}
	for _, v := range victims {
		r.unload(ctx, v, unloadMemory)
	}
	close(call.done) // the waiting requests go on once memory is back
}

// open calls the Loader and checks what it returned.
func (r *registry) open(ctx context.Context, e *entry) (*served, error) {
	const op = "server.load"
	l, err := r.loader(ctx, e.spec)
	if err != nil {
		return nil, core.E(core.KindInternal, op, fmt.Errorf("model %q could not be loaded: %w", e.spec.ID, err))
	}
	if l == nil || l.Close == nil {
		return nil, core.Errorf(core.KindInternal, op, "model %q: the loader returned no Close", e.spec.ID)
	}
	m := e.spec
	m.Generator, m.Tokenizer, m.Template = l.Generator, l.Tokenizer, l.Template
	if l.ContextLength > 0 {
		m.ContextLength = l.ContextLength
	} else if _, ok := l.Generator.(statser); ok {
		m.ContextLength = 0 // the engine's own figure, not the configured hint
	}
	s, err := r.newServed(e, m, r.log)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unloadTimeout)
		defer cancel()
		return nil, errors.Join(core.E(core.KindInternal, op, err), l.Close(cctx))
	}
	s.close, s.bytes = l.Close, l.Bytes
	if s.bytes <= 0 {
		s.bytes = e.fileBytes
	}
	return s, nil
}

// makeRoomLocked detaches idle models, least recently used first, until
// need more bytes fit the budget beside the other loaded and loading
// models; e itself is never chosen. The caller closes what it returns.
// When busy models alone exceed the budget the load goes ahead anyway (a
// model that cannot be loaded would be worse than an overcommitted
// machine) and a warning is logged. r.mu is held.
func (r *registry) makeRoomLocked(e *entry, need int64) []*served {
	if r.budget <= 0 {
		return nil
	}
	var used int64
	for _, o := range r.entries {
		switch {
		case o == e:
		case o.cur != nil:
			used += o.cur.bytes
		case o.loading != nil:
			used += o.estimate
		}
	}
	var victims []*served
	for used+need > r.budget {
		v := r.lruIdleLocked(e)
		if v == nil {
			r.log.Warn("memory budget exceeded: every other loaded model is busy", zap.String("model", e.spec.ID),
				zap.Int64("budget", r.budget), zap.Int64("used", used), zap.Int64("need", need))
			break
		}
		used -= v.cur.bytes
		victims = append(victims, r.detachLocked(v))
	}
	return victims
}

// lruIdleLocked returns the least recently used model other than except
// that could be unloaded now, or nil. r.mu is held.
func (r *registry) lruIdleLocked(except *entry) *entry {
	var best *entry
	for _, o := range r.entries {
		if o == except || o.pinned || o.cur == nil || o.refs > 0 {
			continue
		}
		if best == nil || o.lastUsed.Before(best.lastUsed) {
			best = o
		}
	}
	return best
}

// detachLocked marks e unloaded and returns the model to close. r.mu is
// held.
func (r *registry) detachLocked(e *entry) *served {
	m := e.cur
	e.cur, e.unloadIdle = nil, false
	return m
}

// unload closes a detached model, logs and counts it. ctx is the
// registry's life (set by the first load, which precedes every unload); it
// may have ended (Shutdown): closing an idle model still gets
// unloadTimeout.
func (r *registry) unload(ctx context.Context, m *served, reason string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unloadTimeout)
	defer cancel()
	log := r.log.With(zap.String("model", m.ID), zap.String("reason", reason))
	if err := m.close(cctx); err != nil {
		log.Warn("closing an unloaded model", zap.Error(err))
	}
	log.Info("model unloaded", zap.Duration("loaded_for", r.now().Sub(m.loadedAt)))
	if r.hooks.unloaded != nil {
		r.hooks.unloaded(m.ID, reason)
	}
}

// unloadByName unloads the model name resolves to (POST /api/unload). A
// busy model is unloaded when its last request ends; pending reports that.
// Models loaded by the caller cannot be unloaded.
func (r *registry) unloadByName(name string) (id string, pending bool, err error) {
	e, err := r.resolve(name)
	if err != nil {
		return "", false, err
	}
	if e.pinned {
		return e.spec.ID, false, core.Errorf(core.KindInvalid, "server.unload",
			"model %s was loaded by the embedding program and cannot be unloaded", e.spec.ID)
	}
	r.mu.Lock()
	var victim *served
	switch {
	case e.cur == nil:
	case e.refs > 0:
		e.unloadIdle, pending = true, true
	default:
		victim = r.detachLocked(e)
	}
	life := r.life
	r.mu.Unlock()
	if victim != nil {
		r.unload(life, victim, unloadRequested)
	}
	return e.spec.ID, pending, nil
}

// janitorInterval is how often the janitor looks for idle models: an
// eighth of the shortest keep-alive, within [10 ms, 1 s]; 0 when no model
// has one (no janitor runs).
func (r *registry) janitorInterval() time.Duration {
	var shortest time.Duration
	for _, e := range r.entries {
		if ka := e.spec.KeepAlive; !e.pinned && ka > 0 && (shortest == 0 || ka < shortest) {
			shortest = ka
		}
	}
	if shortest == 0 {
		return 0
	}
	return min(max(shortest/8, 10*time.Millisecond), time.Second)
}

// janitor unloads models idle past their keep-alive until ctx ends.
func (r *registry) janitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range r.expired() {
			r.unload(ctx, m, unloadIdle)
		}
	}
}

// expired detaches the models idle for at least their keep-alive.
func (r *registry) expired() []*served {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*served
	for _, e := range r.entries {
		ka := e.spec.KeepAlive
		if e.pinned || e.cur == nil || e.refs > 0 || ka <= 0 || now.Sub(e.lastUsed) < ka {
			continue
		}
		out = append(out, r.detachLocked(e))
	}
	return out
}

// close stops loading (loads in progress are canceled), stops the
// janitor, waits for both, then unloads every on-demand model. Call it
// once no request holds a model. It returns ctx's error when a Loader did
// not return in time.
func (r *registry) close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	end, life := r.endLife, r.life
	r.mu.Unlock()
	if end == nil {
		return nil // nothing was ever loaded on demand
	}
	end()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = core.E(core.KindCanceled, "server.Shutdown", fmt.Errorf("a model load did not stop: %w", ctx.Err()))
	}
	r.mu.Lock()
	var victims []*served
	for _, e := range r.entries {
		if !e.pinned && e.cur != nil {
			victims = append(victims, r.detachLocked(e))
		}
	}
	r.mu.Unlock()
	for _, v := range victims {
		r.unload(life, v, unloadShutdown)
	}
	return err
}
