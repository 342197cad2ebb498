package claude

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/pensieve-llm/pensieve/core"
)

// ModelInfo is one entry of GET /v1/models and the body of GET
// /v1/models/{id} (§8).
type ModelInfo struct {
	ID             string
	DisplayName    string
	CreatedAt      time.Time // written in RFC 3339, UTC
	MaxInputTokens int       // context window; omitted when 0
	MaxTokens      int       // output cap; omitted when 0
}

// MarshalJSON writes the model with "type":"model" and an RFC 3339
// created_at.
func (m ModelInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type           string `json:"type"`
		ID             string `json:"id"`
		DisplayName    string `json:"display_name"`
		CreatedAt      string `json:"created_at"`
		MaxInputTokens int    `json:"max_input_tokens,omitempty"`
		MaxTokens      int    `json:"max_tokens,omitempty"`
	}{"model", m.ID, m.DisplayName, m.CreatedAt.UTC().Format(time.RFC3339), m.MaxInputTokens, m.MaxTokens})
}

// UnmarshalJSON reads a model object.
func (m *ModelInfo) UnmarshalJSON(b []byte) error {
	var w struct {
		Type           string    `json:"type"`
		ID             string    `json:"id"`
		DisplayName    string    `json:"display_name"`
		CreatedAt      time.Time `json:"created_at"`
		MaxInputTokens int       `json:"max_input_tokens"`
		MaxTokens      int       `json:"max_tokens"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type != "model" {
		return invalid("claude.ModelInfo", "type", "expected \"model\", got %q", w.Type)
	}
	*m = ModelInfo{ID: w.ID, DisplayName: w.DisplayName, CreatedAt: w.CreatedAt,
		MaxInputTokens: w.MaxInputTokens, MaxTokens: w.MaxTokens}
	return nil
}

// Page is one page of a cursor-paginated list (§8): models or batches.
// FirstID and LastID are the ids of the first and last items, null when
// Data is empty.
type Page[T any] struct {
	Data    []T     `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}

// PageQuery selects a page: Limit items after AfterID or before BeforeID.
type PageQuery struct {
	Limit    int    // 1–1000; 0 means the default, 20
	AfterID  string // the page starts right after this id
	BeforeID string // the page ends right before this id
}

// ParsePageQuery reads the limit, after_id and before_id query parameters
// (raw strings, "" when absent) and validates them (§8).
func ParsePageQuery(limit, afterID, beforeID string) (PageQuery, error) {
	const op = "claude.ParsePageQuery"
	q := PageQuery{Limit: 20, AfterID: afterID, BeforeID: beforeID}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil {
			return PageQuery{}, invalid(op, "limit", "Input should be a valid integer")
		}
		if n < 1 {
			return PageQuery{}, invalid(op, "limit", "Input should be greater than or equal to 1")
		}
		if n > 1000 {
			return PageQuery{}, invalid(op, "limit", "Input should be less than or equal to 1000")
		}
		q.Limit = n
	}
	if afterID != "" && beforeID != "" {
		return PageQuery{}, invalid(op, "", "after_id and before_id cannot both be set")
	}
	return q, nil
}

// Paginate returns the page of items (already in list order, newest
// first) that q selects; id returns an item's id. An AfterID or BeforeID
// that names no item is a KindNotFound error.
func Paginate[T any](items []T, id func(T) string, q PageQuery) (Page[T], error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	find := func(want string) int {
		for i, it := range items {
			if id(it) == want {
				return i
			}
		}
		return -1
	}
	lo, hi := 0, len(items)
	var more bool
	switch {
	case q.AfterID != "":
		at := find(q.AfterID)
		if at < 0 {
			return Page[T]{}, apiErr(core.KindNotFound, "claude.Paginate", "after_id", "no item with id %s", q.AfterID)
		}
		lo = at + 1
		hi = min(lo+limit, len(items))
		more = hi < len(items)
	case q.BeforeID != "":
		at := find(q.BeforeID)
		if at < 0 {
			return Page[T]{}, apiErr(core.KindNotFound, "claude.Paginate", "before_id", "no item with id %s", q.BeforeID)
		}
		hi = at
		lo = max(0, hi-limit)
		more = lo > 0
	default:
		hi = min(limit, len(items))
		more = hi < len(items)
	}
	p := Page[T]{Data: append([]T{}, items[lo:hi]...), HasMore: more}
	if len(p.Data) > 0 {
		first, last := id(p.Data[0]), id(p.Data[len(p.Data)-1])
		p.FirstID, p.LastID = &first, &last
	}
	return p, nil
}
