package claude

import (
	"context"
	"errors"
	"fmt"

	"github.com/pensieve-llm/pensieve/core"
)

// ErrorType is the error.type of an Anthropic error envelope (§7.2).
type ErrorType string

// The error types of §7.2.
const (
	ErrInvalidRequest ErrorType = "invalid_request_error"
	ErrAuthentication ErrorType = "authentication_error"
	ErrBilling        ErrorType = "billing_error"
	ErrPermission     ErrorType = "permission_error"
	ErrNotFound       ErrorType = "not_found_error"
	ErrConflict       ErrorType = "conflict_error"
	ErrTooLarge       ErrorType = "request_too_large"
	ErrRateLimit      ErrorType = "rate_limit_error"
	ErrAPI            ErrorType = "api_error"
	ErrTimeout        ErrorType = "timeout_error"
	ErrOverloaded     ErrorType = "overloaded_error"
)

// ErrorTypeOf returns the Anthropic error type for an error kind. The HTTP
// status that goes with it is the server's business (house rule 4).
func ErrorTypeOf(k core.Kind) ErrorType {
	switch k {
	case core.KindInvalid, core.KindContextLength:
		return ErrInvalidRequest
	case core.KindNotFound:
		return ErrNotFound
	case core.KindUnauthenticated:
		return ErrAuthentication
	case core.KindPermission:
		return ErrPermission
	case core.KindTooLarge:
		return ErrTooLarge
	case core.KindRateLimited:
		return ErrRateLimit
	case core.KindOverloaded, core.KindUnavailable:
		return ErrOverloaded
	case core.KindCanceled:
		return ErrTimeout
	}
	return ErrAPI
}

// APIError carries the exact message a client sees (§3.6, §7.3): the dotted
// JSON path of the offending value, a colon and the reason, or the reason
// alone when no single value is at fault. It always sits inside a
// *core.Error that classifies it.
type APIError struct {
	Path   string // e.g. "messages.2.content.0.tool_result.tool_use_id"; may be empty
	Reason string // e.g. "Field required"
}

// Error returns "path: reason", or the reason alone when Path is empty.
func (e *APIError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// apiErr returns a *core.Error of kind k for op around an *APIError.
func apiErr(k core.Kind, op, path, format string, args ...any) error {
	return core.E(k, op, &APIError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// invalid returns a KindInvalid error with a public path and reason.
func invalid(op, path, format string, args ...any) error {
	return apiErr(core.KindInvalid, op, path, format, args...)
}

// ModelNotFound returns the 404 error for an unknown model id, worded as
// upstream words it: "model: <id>" (§7.3).
func ModelNotFound(id string) error {
	return apiErr(core.KindNotFound, "claude.ModelNotFound", "model", "%s", id)
}

// PromptTooLong returns the error for a prompt of tokens tokens against a
// limit of max, worded as upstream words it: "prompt is too long: N tokens >
// M maximum" (§7.3); Claude Code's recovery keys on that wording.
func PromptTooLong(tokens, max int) error {
	return apiErr(core.KindContextLength, "claude.PromptTooLong", "",
		"prompt is too long: %d tokens > %d maximum", tokens, max)
}

// MaxTokensTooLarge returns the error for a max_tokens above a model's
// output cap: "max_tokens: 10000 > 8192, which is the maximum allowed number
// of output tokens for <model>" (§7.3).
func MaxTokensTooLarge(n, max int, model string) error {
	return apiErr(core.KindInvalid, "claude.MaxTokensTooLarge", "max_tokens",
		"%d > %d, which is the maximum allowed number of output tokens for %s", n, max, model)
}

// ErrorDetail is the inner object of an error envelope.
type ErrorDetail struct {
	Type    ErrorType `json:"type"`
	Message string    `json:"message"`
}

// ErrorResponse is the error envelope of §7.1, the body of every error
// response and the data of an SSE error event.
type ErrorResponse struct {
	Type      string      `json:"type"` // always "error"
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// NewErrorResponse builds the envelope for err. The type comes from the
// error's kind (a deadline becomes timeout_error); the message is the
// *APIError's text when the chain holds one, a fixed upstream phrase for
// overload and internal failures (whose details belong in the log, not the
// body), and the error text otherwise.
func NewErrorResponse(err error, requestID string) ErrorResponse {
	return ErrorResponse{Type: "error", Error: errorDetailOf(err), RequestID: requestID}
}

func errorDetailOf(err error) ErrorDetail {
	k := core.KindOf(err)
	typ := ErrorTypeOf(k)
	if k == core.KindCanceled && !errors.Is(err, context.DeadlineExceeded) {
		typ = ErrAPI // the client went away; nobody reads this body
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ErrorDetail{Type: typ, Message: ae.Error()}
	}
	switch typ {
	case ErrOverloaded:
		return ErrorDetail{Type: typ, Message: "Overloaded"}
	case ErrAPI:
		return ErrorDetail{Type: typ, Message: "Internal server error"}
	case ErrTimeout:
		return ErrorDetail{Type: typ, Message: "Request timed out"}
	}
	return ErrorDetail{Type: typ, Message: ErrorMessage(err)}
}

// ErrorMessage returns the client-facing message of err: the *APIError text
// when there is one, else the innermost *core.Error's cause, else err's text.
func ErrorMessage(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var ce *core.Error
	msg := err.Error()
	for e := err; errors.As(e, &ce); e = ce.Err {
		if ce.Err == nil {
			break
		}
		msg = ce.Err.Error()
	}
	return msg
}
