package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
)

// Proxy is an Anthropic-compatible gateway: it authenticates and rate-limits
// clients, routes each request by model to an upstream group, balances and
// fails over among the group, and translates for OpenAI-kind upstreams.
//
// Configure a Proxy before serving; its methods are then safe for
// concurrent use.
type Proxy struct {
	cfg    Config
	log    *zap.Logger
	pool   *pool
	lim    *limiter
	m      *metrics
	client *http.Client
	keys   [][]byte
}

// Option configures a Proxy.
type Option func(*Proxy)

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *zap.Logger) Option { return func(p *Proxy) { p.log = l } }

// WithHTTPClient sets the client used to reach upstreams.
func WithHTTPClient(c *http.Client) Option { return func(p *Proxy) { p.client = c } }

// New returns a proxy for a validated configuration (see LoadConfig).
func New(cfg Config, opts ...Option) (*Proxy, error) {
	if err := cfg.finish(); err != nil {
		return nil, core.E(core.KindInvalid, "proxy.New", err)
	}
	p := &Proxy{cfg: cfg, log: zap.NewNop(), pool: newPool(&cfg), lim: newLimiter(cfg.RateLimit), m: newMetrics(),
		client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 10 * time.Minute}}}
	for _, k := range cfg.Keys {
		p.keys = append(p.keys, []byte(k))
	}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Handler returns the proxy's HTTP handler.
func (p *Proxy) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		p.m.write(w)
	})
	mux.HandleFunc("POST /v1/messages", p.handleAPI)
	mux.HandleFunc("POST /v1/messages/count_tokens", p.handleAPI)
	mux.HandleFunc("GET /v1/models", p.handleAPI)
	mux.HandleFunc("GET /v1/models/{id}", p.handleAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, core.Errorf(core.KindNotFound, "proxy", "%s %s: no such route", r.Method, r.URL.Path))
	})
	return p.withRequestID(mux)
}

// Run serves on the configured address until ctx ends, then shuts down
// gracefully: it stops accepting and lets requests in flight finish for up
// to Config.Shutdown.
func (p *Proxy) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", p.cfg.Addr)
	if err != nil {
		return core.Errorf(core.KindUnavailable, "proxy.Run", "listen on %s: %w", p.cfg.Addr, err)
	}
	return p.Serve(ctx, ln)
}

// Serve is Run on an existing listener, which it closes.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 30 * time.Second}
	hctx, stopChecks := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pool.runHealthChecks(hctx, p.cfg.HealthCheck, p.client, p.log, p.m)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	p.log.Info("proxy listening", zap.String("addr", ln.Addr().String()), zap.Int("upstreams", len(p.cfg.Upstreams)))
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Shutdown)
		err = srv.Shutdown(sctx)
		cancel()
		<-errc
	}
	stopChecks()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

type ctxKey struct{}

// withRequestID gives every response a request-id header.
func (p *Proxy) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [12]byte
		rand.Read(b[:])
		id := "req_" + hex.EncodeToString(b[:])
		w.Header().Set("request-id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}

// clientKey authenticates r and returns the key naming its rate-limit
// bucket: the API key, or the client address when no keys are configured.
func (p *Proxy) clientKey(r *http.Request) (string, error) {
	key := r.Header.Get("x-api-key")
	if key == "" {
		key, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if len(p.keys) == 0 {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return "addr:" + host, nil
	}
	ok := 0
	for _, k := range p.keys {
		ok |= subtle.ConstantTimeCompare(k, []byte(key))
	}
	if ok == 0 {
		return "", core.Errorf(core.KindUnauthenticated, "proxy", "invalid x-api-key")
	}
	return "key:" + key, nil
}

// apiRequest is what the proxy reads of a Messages request body.
type apiRequest struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
}

// handleAPI authenticates, rate-limits and forwards one API call.
func (p *Proxy) handleAPI(w http.ResponseWriter, r *http.Request) {
	key, err := p.clientKey(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if ok, wait := p.lim.allow(key); !ok {
		p.m.limited()
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("retry-after", strconv.Itoa(max(1, secs)))
		w.Header().Set("retry-after-ms", strconv.FormatInt(wait.Milliseconds(), 10))
		writeError(w, core.Errorf(core.KindRateLimited, "proxy", "rate limit exceeded: retry in %d s", max(1, secs)))
		return
	}
	var body []byte
	var req apiRequest
	if r.Method == http.MethodPost {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.BodyLimit))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, core.Errorf(core.KindTooLarge, "proxy", "request body exceeds %d bytes", p.cfg.BodyLimit))
			return
		case err != nil:
			writeError(w, core.Errorf(core.KindInvalid, "proxy", "reading body: %w", err))
			return
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, core.Errorf(core.KindInvalid, "proxy", "body is not valid JSON: %w", err))
			return
		}
	} else {
		req.Model = r.PathValue("id")
	}
	p.forward(w, r, body, req, key)
}

// attempt is the outcome of one try on one upstream.
type attempt struct {
	committed bool // something was written to the client; no failover
	ok        bool // the upstream worked (for ejection)
	status    int
	in, out   int // tokens reported
	err       error
}

