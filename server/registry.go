package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// Model is one served model: what clients call it and the pieces that run
// it. A Model comes in one of two forms:
//
//   - loaded by the caller: Generator, Tokenizer and Template are set. The
//     server does not own these pieces and never unloads them; whoever
//     built them closes them after Shutdown returns.
//   - on demand: the three pieces are nil and the server has a Loader
//     (WithLoader). The first request that names the model loads it; the
//     server owns what the Loader returned, unloads it when it has been
//     idle for KeepAlive or when the memory budget needs room, and closes
//     it in Shutdown at the latest.
type Model struct {
	// ID is the model's canonical name, returned in responses; required.
	ID string
	// DisplayName is shown by GET /v1/models; empty means ID.
	DisplayName string
	// Aliases are other names that resolve to this model.
	Aliases []string
	// Generator runs generations (the engine); required unless on demand.
	Generator core.Generator
	// Tokenizer tokenizes prompts and counts tokens; required unless on
	// demand.
	Tokenizer core.Tokenizer
	// Template renders conversations into prompts; required unless on
	// demand.
	Template core.ChatTemplate
	// ContextLength is the number of positions one sequence may use in the
	// Generator: prompt plus generated tokens. Zero means the generator's
	// own figure when it reports engine.Stats (its Context), which is what
	// an engine allows per KV slot; otherwise it is required. For an
	// on-demand model it is what GET /v1/models reports before the first
	// load (zero: unknown); the Loader's figure replaces it.
	ContextLength int
	// MaxOutputTokens caps max_tokens; zero means ContextLength.
	MaxOutputTokens int
	// Created is reported as created_at; zero means the time New ran.
	Created time.Time
	// Path is the model's file (or directory), which the Loader opens; its
	// size is the first memory estimate of an on-demand model. It must
	// exist when New runs. Empty means unknown (the estimate is then 0).
	Path string
	// KeepAlive unloads an on-demand model once no request has used it for
	// this long; zero keeps it loaded. Models loaded by the caller ignore it.
	KeepAlive time.Duration
}

// onDemand reports whether m leaves its pieces to a Loader.
func (m *Model) onDemand() bool { return m.Generator == nil && m.Tokenizer == nil && m.Template == nil }

// Loader opens the on-demand model m (m.Path) and returns its running
// pieces. The server calls it from a goroutine of its own, at most once at
// a time per model, with a context that ends at Shutdown; a Loader should
// give up when it ends. Requests for the model wait for the load.
type Loader func(ctx context.Context, m Model) (*Loaded, error)

// Loaded is what a Loader returns: the pieces that run a model and how to
// release them. The server owns it until it calls Close.
type Loaded struct {
	// Generator, Tokenizer and Template are required, as on Model.
	Generator core.Generator
	Tokenizer core.Tokenizer
	Template  core.ChatTemplate
	// ContextLength is as on Model; zero means the generator's engine.Stats.
	ContextLength int
	// Bytes is the memory the model holds (weights plus KV cache), which
	// the memory budget accounts for; zero means the file's size.
	Bytes int64
	// Close releases everything; required. The server calls it once, when
	// no generation of the model is running any more. ctx bounds it.
	Close func(ctx context.Context) error
}

// served is one loaded model: its pieces and its Messages profile.
type served struct {
	Model
	profile  *claude.Profile
	entry    *entry
	bytes    int64                           // memory it holds, for the budget
	loadedAt time.Time                       // when it was loaded (New, for a pinned model)
	close    func(ctx context.Context) error // nil when the caller owns the pieces
}

// entry is one configured model, loaded or not. Its first fields are
// fixed by newRegistry; the rest belong to registry.mu.
type entry struct {
	spec      Model // as configured; an on-demand model's pieces are nil
	pinned    bool  // loaded by the caller: never unloaded
	fileBytes int64 // size of spec.Path

	cur         *served   // the loaded model; nil when unloaded
	loading     *loadCall // the load in progress, if any
	refs        int       // requests (and their relays) holding cur
	lastUsed    time.Time // when the last reference was taken or dropped
	unloadIdle  bool      // unload once refs reach zero (asked while busy)
	estimate    int64     // expected memory: the last load's, else fileBytes
	contextLen  int       // the last known context length; 0 unknown
	maxOutput   int       // the last known output cap; 0 unknown
	loadedCount int       // how often the model was loaded, for logs
}

// loadCall is one load in progress; requests for the model wait on it.
type loadCall struct {
	done chan struct{} // closed when the load has ended
	err  error         // the load's failure; written before done closes
}

