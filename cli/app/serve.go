package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/config"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/server"
)

func init() { register(serveCommand) }

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve models over the Anthropic Messages API",
		Description: "Loads the configuration (defaults < file < profile < PENSIEVE_* environment < flags), loads\n" +
			"   the default model and serves until SIGINT or SIGTERM; then requests in flight may finish\n" +
			"   (server.shutdown_timeout) and the process exits 0. The other models load when a request first\n" +
			"   names them, each with an engine of its own; a model idle for its keep_alive (--keep-alive) is\n" +
			"   unloaded, as is the least recently used idle one when another needs room (--memory-budget).\n" +
			"   `pensieve-cli ps` shows what is loaded; `pensieve-cli stop MODEL` unloads one.\n\n" +
			"   pensieve-cli serve --model qwen2.5-0.5b-instruct-q8_0.gguf --addr 127.0.0.1:8080\n" +
			"   ANTHROPIC_BASE_URL=http://127.0.0.1:8080 ANTHROPIC_API_KEY=any claude",
		Flags:        serverFlags(),
		OnUsageError: onUsageError,
		Action:       serveAction,
	}
}

func serveAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return UsageErrorf("serve: unexpected arguments %q", c.Args().Slice())
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	fixFlagModelPaths(c, &cfg)
	if len(cfg.Models) == 0 {
		return UsageErrorf("serve: no model to serve: pass --model FILE or list models in the configuration")
	}
	log, level, err := newLogger(cfg.Log, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer log.Sync()

	// Listen before loading models, so a busy port fails at once.
	var lc net.ListenConfig
	ln, err := lc.Listen(c.Context, "tcp", cfg.Server.Addr)
	if err != nil {
		return listenError(cfg.Server.Addr, err)
	}
	defer ln.Close() // after Serve returns it is closed already; this covers failures before

	st, err := startStack(c.Context, cfg, log)
	if err != nil {
		return err
	}
	defer st.close(cfg.Server.ShutdownTimeout, log)

	if cfg.Source.File != "" {
		w := watchConfig(c, cfg, log, level, nil)
		defer w.Close()
	}
	log.Info("listening", zap.String("url", "http://"+ln.Addr().String()), zap.Int("models", len(cfg.Models)))
	if err := st.srv.Serve(c.Context, ln); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// fixFlagModelPaths keeps `serve --model ./x.gguf` relative to the current
// directory: the configuration resolves relative model paths against the
// models directory, which suits the configuration file but not a file the
// user just named on the command line. A flag path that exists as given
// wins.
func fixFlagModelPaths(c *cli.Context, cfg *config.Config) {
	cc := setIn(c, "model")
	if cc == nil {
		return
	}
	for i, p := range cc.StringSlice("model") {
		if i >= len(cfg.Models) || filepath.IsAbs(p) {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				cfg.Models[i].Path = abs
			}
		}
	}
}

// listenError explains a failed listen, with a hint for the common causes.
func listenError(addr string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = " — another process is using this port; stop it or choose another with --addr HOST:PORT"
	case errors.Is(err, syscall.EACCES):
		hint = " — ports below 1024 need privileges; choose another with --addr HOST:PORT"
	}
	return core.Errorf(core.KindUnavailable, "serve", "cannot listen on %s: %w%s", addr, err, hint)
}

// stack is what serve runs: a shared compute backend and the HTTP server,
// which loads the configured models on demand (modelLoader), each with an
// engine of its own.
type stack struct {
	backend core.Backend
	srv     *server.Server
}

// startStack builds the server over the configured models and loads the
// default one, so a broken file fails at once. On error everything opened
// so far is closed.
func startStack(ctx context.Context, cfg config.Config, log *zap.Logger) (st *stack, err error) {
	dev, err := resolveDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	be, err := openBackend(dev, cfg.Engine.Threads)
	if err != nil {
		return nil, err
	}
	st = &stack{backend: be}
	defer func() {
		if err != nil {
			st.close(time.Second, log)
			st = nil
		}
	}()
	def, _ := cfg.DefaultModel()
	st.srv, err = server.New(serverConfig(cfg, def.ID), servedModels(cfg), server.WithLogger(log.Named("server")),
		server.WithLoader(newModelLoader(cfg, be, log).load), server.WithVersion(Version))
	if err != nil {
		return st, err
	}
	if err := st.srv.Load(ctx, def.ID); err != nil {
		return st, err // it names the model
	}
	return st, nil
}

// close shuts the server down, which unloads the models and stops their
// engines, letting generations still running finish within timeout (a
// no-op when Serve has shut it down already), then closes the backend.
func (st *stack) close(timeout time.Duration, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), max(timeout, time.Second))
	defer cancel()
	if st.srv != nil {
		if err := st.srv.Shutdown(ctx); err != nil {
			log.Warn("models did not unload in time", zap.Error(err))
		}
	}
	if err := st.backend.Close(); err != nil {
		log.Warn("closing the compute backend", zap.Error(err))
	}
}

// engineOptions maps the engine configuration, and a model's own context
// cap, to engine options. engine.max_queue 0 ("none wait") becomes a queue
// of one, the engine's minimum.
func engineOptions(ec config.Engine, mc config.Model, log *zap.Logger) []engine.Option {
	opts := []engine.Option{engine.WithLogger(log.Named("engine").With(zap.String("model", mc.ID)))}
	if ec.Slots > 0 {
		opts = append(opts, engine.WithSlots(ec.Slots))
	}
	opts = append(opts, engine.WithMaxQueue(max(1, ec.MaxQueue)))
	if ec.BatchSize > 0 {
		opts = append(opts, engine.WithBatchSize(ec.BatchSize))
	}
	switch {
	case mc.ContextLength > 0:
		opts = append(opts, engine.WithContext(mc.ContextLength))
	case ec.Context > 0:
		opts = append(opts, engine.WithContext(ec.Context))
	}
	return opts
}

// serverConfig maps the configuration to the server's settings. The
// configuration's 0 ("no limit") for timeouts is the server's negative
// value; requests per minute become the server's per-second rate.
func serverConfig(cfg config.Config, defaultModel string) server.Config {
	s := cfg.Server
	noLimit := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	burst := s.RateLimit.Burst
	if burst == 0 {
		burst = s.RateLimit.RequestsPerMinute // the configuration's documented default
	}
	return server.Config{
		Addr:                s.Addr,
		APIKeys:             s.APIKeys,
		BodyLimit:           int64(s.BodyLimit),
		RateLimit:           float64(s.RateLimit.RequestsPerMinute) / 60,
		RateBurst:           burst,
		MaxConcurrentPerKey: s.MaxConcurrentPerKey,
		LogPrompts:          s.LogPrompts,
		ImageURLs: server.ImageURLs{Fetch: s.ImageURLs.Fetch, MaxBytes: int64(s.ImageURLs.MaxBytes),
			Timeout: s.ImageURLs.Timeout},
		ReadTimeout:          noLimit(s.ReadTimeout),
		WriteTimeout:         noLimit(s.WriteTimeout),
		IdleTimeout:          noLimit(s.IdleTimeout),
		ShutdownTimeout:      s.ShutdownTimeout,
		CORSOrigins:          s.CORSOrigins,
		OpenMetrics:          !s.MetricsAuth,
		DefaultModel:         defaultModel,
		DisableClaudeAliases: !s.ClaudeAliasDefault,
		MemoryBudget:         int64(s.MemoryBudget),
	}
}
