package server

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/core"
)

// modelInfo is the "model" object of GET /v1/models (spec §8).
type modelInfo struct {
	Type           string `json:"type"` // "model"
	ID             string `json:"id"`
	DisplayName    string `json:"display_name"`
	CreatedAt      string `json:"created_at"` // RFC 3339
	MaxInputTokens int    `json:"max_input_tokens"`
	MaxTokens      int    `json:"max_tokens"`
}

func infoOf(m *served, id string) modelInfo {
	return modelInfo{
		Type:           "model",
		ID:             id,
		DisplayName:    m.DisplayName,
		CreatedAt:      m.Created.UTC().Format(time.RFC3339),
		MaxInputTokens: m.ContextLength,
		MaxTokens:      m.MaxOutputTokens,
	}
}

// page is a cursor-paginated list (models and batches).
type page[T any] struct {
	Data    []T     `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"` // null when Data is empty
	LastID  *string `json:"last_id"`
}

// paginate cuts items (already in list order) per limit, after_id and
// before_id (spec §8): limit defaults to 20 and must be 1–1000; after_id
// starts after that id, before_id ends before it. An unknown cursor id gives
// an empty page.
func paginate[T any](c echo.Context, items []T, id func(T) string) (page[T], error) {
	limit := 20
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return page[T]{}, core.Errorf(core.KindInvalid, "server.paginate", "limit: must be an integer between 1 and 1000, got %q", v)
		}
		limit = n
	}
	after, before := c.QueryParam("after_id"), c.QueryParam("before_id")
	if after != "" && before != "" {
		return page[T]{}, core.Errorf(core.KindInvalid, "server.paginate", "after_id and before_id cannot both be set")
	}
	at := func(cursor string) int { return slices.IndexFunc(items, func(it T) bool { return id(it) == cursor }) }
	var sel []T
	hasMore := false
	switch {
	case after != "":
		i := at(after)
		if i >= 0 {
			sel = items[i+1:]
		}
		hasMore = len(sel) > limit
		sel = sel[:min(limit, len(sel))]
	case before != "":
		i := at(before)
		if i > 0 {
			sel = items[:i]
		}
		hasMore = len(sel) > limit
		sel = sel[max(0, len(sel)-limit):]
	default:
		hasMore = len(items) > limit
		sel = items[:min(limit, len(items))]
	}
	p := page[T]{Data: slices.Clone(sel), HasMore: hasMore}
	if p.Data == nil {
		p.Data = []T{}
	}
	if len(sel) > 0 {
		first, last := id(sel[0]), id(sel[len(sel)-1])
		p.FirstID, p.LastID = &first, &last
	}
	return p, nil
}

// listModels serves GET /v1/models: every model, then every alias as an
// entry of its own so clients can discover the names (spec §11).
func (s *Server) listModels(c echo.Context) error {
	var items []modelInfo
	for _, m := range s.models.models {
		items = append(items, infoOf(m, m.ID))
	}
	for _, m := range s.models.models {
		for _, a := range m.Aliases {
			items = append(items, infoOf(m, a))
		}
	}
	p, err := paginate(c, items, func(m modelInfo) string { return m.ID })
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