// registry resolves model names and keeps on-demand models loaded while
// they are used: it loads them (one load per model at a time), unloads
// those idle past their keep-alive, and makes room under the memory budget
// by unloading the least recently used idle model.
type registry struct {
	entries   []*entry          // configuration order
	byName    map[string]*entry // ids and aliases
	fallback  *entry            // the default model: target of "claude-*" names
	claudeMap bool
	loader    Loader
	budget    int64 // bytes; ≤ 0 is unlimited
	now       func() time.Time
	log       *zap.Logger
	hooks     registryHooks

	mu      sync.Mutex         // guards the mutable fields of every entry and the fields below
	life    context.Context    // set at the first load: parent of loads and the janitor; ends in close
	endLife context.CancelFunc // ends life
	closed  bool               // close began: nothing loads any more

	wg sync.WaitGroup // the janitor and the loads
}

// registryHooks report loads and unloads (metrics). Unset hooks do
// nothing.
type registryHooks struct {
	loaded   func(id string, took time.Duration)
	unloaded func(id, reason string)
}

// Unload reasons, as logged and counted.
const (
	unloadIdle      = "idle"      // keep-alive elapsed
	unloadMemory    = "memory"    // room for another model
	unloadRequested = "requested" // POST /api/unload
	unloadShutdown  = "shutdown"
)

// registryConfig is what newRegistry needs besides the models.
type registryConfig struct {
	defaultID     string
	claudeAliases bool
	loader        Loader
	budget        int64
	now           func() time.Time
	log           *zap.Logger
}

// newRegistry validates models: each needs an ID, its pieces (or a
// Loader) and a context length, and no name may be used twice. The default
// model is defaultID, or the first model when defaultID is empty.
func newRegistry(models []Model, rc registryConfig) (*registry, error) {
	r := &registry{byName: map[string]*entry{}, claudeMap: rc.claudeAliases, loader: rc.loader,
		budget: rc.budget, now: rc.now, log: rc.log}
	start := rc.now()
	for i := range models {
		e, err := r.newEntry(models[i], start)
		if err != nil {
			return nil, err
		}
		for _, name := range append([]string{e.spec.ID}, e.spec.Aliases...) {
			if _, dup := r.byName[name]; dup {
				return nil, core.Errorf(core.KindInvalid, "server.New", "model name %q is used twice", name)
			}
			r.byName[name] = e
		}
		r.entries = append(r.entries, e)
	}
	if len(r.entries) == 0 {
		return r, nil
	}
	r.fallback = r.entries[0]
	if rc.defaultID != "" {
		e, ok := r.byName[rc.defaultID]
		if !ok {
			return nil, core.Errorf(core.KindInvalid, "server.New", "default model %q is not served", rc.defaultID)
		}
		r.fallback = e
	}
	return r, nil
}

// newEntry checks one model. A model loaded by the caller is served at
// once; an on-demand one needs a Loader and an existing Path.
func (r *registry) newEntry(m Model, now time.Time) (*entry, error) {
	if m.DisplayName == "" {
		m.DisplayName = m.ID
	}
	if m.Created.IsZero() {
		m.Created = now
	}
	e := &entry{spec: m, contextLen: m.ContextLength, maxOutput: m.MaxOutputTokens}
	if m.onDemand() && r.loader != nil {
		if m.ID == "" {
			return nil, core.Errorf(core.KindInvalid, "server.New", "model %q: missing ID", m.ID)
		}
		if m.Path != "" {
			n, err := pathBytes(m.Path)
			if err != nil {
				return nil, core.Errorf(core.KindInvalid, "server.New", "model %q: %w", m.ID, err)
			}
			e.fileBytes = n
		}
		e.estimate = e.fileBytes
		return e, nil
	}
	s, err := r.newServed(e, m, r.log)
	if err != nil {
		return nil, err
	}
	e.pinned, e.cur, e.contextLen, e.maxOutput = true, s, s.ContextLength, s.MaxOutputTokens
	return e, nil
}

