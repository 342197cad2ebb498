package server

import (
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/server/internal/metrics"
)

// serverMetrics are the series /metrics exposes: pensieve_* for the server
// and its models, go_* for the runtime and process_* for the process.
type serverMetrics struct {
	reg        *metrics.Registry
	requests   *metrics.Counter   // route, method, status
	latency    *metrics.Histogram // route
	tokensIn   *metrics.Counter   // model: prompt tokens
	tokensOut  *metrics.Counter   // model: generated tokens
	ttft       *metrics.Histogram // model: seconds to the first generated text
	generation *metrics.Counter   // model, stop_reason: finished generations
	active     *activeCounter     // model: generations in flight
	loads      *metrics.Counter   // model: on-demand loads
	unloads    *metrics.Counter   // model, reason: unloads
	rejected   *metrics.Counter   // reason: requests refused by a per-client limit
}

var (
	latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	ttftBuckets    = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

func newServerMetrics(s *Server) (*serverMetrics, error) {
	r := metrics.NewRegistry()
	m := &serverMetrics{
		reg:      r,
		requests: r.NewCounter("pensieve_http_requests_total", "HTTP requests by route, method and status.", "route", "method", "status"),
		latency: r.NewHistogram("pensieve_http_request_duration_seconds",
			"Time from request to the end of the response (whole stream included), by route.", latencyBuckets, "route"),
		tokensIn:  r.NewCounter("pensieve_prompt_tokens_total", "Prompt tokens of finished generations.", "model"),
		tokensOut: r.NewCounter("pensieve_generated_tokens_total", "Tokens generated.", "model"),
		ttft: r.NewHistogram("pensieve_time_to_first_token_seconds",
			"Time from the start of a generation to its first text.", ttftBuckets, "model"),
		generation: r.NewCounter("pensieve_generations_total", "Finished generations by stop reason (or error kind).", "model", "reason"),
		active:     &activeCounter{n: map[string]int{}},
		loads:      r.NewCounter("pensieve_model_loads_total", "Loads of on-demand models.", "model"),
		unloads: r.NewCounter("pensieve_model_unloads_total",
			"Unloads of on-demand models by reason (idle, memory, requested, shutdown).", "model", "reason"),
		rejected: r.NewCounter("pensieve_rejected_requests_total",
			"Requests refused by a per-client limit, by reason (rate_limit, concurrency).", "reason"),
	}
	r.NewFunc("pensieve_active_generations", "Generations in flight.", "gauge", []string{"model"}, m.active.collect)
	r.NewGaugeFunc("pensieve_inflight_requests", "HTTP requests being served.", func() float64 {
		return float64(s.metricsInflight())
	})
	r.NewFunc("pensieve_model_info", "Loaded models (value 1).", "gauge", []string{"model", "context_length"},
		func(emit func(float64, ...string)) {
			for _, md := range s.models.loaded() {
				emit(1, md.ID, strconv.Itoa(md.ContextLength))
			}
		})
	r.NewGaugeFunc("pensieve_models_loaded", "Models in memory now.", func() float64 {
		return float64(len(s.models.loaded()))
	})
	registerEngine(r, s.models.loaded)
	registerRuntime(r)
	if err := r.Err(); err != nil {
		return nil, core.E(core.KindInternal, "server.metrics", err)
	}
	return m, nil
}

// activeCounter counts generations in flight per model.
type activeCounter struct {
	mu sync.Mutex     // guards n
	n  map[string]int // model → generations
}

func (a *activeCounter) add(model string, d int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n[model] += d
}

func (a *activeCounter) get(model string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[model]
}

func (a *activeCounter) collect(emit func(float64, ...string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(a.n)) {
		emit(float64(a.n[k]), k)
	}
}

// finished records the end of one generation.
func (m *serverMetrics) finished(model string, ev *core.Event) {
	reason := string(ev.StopReason)
	if ev.Err != nil {
		reason = "error_" + core.KindOf(ev.Err).String()
	}
	m.generation.Inc(model, reason)
	m.tokensIn.Add(float64(ev.Usage.PromptTokens), model)
	m.tokensOut.Add(float64(ev.Usage.GeneratedTokens), model)
}

// statser is a Generator that reports its load; engine.Engine does.
type statser interface {
	Stats() engine.Stats
}

// registerEngine adds the load series of every loaded model whose
// generator reports engine.Stats.
func registerEngine(r *metrics.Registry, models func() []*served) {
	series := []struct {
		name, help, typ string
		get             func(engine.Stats) float64
	}{
		{"pensieve_queue_depth", "Requests waiting for a KV slot.", "gauge", func(st engine.Stats) float64 { return float64(st.QueueDepth) }},
		{"pensieve_active_sequences", "Sequences holding a KV slot.", "gauge", func(st engine.Stats) float64 { return float64(st.Active) }},
		{"pensieve_kv_slots", "KV cache slots: the most sequences generated at once.", "gauge", func(st engine.Stats) float64 { return float64(st.Slots) }},
		{"pensieve_engine_requests_total", "Requests admitted to a KV slot.", "counter", func(st engine.Stats) float64 { return float64(st.Requests) }},
		{"pensieve_engine_prompt_tokens_total", "Prompt tokens of admitted requests.", "counter", func(st engine.Stats) float64 { return float64(st.PromptTokens) }},
		{"pensieve_prefix_cache_hit_tokens_total", "Prompt tokens reused from the prefix KV cache instead of evaluated.", "counter", func(st engine.Stats) float64 { return float64(st.CachedTokens) }},
		{"pensieve_engine_generated_tokens_total", "Tokens sampled by the engine.", "counter", func(st engine.Stats) float64 { return float64(st.GeneratedTokens) }},
		{"pensieve_tokens_per_second", "Tokens sampled per second over the last 10 s.", "gauge", func(st engine.Stats) float64 { return st.TokensPerSecond }},
	}
	for _, sr := range series {
		r.NewFunc(sr.name, sr.help, sr.typ, []string{"model"}, func(emit func(float64, ...string)) {
			for _, m := range models() {
				if st, ok := m.Generator.(statser); ok {
					emit(sr.get(st.Stats()), m.ID)
				}
			}
		})
	}
}

// serveMetrics writes the exposition (GET /metrics).
func (s *Server) serveMetrics(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentType, metrics.ContentType)
	c.Response().WriteHeader(http.StatusOK)
	_, err := s.metrics.reg.WriteTo(c.Response())
	return err
}