// forward tries the request's candidates in order until one answers.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte, req apiRequest, key string) {
	model := p.pool.resolve(req.Model)
	cands := p.pool.candidates(model)
	var last attempt
	for i, b := range cands {
		if i > 0 {
			p.m.failover()
		}
		start := time.Now()
		b.outstanding.Add(1)
		last = p.try(w, r, b, body, req, model, i == len(cands)-1)
		b.outstanding.Add(-1)
		if b.report(last.ok, p.cfg.Eject.Failures, p.cfg.Eject.Duration, time.Now()) {
			p.log.Warn("upstream ejected", zap.String("upstream", b.cfg.Name), zap.Duration("for", p.cfg.Eject.Duration))
		}
		if last.committed {
			p.m.request(b.cfg.Name, b.cfg.Kind, last.status, time.Since(start))
			p.m.addTokens(b.cfg.Name, last.in, last.out)
			p.lim.charge(key, last.in+last.out)
			return
		}
		p.log.Info("upstream failed, trying the next", zap.String("upstream", b.cfg.Name), zap.Error(last.err))
	}
	writeError(w, core.Errorf(core.KindOverloaded, "proxy", "no upstream could serve model %q: %v", req.Model, last.err))
}

// try sends the request to one upstream.
func (p *Proxy) try(w http.ResponseWriter, r *http.Request, b *backend, body []byte, req apiRequest, model string, lastChance bool) attempt {
	if b.cfg.Kind == KindOpenAI {
		return p.tryOpenAI(w, r, b, body, model, lastChance)
	}
	if b.cfg.Model != "" {
		model = b.cfg.Model
	}
	if body != nil && model != req.Model {
		var err error
		if body, err = setModel(body, model); err != nil {
			return attempt{committed: true, err: err}
		}
	}
	up, err := http.NewRequestWithContext(r.Context(), r.Method, b.cfg.URL+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err}
	}
	up.URL.RawQuery = r.URL.RawQuery
	copyHeaders(up.Header, r.Header)
	if b.cfg.APIKey != "" {
		up.Header.Del("Authorization")
		up.Header.Set("x-api-key", b.cfg.APIKey)
	}
	resp, err := p.client.Do(up)
	if err != nil {
		return attempt{err: err}
	}
	defer resp.Body.Close()
	if retryable(resp.StatusCode) && !lastChance {
		return attempt{err: fmt.Errorf("upstream %s answered %d", b.cfg.Name, resp.StatusCode)}
	}
	return p.relay(w, resp)
}

// relay copies an upstream response to the client byte for byte, flushing
// streams as they arrive, and reads the token usage on the way.
func (p *Proxy) relay(w http.ResponseWriter, resp *http.Response) attempt {
	copyHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	a := attempt{committed: true, ok: resp.StatusCode < 500, status: resp.StatusCode}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sr := NewSSEReader(io.TeeReader(resp.Body, flushWriter{w, http.NewResponseController(w)}))
		for sr.Next() {
			in, out := usageOf(sr.Event().Data)
			a.in, a.out = max(a.in, in), max(a.out, out)
		}
		a.err = sr.Err()
		return a
	}
	var buf bytes.Buffer
	_, a.err = io.Copy(w, io.TeeReader(resp.Body, &buf))
	a.in, a.out = usageOf(buf.Bytes())
	return a
}

// usageOf reads input and output tokens from a message, or from a
// message_start / message_delta event.
func usageOf(data []byte) (in, out int) {
	var v struct {
		Usage   *usage `json:"usage"`
		Message *struct {
			Usage *usage `json:"usage"`
		} `json:"message"`
	}
	if json.Unmarshal(data, &v) != nil {
		return 0, 0
	}
	u := v.Usage
	if u == nil && v.Message != nil {
		u = v.Message.Usage
	}
	if u == nil {
		return 0, 0
	}
	return u.InputTokens + u.CacheReadInputTokens, u.OutputTokens
}

type usage struct {
	InputTokens          int `json:"input_tokens"`
	OutputTokens         int `json:"output_tokens"`
	CacheReadInputTokens int `json:"cache_read_input_tokens"`
}

// flushWriter writes to the client and flushes after every write.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// retryable reports whether a status means "try another upstream".
func retryable(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests
}

// hopHeaders are not forwarded (RFC 9110 §7.6.1), nor is the length, which
// the transport sets.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, "Host": true,
	"Request-Id": true,
}

func copyHeaders(dst, src http.Header) {
	for k, vs := range src {
		if hopHeaders[http.CanonicalHeaderKey(k)] {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// setModel returns body with its "model" field replaced.
func setModel(body []byte, model string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, core.Errorf(core.KindInvalid, "proxy", "body: %w", err)
	}
	m["model"], _ = json.Marshal(model)
	return json.Marshal(m)
}

// statusOf maps an error kind to the HTTP status and Anthropic error type:
// the proxy's one place for that mapping.
func statusOf(k core.Kind) (int, string) {
	switch k {
	case core.KindInvalid, core.KindContextLength:
		return http.StatusBadRequest, "invalid_request_error"
	case core.KindUnauthenticated:
		return http.StatusUnauthorized, "authentication_error"
	case core.KindPermission:
		return http.StatusForbidden, "permission_error"
	case core.KindNotFound:
		return http.StatusNotFound, "not_found_error"
	case core.KindTooLarge:
		return http.StatusRequestEntityTooLarge, "request_too_large"
	case core.KindRateLimited:
		return http.StatusTooManyRequests, "rate_limit_error"
	case core.KindOverloaded:
		return 529, "overloaded_error"
	case core.KindUnavailable:
		return http.StatusServiceUnavailable, "api_error"
	}
	return http.StatusInternalServerError, "api_error"
}

// writeError writes the Anthropic error envelope for err.
func writeError(w http.ResponseWriter, err error) {
	status, typ := statusOf(core.KindOf(err))
	msg := err.Error()
	var ce *core.Error
	if errors.As(err, &ce) && ce.Err != nil {
		msg = ce.Err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	if status >= 500 && status != 529 {
		w.Header().Set("x-should-retry", "false")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"type":       "error",
		"error":      map[string]string{"type": typ, "message": msg},
		"request_id": w.Header().Get("request-id"),
	})
}
