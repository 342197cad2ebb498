package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// Keys of values stored in the echo context.
const (
	ctxRequestID = "pensieve.request_id"
	ctxLogger    = "pensieve.logger"
	ctxClient    = "pensieve.client"  // rate-limit identity
	ctxModel     = "pensieve.model"   // resolved model id, for logs and metrics
	ctxVersion   = "pensieve.version" // anthropic-version in effect
)

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// setModel records the resolved model: the request logger gains a model
// field and the access log names it.
func setModel(c echo.Context, id string) {
	c.Set(ctxModel, id)
	c.Set(ctxLogger, requestLogger(c).With(zap.String("model", id)))
}

// requestLogger returns the per-request logger (with request_id, and model
// once resolved) or a no-op.
func requestLogger(c echo.Context) *zap.Logger {
	if l, ok := c.Get(ctxLogger).(*zap.Logger); ok {
		return l
	}
	return zap.NewNop()
}

// observe is the outermost middleware: it assigns the request id (header
// "request-id", duplicated as "x-request-id", spec §2), creates the request
// logger, tracks the request for Shutdown, renders errors so that the
// status is known, then writes the access log and the request metrics.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.inflight.Add(1)
		s.inflightN.Add(1)
		defer func() {
			s.inflightN.Add(-1)
			s.inflight.Done()
		}()
		start := time.Now()
		id := claude.NewID("req_")
		c.Set(ctxRequestID, id)
		h := c.Response().Header()
		h.Set("request-id", id)
		h.Set("x-request-id", id)
		log := s.log.With(zap.String("request_id", id))
		c.Set(ctxLogger, log)
		if err := next(c); err != nil {
			s.handleError(err, c)
		}
		elapsed := time.Since(start)
		route, status := c.Path(), c.Response().Status
		if route == "" || status == http.StatusNotFound && strings.HasSuffix(route, "*") {
			route = "unmatched" // keeps unknown paths from multiplying series
		}
		s.metrics.requests.Inc(route, c.Request().Method, strconv.Itoa(status))
		s.metrics.latency.Observe(elapsed.Seconds(), route)
		model, _ := c.Get(ctxModel).(string)
		log.Info("request",
			zap.String("method", c.Request().Method),
			zap.String("path", c.Request().URL.Path),
			zap.String("route", route),
			zap.Int("status", status),
			zap.Duration("latency", elapsed),
			zap.Int64("bytes_out", c.Response().Size),
			zap.String("remote_ip", c.RealIP()),
			zap.String("model", model),
			zap.String("user_agent", c.Request().UserAgent()),
		)
		return nil
	}
}

// recoverPanics turns a panic in a handler into a 500 api_error, logging the
// stack. http.ErrAbortHandler keeps its meaning (abort the response).
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			requestLogger(c).Error("handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = core.Errorf(core.KindInternal, "server.handler", "panic: %v", r)
		}()
		return next(c)
	}
}

// deadlines keeps the server's write timeout from cutting long
// generations: the write deadline moves to now+WriteTimeout when the
// response starts (and per SSE event, see sse.Writer), so compute time
// before the first byte does not count against it. (The read timeout needs
// no help: net/http lifts the read deadline once the body is consumed.)
func (s *Server) deadlines(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if wt := s.cfg.WriteTimeout; wt > 0 {
			rc := http.NewResponseController(c.Response())
			// Unsupported writers (http.ErrNotSupported) have no deadline to move.
			c.Response().Before(func() { _ = rc.SetWriteDeadline(time.Now().Add(wt)) })
		}
		return next(c)
	}
}

// readBody reads the whole request body, enforcing the body limit set by
// limitBody.
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge(tooBig.Limit)
	case err != nil:
		return nil, core.Errorf(core.KindInvalid, "server.readBody", "reading request body: %w", err)
	}
	return b, nil
}

func tooLarge(limit int64) error {
	return core.Errorf(core.KindTooLarge, "server.readBody",
		"Request exceeds the maximum allowed number of bytes (%d)", limit)
}

// limitBody rejects bodies over limit bytes with 413 request_too_large: at
// once when Content-Length says so, else when reading crosses the limit.
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return tooLarge(limit)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			return next(c)
		}
	}
}

// keyDigest is the SHA-256 of an API key; comparing digests keeps the
// comparison constant-time regardless of key length.
type keyDigest [sha256.Size]byte

// authenticate accepts a request whose x-api-key or Authorization: Bearer
// value equals a configured key (either header suffices, spec §2). With no
// keys configured every request passes. The rate-limit identity is the
// matched key's index, or the client IP on an open server.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if len(s.keys) == 0 {
			c.Set(ctxClient, "ip:"+c.RealIP())
			return next(c)
		}
		h := c.Request().Header
		candidates := []string{h.Get("x-api-key")}
		if scheme, tok, ok := strings.Cut(h.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			candidates = append(candidates, strings.TrimSpace(tok))
		}
		match := -1
		for _, cand := range candidates {
			if cand == "" {
				continue
			}
			d := keyDigest(sha256.Sum256([]byte(cand)))
			for i, k := range s.keys {
				// Every key is compared, so timing does not reveal which matched.
				if subtle.ConstantTimeCompare(d[:], k[:]) == 1 {
					match = i
				}
			}
		}
		if match < 0 {
			return core.Errorf(core.KindUnauthenticated, "server.authenticate", "invalid x-api-key")
		}
		c.Set(ctxClient, "key:"+strconv.Itoa(match))
		return next(c)
	}
}

// rateLimit applies the per-client token bucket (429 rate_limit_error with
// retry-after when empty).
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		client, _ := c.Get(ctxClient).(string)
		if err := s.admit(client); err != nil {
			return err
		}
		return next(c)
	}
}

// admit takes one request of client from its token bucket; it fails when
// the bucket is empty.
func (s *Server) admit(client string) error {
	if s.limiter == nil {
		return nil
	}
	if ok, wait := s.limiter.allow(client); !ok {
		s.metrics.rejected.Inc("rate_limit")
		return &retryAfterError{after: wait, err: core.Errorf(core.KindRateLimited, "server.rateLimit",
			"Number of requests has exceeded your rate limit (%g per second). Please try again later.", s.cfg.RateLimit)}
	}
	return nil
}

// anthropicHeaders checks anthropic-version (absent means 2023-06-01; other
// values than the two served are 400, spec §2) and parses anthropic-beta,
// which may be comma-separated and may repeat; unknown names are ignored.
func anthropicHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		v, err := claude.ParseVersion(strings.TrimSpace(h.Get("anthropic-version")))
		if err != nil {
			return err
		}
		c.Set(ctxVersion, v)
		if betas := parseBetas(h.Values("anthropic-beta")); len(betas) > 0 {
			requestLogger(c).Debug("anthropic-beta", zap.Strings("betas", betas))
		}
		return next(c)
	}
}

func parseBetas(values []string) []string {
	var betas []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				betas = append(betas, name)
			}
		}
	}
	return betas
}

// versionOf returns the anthropic-version in effect for the request.
func versionOf(c echo.Context) claude.Version {
	if v, ok := c.Get(ctxVersion).(claude.Version); ok {
		return v
	}
	return claude.Version20230601
}

// notFound answers every unknown path (echo's default for unmatched routes is
// replaced so the body is the JSON envelope, spec §1).
func notFound(c echo.Context) error {
	return core.Errorf(core.KindNotFound, "server.route", "Not found: %s %s", c.Request().Method, c.Request().URL.Path)
}
