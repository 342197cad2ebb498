package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

func infoOf(m *served, id string) claude.ModelInfo {
	return claude.ModelInfo{ID: id, DisplayName: m.DisplayName, CreatedAt: m.Created,
		MaxInputTokens: m.ContextLength, MaxTokens: m.MaxOutputTokens}
}

// listModels serves GET /v1/models: every model, then every alias as an
// entry of its own so clients can discover the names (spec §11).
func (s *Server) listModels(c echo.Context) error {
	q, err := claude.ParsePageQuery(c.QueryParam("limit"), c.QueryParam("after_id"), c.QueryParam("before_id"))
	if err != nil {
		return err
	}
	var items []claude.ModelInfo
	for _, m := range s.models.models {
		items = append(items, infoOf(m, m.ID))
	}
	for _, m := range s.models.models {
		for _, a := range m.Aliases {
			items = append(items, infoOf(m, a))
		}
	}
	p, err := claude.Paginate(items, func(m claude.ModelInfo) string { return m.ID }, q)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, p)
}

// getModel serves GET /v1/models/{id}: the model an id or alias names, under
// its canonical id.
func (s *Server) getModel(c echo.Context) error {
	m, err := s.models.resolve(c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, infoOf(m, m.ID))
}

// health serves GET /health: the process is up.
func (s *Server) health(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

// ready serves GET /ready: 200 while the server takes requests and has a
// model, 503 otherwise (e.g. during shutdown), so load balancers drain it.
func (s *Server) ready(c echo.Context) error {
	switch {
	case s.closing.Load():
		return core.Errorf(core.KindUnavailable, "server.ready", "shutting down")
	case len(s.models.models) == 0:
		return core.Errorf(core.KindUnavailable, "server.ready", "no model is loaded")
	}
	return writeJSON(c, http.StatusOK, map[string]any{"status": "ready", "models": len(s.models.models)})
}
