package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
)

// Config holds the server's settings as plain values. For every field the
// zero value selects the documented default, so Config{} is a usable
// configuration; durations that may be disabled take a negative value.
type Config struct {
	// Addr is the listen address of ListenAndServe; default "127.0.0.1:8080".
	Addr string
	// APIKeys are the accepted keys, sent as x-api-key or Authorization:
	// Bearer. None means every request is accepted.
	APIKeys []string
	// BodyLimit bounds request bodies in bytes (413 request_too_large);
	// default 32 MiB.
	BodyLimit int64
	// BatchBodyLimit bounds Message Batches create bodies; default 256 MiB.
	BatchBodyLimit int64
	// RateLimit is the sustained number of requests per second one client
	// (API key, or IP address on an open server) may make; 0 is unlimited.
	RateLimit float64
	// RateBurst is how many requests a client may make at once; default
	// max(1, ceil(RateLimit)).
	RateBurst int
	// ImageURLs is the policy for image blocks whose source is a URL; the
	// zero value refuses them (400) without dialling anything.
	ImageURLs ImageURLs
	// LogPrompts logs, at info level with the request id, the rendered
	// prompt of every generation request and the generated text when it
	// ends. The zero value never lets prompts or completions reach the
	// logs. API keys are never logged either way.
	LogPrompts bool
	// MaxConcurrentPerKey bounds the generation requests (POST
	// /v1/messages, POST /v1/chat/completions and each request sent on a
	// /v1/messages/ws socket) one client — API key, or IP address on an
	// open server — may have in flight, streams counted until they end or
	// the client hangs up; more get 429 rate_limit_error. 0 is unlimited.
	MaxConcurrentPerKey int
	// ReadHeaderTimeout bounds reading the request headers; default 10 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included; default
	// 5 min; negative disables. It does not cut generations: net/http
	// lifts the read deadline once the body is consumed.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write: the response start, and every SSE
	// event; default 2 min; negative disables. Long streams are not cut.
	WriteTimeout time.Duration
	// IdleTimeout bounds keep-alive idleness; default 2 min.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long ListenAndServe lets streams in flight
	// finish once its context ends; default 30 s.
	ShutdownTimeout time.Duration
	// PingInterval is the idle time after which a stream gets a ping event
	// (spec §6.5 asks for at most 15 s); default 10 s.
	PingInterval time.Duration
	// OpenMetrics serves GET /metrics without an API key even when APIKeys
	// are set. The zero value protects /metrics like the API.
	OpenMetrics bool

	// CORSOrigins enables CORS for these origins ("*" for any); none means
	// CORS stays off.
	CORSOrigins []string
	// DefaultModel is the id that "claude-*" names resolve to; empty means
	// the first model.
	DefaultModel string
	// DisableClaudeAliases turns off mapping "claude-*" names to the
	// default model; such names then get 404 like any unknown model.
	DisableClaudeAliases bool
	// BatchConcurrency is how many batch requests run at once; default 1.
	BatchConcurrency int
	// MemoryBudget bounds, in bytes, the memory of on-demand models loaded
	// at once (each counts its Loaded.Bytes): to load another, idle models
	// are unloaded, least recently used first. Zero means three quarters
	// of the machine's physical memory (unlimited where that is unknown);
	// negative means unlimited.
	MemoryBudget int64
}

// Defaults.
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultBodyLimit      = 32 << 20
	DefaultBatchBodyLimit = 256 << 20
)

