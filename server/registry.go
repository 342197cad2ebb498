package server

import (
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// Model is one served model: what clients call it and the pieces that run
// it. The server does not own these pieces; whoever built them closes them
// after Shutdown returns.
type Model struct {
	// ID is the model's canonical name, returned in responses; required.
	ID string
	// DisplayName is shown by GET /v1/models; empty means ID.
	DisplayName string
	// Aliases are other names that resolve to this model.
	Aliases []string
	// Generator runs generations (the engine); required.
	Generator core.Generator
	// Tokenizer tokenizes prompts and counts tokens; required.
	Tokenizer core.Tokenizer
	// Template renders conversations into prompts; required.
	Template core.ChatTemplate
	// ContextLength is the number of positions one sequence may use in the
	// Generator: prompt plus generated tokens. Zero means the generator's
	// own figure when it reports engine.Stats (its Context), which is what
	// an engine allows per KV slot; otherwise it is required.
	ContextLength int
	// MaxOutputTokens caps max_tokens; zero means ContextLength.
	MaxOutputTokens int
	// Created is reported as created_at; zero means the time New ran.
	Created time.Time
}

// served is a Model with its Messages profile.
type served struct {
	Model
	profile *claude.Profile
}

// registry resolves model names. It is immutable after newRegistry.
type registry struct {
	models    []*served          // configuration order
	byName    map[string]*served // ids and aliases
	fallback  *served            // target of "claude-*" names
	claudeMap bool
}

// newRegistry validates models: each needs an ID, its pieces and a context
// length, and no name may be used twice. The default model is defaultID, or
// the first model when defaultID is empty.
func newRegistry(models []Model, defaultID string, claudeAliases bool, now time.Time, log *zap.Logger) (*registry, error) {
	r := &registry{byName: map[string]*served{}, claudeMap: claudeAliases}
	for i := range models {
		m := &served{Model: models[i]} // a copy: the caller keeps its slice
		if st, ok := m.Generator.(statser); ok && m.ContextLength == 0 {
			m.ContextLength = st.Stats().Context
		}
		if err := checkModel(&m.Model); err != nil {
			return nil, err
		}
		if m.DisplayName == "" {
			m.DisplayName = m.ID
		}
		if m.MaxOutputTokens <= 0 || m.MaxOutputTokens > m.ContextLength {
			m.MaxOutputTokens = m.ContextLength
		}
		if m.Created.IsZero() {
			m.Created = now
		}
		prof, err := claude.NewProfile(claude.ModelSpec{ID: m.ID, Template: m.Template, Tokenizer: m.Tokenizer,
			ContextLength: m.ContextLength, MaxOutputTokens: m.MaxOutputTokens},
			claude.WithLogger(log.With(zap.String("model", m.ID))))
		if err != nil {
			return nil, err
		}
		m.profile = prof
		for _, name := range append([]string{m.ID}, m.Aliases...) {
			if _, dup := r.byName[name]; dup {
				return nil, core.Errorf(core.KindInvalid, "server.New", "model name %q is used twice", name)
			}
			r.byName[name] = m
		}
		r.models = append(r.models, m)
	}
	if len(r.models) == 0 {
		return r, nil
	}
	r.fallback = r.models[0]
	if defaultID != "" {
		m, ok := r.byName[defaultID]
		if !ok {
			return nil, core.Errorf(core.KindInvalid, "server.New", "default model %q is not served", defaultID)
		}
		r.fallback = m
	}
	return r, nil
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

// resolve returns the model a request names: an id or alias, else — for
// names starting with "claude-" unless disabled — the default model (Claude
// Code asks for several claude-* ids, spec §11). Anything else is 404
// not_found_error with the upstream wording "model: <id>" (spec §7.3).
func (r *registry) resolve(name string) (*served, error) {
	if m, ok := r.byName[name]; ok {
		return m, nil
	}
	if r.claudeMap && r.fallback != nil && strings.HasPrefix(name, "claude-") {
		return r.fallback, nil
	}
	return nil, core.Errorf(core.KindNotFound, "server.resolve", "model: %s", name)
}