// newServed completes m (context length, output cap) and builds its
// profile.
func (r *registry) newServed(e *entry, m Model, log *zap.Logger) (*served, error) {
	if st, ok := m.Generator.(statser); ok && m.ContextLength == 0 {
		m.ContextLength = st.Stats().Context
	}
	if err := checkModel(&m); err != nil {
		return nil, err
	}
	if m.MaxOutputTokens <= 0 || m.MaxOutputTokens > m.ContextLength {
		m.MaxOutputTokens = m.ContextLength
	}
	prof, err := claude.NewProfile(claude.ModelSpec{ID: m.ID, Template: m.Template, Tokenizer: m.Tokenizer,
		ContextLength: m.ContextLength, MaxOutputTokens: m.MaxOutputTokens},
		claude.WithLogger(log.With(zap.String("model", m.ID))))
	if err != nil {
		return nil, err
	}
	return &served{Model: m, profile: prof, entry: e, loadedAt: r.now()}, nil
}

func checkModel(m *Model) error {
	var missing []string
	if m.ID == "" {
		missing = append(missing, "ID")
	}
	if m.Generator == nil {
		missing = append(missing, "Generator")
	}
	if m.Tokenizer == nil {
		missing = append(missing, "Tokenizer")
	}
	if m.Template == nil {
		missing = append(missing, "Template")
	}
	if m.ContextLength <= 0 {
		missing = append(missing, "ContextLength")
	}
	if len(missing) > 0 {
		return core.Errorf(core.KindInvalid, "server.New", "model %q: missing %s", m.ID, strings.Join(missing, ", "))
	}
	return nil
}

// pathBytes is the size of a model file, or of the regular files directly
// inside a model directory (a SafeTensors checkpoint).
func pathBytes(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return fi.Size(), nil
	}
	des, err := os.ReadDir(path)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, de := range des {
		if fi, err := os.Stat(filepath.Join(path, de.Name())); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n, nil
}

// resolve returns the model a request names: an id or alias, else — for
// names starting with "claude-" unless disabled — the default model (Claude
// Code asks for several claude-* ids, spec §11). Anything else is 404
// not_found_error with the upstream wording "model: <id>" (spec §7.3).
func (r *registry) resolve(name string) (*entry, error) {
	if e, ok := r.byName[name]; ok {
		return e, nil
	}
	if r.claudeMap && r.fallback != nil && strings.HasPrefix(name, "claude-") {
		return r.fallback, nil
	}
	return nil, core.Errorf(core.KindNotFound, "server.resolve", "model: %s", name)
}

// acquire returns the loaded model name resolves to, loading it first if
// needed, and holds it loaded until release. Concurrent requests for an
// unloaded model wait for one load; a request whose ctx ends while waiting
// fails with KindCanceled and leaves the load running for the others.
func (r *registry) acquire(ctx context.Context, name string) (*served, error) {
	e, err := r.resolve(name)
	if err != nil {
		return nil, err
	}
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, core.Errorf(core.KindUnavailable, "server.acquire", "the server is shutting down")
		}
		if e.cur != nil {
			e.refs++
			e.lastUsed = r.now()
			m := e.cur
			r.mu.Unlock()
			return m, nil
		}
		call := e.loading
		if call == nil {
			call = r.startLoadLocked(ctx, e)
		}
		r.mu.Unlock()
		select {
		case <-call.done:
			if call.err != nil {
				return nil, call.err
			}
			// Loaded: take a reference on the next turn. Should the model be
			// unloaded again in between (memory pressure), it loads again.
		case <-ctx.Done():
			return nil, core.E(core.KindCanceled, "server.acquire", ctx.Err())
		}
	}
}

// retain takes one more reference on m, whose caller holds one already.
func (r *registry) retain(m *served) {
	r.mu.Lock()
	m.entry.refs++
	r.mu.Unlock()
}

// release drops a reference taken by acquire or retain. The last one of a
// model asked to unload while busy unloads it.
func (r *registry) release(m *served) {
	e := m.entry
	r.mu.Lock()
	e.refs--
	e.lastUsed = r.now()
	var victim *served
	if e.refs == 0 && e.unloadIdle && e.cur == m {
		victim = r.detachLocked(e)
	}
	life := r.life
	r.mu.Unlock()
	if victim != nil {
		r.unload(life, victim, unloadRequested)
	}
}

// loaded returns the models loaded now, in configuration order.
func (r *registry) loaded() []*served {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*served
	for _, e := range r.entries {
		if e.cur != nil {
			out = append(out, e.cur)
		}
	}
	return out
}

// entryState is a snapshot of an entry's mutable fields.
type entryState struct {
	cur        *served
	refs       int
	lastUsed   time.Time
	contextLen int
	maxOutput  int
}

func (r *registry) state(e *entry) entryState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return entryState{cur: e.cur, refs: e.refs, lastUsed: e.lastUsed, contextLen: e.contextLen, maxOutput: e.maxOutput}
}
