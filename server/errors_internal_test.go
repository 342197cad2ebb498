package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err    error
		status int
		typ    claude.ErrorType
	}{
		{core.E(core.KindInvalid, "x", nil), 400, "invalid_request_error"},
		{claude.PromptTooLong(300, 255), 400, "invalid_request_error"},
		{core.E(core.KindUnauthenticated, "x", nil), 401, "authentication_error"},
		{core.E(core.KindPermission, "x", nil), 403, "permission_error"},
		{claude.ModelNotFound("m"), 404, "not_found_error"},
		{core.E(core.KindTooLarge, "x", nil), 413, "request_too_large"},
		{core.E(core.KindRateLimited, "x", nil), 429, "rate_limit_error"},
		{fmt.Errorf("wrapped: %w", core.E(core.KindOverloaded, "engine", nil)), 529, "overloaded_error"},
		{core.E(core.KindUnavailable, "x", nil), 503, "overloaded_error"},
		{core.E(core.KindCanceled, "x", context.Canceled), 499, "api_error"},
		{core.E(core.KindCanceled, "x", context.DeadlineExceeded), 504, "timeout_error"},
		{errors.New("a bug"), 500, "api_error"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			status, typ := statusOf(tt.err)
			if status != tt.status || typ != tt.typ {
				t.Errorf("statusOf = %d %s, want %d %s", status, typ, tt.status, tt.typ)
			}
		})
	}
}

func TestEnvelopeOf(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		message string
	}{
		{"claude wording kept", claude.ModelNotFound("llama-9"), 404, "model: llama-9"},
		{"op names dropped", fmt.Errorf("ctx: %w", core.Errorf(core.KindInvalid, "server.x", "limit: bad")), 400, "limit: bad"},
		{"internals hidden", core.Errorf(core.KindInternal, "engine", "nil pointer in slot 3"), 500, "Internal server error"},
		{"echo 404", echo.ErrNotFound, 404, "Not found"},
		{"echo 405", echo.ErrMethodNotAllowed, 400, "method not allowed"},
		{"echo 413", echo.NewHTTPError(http.StatusRequestEntityTooLarge, "too big"), 413, "too big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, env := envelopeOf(tt.err, "req_1")
			if status != tt.status || env.Error.Message != tt.message || env.Type != "error" || env.RequestID != "req_1" {
				t.Errorf("envelopeOf = %d %+v, want %d %q", status, env, tt.status, tt.message)
			}
		})
	}
}
