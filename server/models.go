package server

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// listedModel is one entry of GET /v1/models: the Anthropic model object
// plus a "pensieve" extension object that clients of the upstream API
// ignore.
type listedModel struct {
	info claude.ModelInfo
	ext  ModelExtension
}

// ModelExtension is the "pensieve" object of each GET /v1/models entry.
type ModelExtension struct {
	// Loaded tells whether the model is in memory now; an on-demand model
	// that is not loads on its next request.
	Loaded bool `json:"loaded"`
	// ContextLength is the model's context window in tokens; omitted while
	// unknown (an on-demand model not loaded yet and not configured).
	ContextLength int `json:"context_length,omitempty"`
	// Default marks the model "claude-*" names resolve to.
	Default bool `json:"default,omitempty"`
	// AliasOf names the model an alias entry stands for.
	AliasOf string `json:"alias_of,omitempty"`
}

// MarshalJSON writes the model object with the extension as its last
// member.
func (m listedModel) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(m.info)
	if err != nil {
		return nil, err
	}
	ext, err := json.Marshal(m.ext)
	if err != nil {
		return nil, err
	}
	b = append(b[:len(b)-1], `,"pensieve":`...) // b is an object: drop its '}'
	return append(append(b, ext...), '}'), nil
}

// listing describes e under the name id (its own, or an alias).
func (s *Server) listing(e *entry, id string) listedModel {
	st := s.models.state(e)
	ext := ModelExtension{Loaded: st.cur != nil, ContextLength: st.contextLen, Default: e == s.models.fallback}
	if id != e.spec.ID {
		ext.AliasOf = e.spec.ID
	}
	return listedModel{ext: ext, info: claude.ModelInfo{ID: id, DisplayName: e.spec.DisplayName,
		CreatedAt: e.spec.Created, MaxInputTokens: st.contextLen, MaxTokens: st.maxOutput}}
}

// listModels serves GET /v1/models: every configured model, loaded or not,
// then every alias as an entry of its own so clients can discover the
// names (spec §11).
func (s *Server) listModels(c echo.Context) error {
	q, err := claude.ParsePageQuery(c.QueryParam("limit"), c.QueryParam("after_id"), c.QueryParam("before_id"))
	if err != nil {
		return err
	}
	var items []listedModel
	for _, e := range s.models.entries {
		items = append(items, s.listing(e, e.spec.ID))
	}
	for _, e := range s.models.entries {
		for _, a := range e.spec.Aliases {
			items = append(items, s.listing(e, a))
		}
	}
	p, err := claude.Paginate(items, func(m listedModel) string { return m.info.ID }, q)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, p)
}

// getModel serves GET /v1/models/{id}: the model an id or alias names, under
// its canonical id. It does not load the model.
func (s *Server) getModel(c echo.Context) error {
	e, err := s.models.resolve(c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, s.listing(e, e.spec.ID))
}

// health serves GET /health: the process is up.
func (s *Server) health(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

// ready serves GET /ready: 200 while the server takes requests and has a
// model (loaded or on demand), 503 otherwise (e.g. during shutdown), so
// load balancers drain it.
func (s *Server) ready(c echo.Context) error {
	switch {
	case s.closing.Load():
		return core.Errorf(core.KindUnavailable, "server.ready", "shutting down")
	case len(s.models.entries) == 0:
		return core.Errorf(core.KindUnavailable, "server.ready", "no model is configured")
	}
	return writeJSON(c, http.StatusOK, map[string]any{"status": "ready", "models": len(s.models.entries)})
}