// metricsInflight counts requests in the handler chain, the scrape itself
// included.
func (s *Server) metricsInflight() int64 { return s.inflightN.Load() }

// registerRuntime adds the Go runtime and process series Prometheus' own
// client exposes under the same names.
func registerRuntime(r *metrics.Registry) {
	ms := &memStats{}
	r.NewFunc("go_info", "Information about the Go environment.", "gauge", []string{"version"},
		func(emit func(float64, ...string)) { emit(1, runtime.Version()) })
	r.NewGaugeFunc("go_goroutines", "Number of goroutines that currently exist.",
		func() float64 { return float64(runtime.NumGoroutine()) })
	mem := []struct {
		name, help, typ string
		get             func(*runtime.MemStats) float64
	}{
		{"go_memstats_alloc_bytes", "Bytes of allocated heap objects.", "gauge", func(m *runtime.MemStats) float64 { return float64(m.Alloc) }},
		{"go_memstats_alloc_bytes_total", "Total bytes allocated, even if freed.", "counter", func(m *runtime.MemStats) float64 { return float64(m.TotalAlloc) }},
		{"go_memstats_sys_bytes", "Bytes of memory obtained from the OS.", "gauge", func(m *runtime.MemStats) float64 { return float64(m.Sys) }},
		{"go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", "gauge", func(m *runtime.MemStats) float64 { return float64(m.HeapInuse) }},
		{"go_memstats_heap_objects", "Number of allocated heap objects.", "gauge", func(m *runtime.MemStats) float64 { return float64(m.HeapObjects) }},
		{"go_memstats_mallocs_total", "Total number of heap objects allocated.", "counter", func(m *runtime.MemStats) float64 { return float64(m.Mallocs) }},
		{"go_memstats_frees_total", "Total number of heap objects freed.", "counter", func(m *runtime.MemStats) float64 { return float64(m.Frees) }},
		{"go_memstats_next_gc_bytes", "Heap size target of the next GC cycle.", "gauge", func(m *runtime.MemStats) float64 { return float64(m.NextGC) }},
		{"go_memstats_last_gc_time_seconds", "Unix time of the last GC.", "gauge", func(m *runtime.MemStats) float64 { return float64(m.LastGC) / 1e9 }},
	}
	for _, f := range mem {
		r.NewFunc(f.name, f.help, f.typ, nil, func(emit func(float64, ...string)) { emit(f.get(ms.get())) })
	}
	r.NewFunc("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", nil,
		func(emit func(float64, ...string)) {
			if v, ok := residentBytes(); ok {
				emit(v)
			}
		})
	r.NewFunc("process_cpu_seconds_total", "User and system CPU time spent in seconds.", "counter", nil,
		func(emit func(float64, ...string)) {
			if v, ok := cpuSeconds(); ok {
				emit(v)
			}
		})
}

// memStats caches runtime.ReadMemStats (which stops the world) for the
// length of one scrape.
type memStats struct {
	mu sync.Mutex // guards at and ms
	at time.Time
	ms runtime.MemStats
}

func (m *memStats) get() *runtime.MemStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.at) > time.Second {
		runtime.ReadMemStats(&m.ms)
		m.at = time.Now()
	}
	ms := m.ms
	return &ms
}