func (c Config) withDefaults() Config {
	orDur := func(d *time.Duration, def time.Duration) {
		switch {
		case *d == 0:
			*d = def
		case *d < 0:
			*d = 0 // disabled: net/http's zero means no timeout
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.BodyLimit <= 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.BatchBodyLimit <= 0 {
		c.BatchBodyLimit = DefaultBatchBodyLimit
	}
	if c.RateBurst <= 0 {
		c.RateBurst = max(1, int(c.RateLimit+0.999999))
	}
	orDur(&c.ReadHeaderTimeout, 10*time.Second)
	orDur(&c.ReadTimeout, 5*time.Minute)
	orDur(&c.WriteTimeout, 2*time.Minute)
	orDur(&c.IdleTimeout, 2*time.Minute)
	orDur(&c.ShutdownTimeout, 30*time.Second)
	orDur(&c.PingInterval, 10*time.Second)
	if c.ImageURLs.MaxBytes <= 0 {
		c.ImageURLs.MaxBytes = DefaultImageURLMaxBytes
	}
	if c.ImageURLs.Timeout <= 0 {
		c.ImageURLs.Timeout = DefaultImageURLTimeout
	}
	if c.BatchConcurrency <= 0 {
		c.BatchConcurrency = 1
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = defaultMemoryBudget()
	}
	return c
}

// Option configures a Server.
type Option func(*options)

type options struct {
	log     *zap.Logger
	now     func() time.Time
	loader  Loader
	version string
}

// WithLogger sets the logger for access logs and failures; the default
// discards everything.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock replaces time.Now for timestamps, rate limits and batch expiry
// (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLoader lets the server load on-demand models (those given to New
// without their pieces) with l; see Model.
func WithLoader(l Loader) Option { return func(o *options) { o.loader = l } }

// WithVersion sets the version GET /api/status reports; default "dev".
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// Server serves the Anthropic Messages API (and its neighbours) for a set of
// models. Build it with New; it is safe for concurrent use. Serve or
// ListenAndServe run it; Handler exposes it for tests and embedding;
// Shutdown stops it.
type Server struct {
	cfg     Config
	log     *zap.Logger
	now     func() time.Time
	e       *echo.Echo
	models  *registry
	version string
	started time.Time
	keys    []keyDigest
	limiter *limiter      // nil without RateLimit
	slots   *slots        // nil without MaxConcurrentPerKey
	images  *imageFetcher // nil unless ImageURLs.Fetch
	metrics *serverMetrics

	inflight  sync.WaitGroup // requests inside the handler chain
	relays    sync.WaitGroup // event relays of generations (see generate)
	inflightN atomic.Int64   // their number, for /metrics
	closing   atomic.Bool    // set by Shutdown: /ready fails

	drainOnce sync.Once     // closes draining
	draining  chan struct{} // closed when Shutdown begins: idle WebSockets close
	abortOnce sync.Once     // closes aborting
	aborting  chan struct{} // closed when Shutdown's grace ends: WebSocket generations stop

	mu   sync.Mutex   // guards http
	http *http.Server // set by Serve

	batches *batchStore
	batchWG sync.WaitGroup // the batch workers

	batchMu     sync.Mutex         // guards the fields below; they are set once, when workers start
	batchClosed bool               // Shutdown began: no new batches
	batchTake   context.Context    // ends when workers must stop taking requests
	stopTaking  context.CancelFunc // ends batchTake
	batchRun    context.Context    // parent of every batch request's context
	cancelRuns  context.CancelFunc // ends batchRun: requests in hand stop
}

// New builds a Server for models (see Model for what each needs).
func New(cfg Config, models []Model, opts ...Option) (*Server, error) {
	o := options{log: zap.NewNop(), now: time.Now, version: "dev"}
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.withDefaults()
	reg, err := newRegistry(models, registryConfig{defaultID: cfg.DefaultModel, claudeAliases: !cfg.DisableClaudeAliases,
		loader: o.loader, budget: cfg.MemoryBudget, now: o.now, log: o.log.Named("models")})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: o.log, now: o.now, models: reg, version: o.version, started: o.now(),
		batches: newBatchStore(o.now), draining: make(chan struct{}), aborting: make(chan struct{})}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, core.Errorf(core.KindInvalid, "server.New", "empty API key")
		}
		s.keys = append(s.keys, keyDigest(sha256.Sum256([]byte(k))))
	}
	if cfg.RateLimit > 0 {
		s.limiter = newLimiter(cfg.RateLimit, cfg.RateBurst, o.now)
	}
	if s.metrics, err = newServerMetrics(s); err != nil {
		return nil, err
	}
	if cfg.ImageURLs.Fetch {
		s.images = newImageFetcher(cfg.ImageURLs)
	}
	if cfg.MaxConcurrentPerKey > 0 {
		s.slots = newSlots(cfg.MaxConcurrentPerKey, func() { s.metrics.rejected.Inc("concurrency") })
	}
	reg.hooks = registryHooks{
		loaded:   func(id string, _ time.Duration) { s.metrics.loads.Inc(id) },
		unloaded: func(id, reason string) { s.metrics.unloads.Inc(id, reason) },
	}
	s.e = s.routes()
	return s, nil
}

