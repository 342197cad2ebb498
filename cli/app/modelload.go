package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/config"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/model/transformer"
	"github.com/pensieve-llm/pensieve/server"
)

// modelLoader opens the models `serve` loads on demand: the file with
// model.Open on the shared backend, and an engine over it.
type modelLoader struct {
	backend core.Backend            // shared by every model; the stack closes it
	engine  config.Engine           // engine settings for every model
	models  map[string]config.Model // by id: each model's own settings
	log     *zap.Logger
}

func newModelLoader(cfg config.Config, be core.Backend, log *zap.Logger) *modelLoader {
	l := &modelLoader{backend: be, engine: cfg.Engine, models: map[string]config.Model{}, log: log}
	for _, mc := range cfg.Models {
		l.models[mc.ID] = mc
	}
	return l
}

// servedModels describes the configured models to the server: on demand,
// each with its keep-alive (its own, else server.keep_alive) and the
// context length it is known to have before loading, if any.
func servedModels(cfg config.Config) []server.Model {
	out := make([]server.Model, 0, len(cfg.Models))
	for _, mc := range cfg.Models {
		keep := mc.KeepAlive
		if keep == 0 {
			keep = cfg.Server.KeepAlive
		}
		ctxLen := mc.ContextLength
		if ctxLen == 0 {
			ctxLen = cfg.Engine.Context
		}
		out = append(out, server.Model{ID: mc.ID, DisplayName: mc.Name, Aliases: mc.Aliases, Path: mc.Path,
			KeepAlive: keep, ContextLength: ctxLen, MaxOutputTokens: mc.MaxOutputTokens})
	}
	return out
}

// load is the server's Loader.
func (l *modelLoader) load(ctx context.Context, m server.Model) (*server.Loaded, error) {
	start := time.Now()
	lm, err := openModel(m.Path, l.backend, l.log.Named("model"))
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, errors.Join(core.E(core.KindCanceled, "serve.load", err), lm.Close())
	}
	eng, err := engine.New(lm.Model, lm.Tokenizer, engineOptions(l.engine, l.models[m.ID], l.log)...)
	if err != nil {
		return nil, errors.Join(err, lm.Close())
	}
	st, info := eng.Stats(), lm.Model.Info()
	kv := kvBytes(lm.Model, st.Slots, st.Context)
	l.log.Info("model opened", zap.String("id", m.ID), zap.String("path", m.Path), zap.String("arch", info.Arch),
		zap.String("device", lm.Device), zap.Int("context", st.Context), zap.Int64("kv_bytes", kv),
		zap.Duration("load", time.Since(start)))
	return &server.Loaded{
		Generator: eng, Tokenizer: lm.Tokenizer, Template: lm.Template, ContextLength: st.Context,
		Bytes: info.FileBytes + kv,
		Close: func(ctx context.Context) error {
			// The engine first: it uses the model until it has stopped.
			err := eng.Close(ctx)
			if cerr := lm.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("closing %s: %w", m.Path, cerr))
			}
			return err
		},
	}, nil
}

// kvBytes is the size of the KV cache an engine of slots × positions
// allocates for m: F16 keys and values for every layer. Models of other
// kinds report 0 (their cache is not counted).
func kvBytes(m core.Model, slots, positions int) int64 {
	tm, ok := m.(interface{ Config() transformer.Config })
	if !ok {
		return 0
	}
	c := tm.Config()
	return 2 * 2 * int64(c.Layers) * int64(slots) * int64(positions) * int64(c.KVDim())
}
