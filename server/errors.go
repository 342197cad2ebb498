package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// statusClientClosed is nginx's "client closed request": only logs and
// metrics ever see it, the client is gone.
const statusClientClosed = 499

// statusOverloaded is Anthropic's 529 (no net/http constant exists).
const statusOverloaded = 529

// statusOf is the one mapping from an error to the HTTP status and the
// Anthropic error type of its response (spec §7.2), by the error's kind. A
// context-length error is a 400 invalid_request_error, as upstream answers
// "prompt is too long"; a deadline that passed is 504 timeout_error.
func statusOf(err error) (status int, errType claude.ErrorType) {
	switch core.KindOf(err) {
	case core.KindInvalid, core.KindContextLength:
		return http.StatusBadRequest, claude.ErrInvalidRequest
	case core.KindUnauthenticated:
		return http.StatusUnauthorized, claude.ErrAuthentication
	case core.KindPermission:
		return http.StatusForbidden, claude.ErrPermission
	case core.KindNotFound:
		return http.StatusNotFound, claude.ErrNotFound
	case core.KindTooLarge:
		return http.StatusRequestEntityTooLarge, claude.ErrTooLarge
	case core.KindRateLimited:
		return http.StatusTooManyRequests, claude.ErrRateLimit
	case core.KindOverloaded:
		return statusOverloaded, claude.ErrOverloaded
	case core.KindUnavailable:
		return http.StatusServiceUnavailable, claude.ErrOverloaded
	case core.KindCanceled:
		if errors.Is(err, context.DeadlineExceeded) {
			return http.StatusGatewayTimeout, claude.ErrTimeout
		}
		return statusClientClosed, claude.ErrAPI
	}
	return http.StatusInternalServerError, claude.ErrAPI
}

// retryAfterError carries how long a client should wait (429).
type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// defaultRetryAfter is advertised on 529 and 503 responses.
const defaultRetryAfter = time.Second

// classify turns any error into a *core.Error-based kind, translating echo's
// own errors (unknown route, wrong method) into kinds.
func classify(err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) && !hasCoreError(err) {
		msg := fmt.Sprint(he.Message)
		switch {
		case he.Code == http.StatusNotFound:
			return core.Errorf(core.KindNotFound, "", "%s", "Not found")
		case he.Code == http.StatusMethodNotAllowed:
			return core.Errorf(core.KindInvalid, "", "method not allowed")
		case he.Code == http.StatusRequestEntityTooLarge:
			return core.Errorf(core.KindTooLarge, "", "%s", msg)
		case he.Code == http.StatusUnauthorized:
			return core.Errorf(core.KindUnauthenticated, "", "%s", msg)
		case he.Code == http.StatusTooManyRequests:
			return core.Errorf(core.KindRateLimited, "", "%s", msg)
		case he.Code >= 400 && he.Code < 500:
			return core.Errorf(core.KindInvalid, "", "%s", msg)
		}
		return core.E(core.KindInternal, "echo", err)
	}
	return err
}

func hasCoreError(err error) bool {
	var ce *core.Error
	return errors.As(err, &ce)
}

// publicMessage is the message a client sees: claude's rule (the
// *claude.APIError text, else the innermost *core.Error's cause, without
// operation names), except that internal failures are not described to
// clients; they are logged.
func publicMessage(err error) string {
	if core.KindOf(err) == core.KindInternal {
		return "Internal server error"
	}
	return claude.ErrorMessage(err)
}

// envelopeOf builds the §7.1 envelope for err and returns its status.
func envelopeOf(err error, requestID string) (int, claude.ErrorResponse) {
	err = classify(err)
	status, typ := statusOf(err)
	return status, claude.ErrorResponse{
		Type:      "error",
		Error:     claude.ErrorDetail{Type: typ, Message: publicMessage(err)},
		RequestID: requestID,
	}
}

// handleError is the echo HTTPErrorHandler: it renders every failure that
// reaches it as the Anthropic envelope with the matching status, and logs
// server-side failures. A response that has already started (an SSE stream)
// cannot change its status; the stream handler reported the failure itself.
func (s *Server) handleError(err error, c echo.Context) {
	log := requestLogger(c)
	if c.Response().Committed {
		log.Debug("error after response started", zap.Error(err))
		return
	}
	status, env := envelopeOf(err, requestIDOf(c))
	switch {
	case status >= 500:
		log.Error("request failed", zap.Int("status", status), zap.Error(err))
	case status != statusClientClosed:
		log.Debug("request rejected", zap.Int("status", status), zap.Error(err))
	}
	h := c.Response().Header()
	switch status {
	case http.StatusTooManyRequests, statusOverloaded, http.StatusServiceUnavailable:
		after := defaultRetryAfter
		var ra *retryAfterError
		if errors.As(err, &ra) {
			after = ra.after
		}
		setRetryAfter(h, after)
		h.Set("x-should-retry", "true")
	case http.StatusInternalServerError:
		// A bug does not go away when the client retries.
		h.Set("x-should-retry", "false")
	}
	if err := writeJSON(c, status, env); err != nil {
		log.Debug("writing error response", zap.Error(err))
	}
}

// setRetryAfter sets retry-after in whole seconds (rounded up, at least 1)
// and retry-after-ms, which the SDKs prefer (spec §2).
func setRetryAfter(h http.Header, d time.Duration) {
	secs := max(1, int(math.Ceil(d.Seconds())))
	h.Set("retry-after", strconv.Itoa(secs))
	h.Set("retry-after-ms", strconv.FormatInt(max(1, d.Milliseconds()), 10))
}

// writeJSON writes v as the JSON body with status.
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return core.E(core.KindInternal, "server.writeJSON", err)
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}