// routes builds the echo instance. Middleware order, outermost first:
// request id, access log and error rendering; panic recovery; deadlines;
// CORS when configured; then per group: authentication, rate limit, the
// anthropic headers and the body limit.
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// The client address is the connection's peer: X-Forwarded-For and
	// X-Real-IP are the client's to forge, and per-address limits must
	// not be escapable by a header.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(s.observe, s.recoverPanics, s.deadlines)
	if len(s.cfg.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  s.cfg.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions},
			ExposeHeaders: []string{"request-id", "retry-after", "retry-after-ms"},
		}))
	}
	e.RouteNotFound("/*", notFound)

	e.GET("/health", s.health)
	e.GET("/ready", s.ready)
	if s.cfg.OpenMetrics {
		e.GET("/metrics", s.serveMetrics)
	} else {
		e.GET("/metrics", s.serveMetrics, s.authenticate)
	}

	api := e.Group("/v1", s.authenticate, s.rateLimit)
	api.RouteNotFound("/*", notFound)
	api.POST("/chat/completions", s.chatCompletions, s.limitConcurrency, limitBody(s.cfg.BodyLimit))
	anthropic := api.Group("", anthropicHeaders)
	anthropic.POST("/messages", s.createMessage, s.limitConcurrency, limitBody(s.cfg.BodyLimit))
	anthropic.GET("/messages/ws", s.messagesWebSocket)
	anthropic.POST("/messages/count_tokens", s.countTokens, limitBody(s.cfg.BodyLimit))
	anthropic.GET("/models", s.listModels)
	anthropic.GET("/models/:id", s.getModel)
	anthropic.POST("/messages/batches", s.createBatch, limitBody(s.cfg.BatchBodyLimit))
	anthropic.GET("/messages/batches", s.listBatches)
	anthropic.GET("/messages/batches/:id", s.getBatch)
	anthropic.POST("/messages/batches/:id/cancel", s.cancelBatch)
	anthropic.GET("/messages/batches/:id/results", s.batchResults)
	anthropic.DELETE("/messages/batches/:id", s.deleteBatch)

	ops := e.Group("/api", s.authenticate, s.rateLimit)
	ops.RouteNotFound("/*", notFound)
	ops.GET("/status", s.status)
	ops.POST("/unload", s.unloadModel, limitBody(s.cfg.BodyLimit))
	return e
}

// Load loads the model name resolves to, if it is an on-demand model not
// loaded yet, and returns when it is ready (e.g. to load the default model
// at startup). Its keep-alive counts from now.
func (s *Server) Load(ctx context.Context, name string) error {
	m, err := s.models.acquire(ctx, name)
	if err != nil {
		return err
	}
	s.models.release(m)
	return nil
}

// Handler returns the server's HTTP handler, e.g. for httptest.NewServer.
func (s *Server) Handler() http.Handler { return s.e }

// ListenAndServe listens on Config.Addr and serves until ctx ends, then
// shuts down gracefully within Config.ShutdownTimeout. It returns nil after
// a clean shutdown.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return core.Errorf(core.KindUnavailable, "server.ListenAndServe", "listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends or Shutdown is called. When ctx ends it
// shuts down gracefully within Config.ShutdownTimeout. It returns nil after
// a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	s.mu.Lock()
	if s.http != nil || s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return core.Errorf(core.KindInvalid, "server.Serve", "server already started or shut down")
	}
	s.http = hs
	s.mu.Unlock()

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("serving", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil // Shutdown was called; it reports its own outcome
		}
		return core.Errorf(core.KindUnavailable, "server.Serve", "serving: %w", err)
	case <-ctx.Done():
	}
	// ctx ended: a graceful shutdown with a fresh deadline, since ctx itself
	// is already done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.Shutdown(sctx)
	<-served
	return err
}

// Shutdown stops the server gracefully: /ready starts failing, listeners
// close, and requests in flight — streams included — may finish until ctx
// ends. Then remaining connections are closed, which cancels their
// generations, and Shutdown waits for their handlers to return. It returns
// ctx's error when it had to cut requests short. WebSocket connections
// close once their generation in flight has ended (or ctx has). Last, the
// on-demand models are unloaded. A server run through Handler by another
// http.Server must have that server stopped first, so no request arrives
// while Shutdown waits.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.drainOnce.Do(func() { close(s.draining) })
	// WebSocket connections are hijacked: http.Server.Shutdown neither
	// waits for nor closes them. Their generations stop when ctx ends.
	stopAbort := context.AfterFunc(ctx, func() { s.abortOnce.Do(func() { close(s.aborting) }) })
	defer stopAbort()
	s.mu.Lock()
	hs := s.http
	s.mu.Unlock()
	var err error
	if hs != nil {
		if err = hs.Shutdown(ctx); err != nil {
			s.log.Warn("shutdown deadline reached, closing connections", zap.Error(err))
			hs.Close()
		}
	}
	// Handlers whose connections were closed see their context canceled and
	// return within one engine step.
	s.inflight.Wait()
	err = errors.Join(err, s.stopBatches(ctx))
	s.relays.Wait() // every generation's context has ended by now
	return errors.Join(err, s.models.close(ctx))
}
