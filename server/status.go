package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/core"
)

// Status is the body of GET /api/status: what the server is doing now.
// pensieve-cli ps and status decode it.
type Status struct {
	// Version is the server's version (WithVersion).
	Version string `json:"version"`
	// StartedAt is when the server was built.
	StartedAt time.Time `json:"started_at"`
	// UptimeSeconds is the time since StartedAt.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// MemoryBudgetBytes bounds the memory of on-demand models; 0 means
	// unlimited.
	MemoryBudgetBytes int64 `json:"memory_budget_bytes"`
	// MemoryUsedBytes is the memory of the loaded models, by their
	// estimates.
	MemoryUsedBytes int64 `json:"memory_used_bytes"`
	// InflightRequests counts HTTP requests being served (this one
	// included).
	InflightRequests int64 `json:"inflight_requests"`
	// Models lists the loaded models, in configuration order.
	Models []ModelStatus `json:"models"`
	// Configured lists the id of every configured model, loaded or not.
	Configured []string `json:"configured"`
	// Default is the id of the default model; empty without models.
	Default string `json:"default"`
}

// ModelStatus describes one loaded model.
type ModelStatus struct {
	// ID is the model's canonical id.
	ID string `json:"id"`
	// Path is the model's file; empty when unknown.
	Path string `json:"path,omitempty"`
	// FileBytes is the size of Path.
	FileBytes int64 `json:"file_bytes"`
	// MemoryBytes is the memory the model holds by its estimate (weights
	// plus KV cache); 0 when unknown (a model the embedding program
	// loaded).
	MemoryBytes int64 `json:"memory_bytes"`
	// ContextLength is the context window in tokens.
	ContextLength int `json:"context_length"`
	// Slots is how many sequences the engine generates at once; 0 when the
	// generator does not say.
	Slots int `json:"slots,omitempty"`
	// ActiveRequests counts generations running now.
	ActiveRequests int `json:"active_requests"`
	// QueuedRequests counts generations waiting for an engine slot.
	QueuedRequests int `json:"queued_requests"`
	// TokensPerSecond is the generation rate over the last 10 s.
	TokensPerSecond float64 `json:"tokens_per_second"`
	// PrefixCacheHitRate is the share of prompt tokens served from the
	// prefix cache since the model was loaded, in [0, 1].
	PrefixCacheHitRate float64 `json:"prefix_cache_hit_rate"`
	// LoadedAt is when the model was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// LastUsedAt is when a request last took or let go of the model; zero
	// when none has yet.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// KeepAliveSeconds is the idle time after which the model is
	// unloaded; 0 keeps it loaded.
	KeepAliveSeconds float64 `json:"keep_alive_seconds"`
	// ExpiresAt is when the model will be unloaded if no request comes;
	// absent while it is busy or kept loaded.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// OnDemand tells whether the server loaded the model (and may unload
	// it), as opposed to the embedding program.
	OnDemand bool `json:"on_demand"`
}

// Status reports the server's state, as GET /api/status serves it.
func (s *Server) Status() Status {
	now := s.now()
	st := Status{Version: s.version, StartedAt: s.started, UptimeSeconds: now.Sub(s.started).Seconds(),
		MemoryBudgetBytes: max(s.cfg.MemoryBudget, 0), InflightRequests: s.inflightN.Load(),
		Models: []ModelStatus{}, Configured: []string{}}
	if s.models.fallback != nil {
		st.Default = s.models.fallback.spec.ID
	}
	for _, e := range s.models.entries {
		st.Configured = append(st.Configured, e.spec.ID)
		es := s.models.state(e)
		if es.cur == nil {
			continue
		}
		ms := s.modelStatus(e, es, now)
		st.MemoryUsedBytes += ms.MemoryBytes
		st.Models = append(st.Models, ms)
	}
	return st
}

// modelStatus describes the loaded model of e.
func (s *Server) modelStatus(e *entry, es entryState, now time.Time) ModelStatus {
	m := es.cur
	ms := ModelStatus{ID: e.spec.ID, Path: e.spec.Path, FileBytes: e.fileBytes, MemoryBytes: m.bytes,
		ContextLength: m.ContextLength, LoadedAt: m.loadedAt, LastUsedAt: es.lastUsed, OnDemand: !e.pinned,
		ActiveRequests: s.metrics.active.get(m.ID)}
	if !e.pinned {
		ms.KeepAliveSeconds = e.spec.KeepAlive.Seconds()
		if e.spec.KeepAlive > 0 && es.refs == 0 {
			at := es.lastUsed.Add(e.spec.KeepAlive)
			ms.ExpiresAt = &at
		}
	}
	if g, ok := m.Generator.(statser); ok {
		st := g.Stats()
		ms.Slots, ms.ActiveRequests, ms.QueuedRequests = st.Slots, st.Active, st.QueueDepth
		ms.TokensPerSecond = st.TokensPerSecond
		if st.PromptTokens > 0 {
			ms.PrefixCacheHitRate = float64(st.CachedTokens) / float64(st.PromptTokens)
		}
	}
	return ms
}

// status serves GET /api/status.
func (s *Server) status(c echo.Context) error {
	return writeJSON(c, http.StatusOK, s.Status())
}

// UnloadRequest is the body of POST /api/unload.
type UnloadRequest struct {
	// Model is the id or alias of the model to unload.
	Model string `json:"model"`
}

// UnloadResponse is the answer of POST /api/unload.
type UnloadResponse struct {
	// Model is the canonical id of the model.
	Model string `json:"model"`
	// Pending is true when requests still use the model: it is unloaded
	// when the last one ends. False means it is unloaded now (or was not
	// loaded).
	Pending bool `json:"pending"`
}

// unloadModel serves POST /api/unload {"model": "..."}: the on-demand
// model it names leaves memory (after its requests in flight, if any).
func (s *Server) unloadModel(c echo.Context) error {
	const op = "server.unload"
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var req UnloadRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return core.Errorf(core.KindInvalid, op, "invalid request body: %v", err)
	}
	if req.Model == "" {
		return core.Errorf(core.KindInvalid, op, "model: field required")
	}
	id, pending, err := s.models.unloadByName(req.Model)
	if err != nil {
		return err
	}
	setModel(c, id)
	return writeJSON(c, http.StatusOK, UnloadResponse{Model: id, Pending: pending})
}
