package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// CheckMessage validates a non-streaming Messages response body (spec §5):
// a "message" from the "assistant" with a msg_ id, a model, a content array
// of valid blocks, a non-null stop reason and usage counts.
func CheckMessage(body []byte) (Message, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, core.Errorf(core.KindInvalid, "soak.CheckMessage", "body is not a JSON object: %v", err)
	}
	bad := func(format string, args ...any) (Message, error) {
		return Message{}, core.Errorf(core.KindInvalid, "soak.CheckMessage", format, args...)
	}
	for k, want := range map[string]string{"type": "message", "role": "assistant"} {
		if err := wantString(m, k, want); err != nil {
			return bad("%v", err)
		}
	}
	var out Message
	var err error
	if out.ID, err = stringField(m, "id"); err != nil || !strings.HasPrefix(out.ID, "msg_") {
		return bad("id %q does not start with msg_", out.ID)
	}
	if out.Model, err = stringField(m, "model"); err != nil || out.Model == "" {
		return bad("model missing")
	}
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal(m["content"], &blocks); err != nil || blocks == nil {
		return bad("content is %s, want an array", orMissing(string(m["content"])))
	}
	for i, b := range blocks {
		blk, err := checkBlock(b)
		if err != nil {
			return bad("content.%d: %v", i, err)
		}
		out.Blocks = append(out.Blocks, blk)
	}
	if out.StopReason, err = checkStop(m); err != nil {
		return bad("%v", err)
	}
	if out.StopReason == "tool_use" && !hasTool(out.Blocks) {
		return bad("stop_reason tool_use without a tool_use block")
	}
	if out.InputTokens, out.OutputTokens, err = usage(m["usage"], true); err != nil {
		return bad("%v", err)
	}
	return out, nil
}

// checkBlock validates one response content block (spec §4.3).
func checkBlock(b map[string]json.RawMessage) (Block, error) {
	typ, err := stringField(b, "type")
	if err != nil {
		return Block{}, err
	}
	switch typ {
	case "text":
		s, err := stringField(b, "text")
		return Block{Type: typ, Text: s}, err
	case "thinking":
		s, err := stringField(b, "thinking")
		if err != nil {
			return Block{}, err
		}
		if sig, err := stringField(b, "signature"); err != nil || sig == "" {
			return Block{}, fmt.Errorf("thinking block without a signature")
		}
		return Block{Type: typ, Text: s}, nil
	case "tool_use":
		if id, err := stringField(b, "id"); err != nil || !strings.HasPrefix(id, "toolu_") {
			return Block{}, fmt.Errorf("tool_use id %q does not start with toolu_", id)
		}
		var obj map[string]any
		if err := json.Unmarshal(b["input"], &obj); err != nil || obj == nil {
			return Block{}, fmt.Errorf("tool_use input %s is not an object", orMissing(string(b["input"])))
		}
		return Block{Type: typ, Input: b["input"]}, nil
	}
	return Block{}, fmt.Errorf("unexpected block type %q", typ)
}

// ErrorCase is a request the server must refuse with an error envelope.
type ErrorCase struct {
	// Name identifies the case in reports.
	Name string
	// Body is the raw request body.
	Body []byte
	// Status is the expected HTTP status.
	Status int
	// Type is the expected error.type, e.g. "invalid_request_error".
	Type string
	// Contains is a substring the error message must hold ("" for any).
	Contains string
}

// MalformedCases returns the refused requests every round sends (spec §7):
// a body that is not JSON, a missing max_tokens (on a streaming request:
// errors before the first byte are plain JSON, spec §6.1), a max_tokens far
// over any model's limit, and an unknown model.
func MalformedCases(model string) []ErrorCase {
	msgs := `[{"role":"user","content":"hello"}]`
	return []ErrorCase{
		{Name: "bad_json", Body: []byte(`{"model":` + quote(model) + `,"max_tokens":8,"messages":[`),
			Status: http.StatusBadRequest, Type: "invalid_request_error"},
		{Name: "missing_max_tokens", Body: []byte(`{"model":` + quote(model) + `,"stream":true,"messages":` + msgs + `}`),
			Status: http.StatusBadRequest, Type: "invalid_request_error", Contains: "max_tokens"},
		{Name: "huge_max_tokens", Body: []byte(`{"model":` + quote(model) + `,"max_tokens":1073741824,"messages":` + msgs + `}`),
			Status: http.StatusBadRequest, Type: "invalid_request_error", Contains: "max_tokens"},
		{Name: "unknown_model", Body: []byte(`{"model":"soak-no-such-model","max_tokens":8,"messages":` + msgs + `}`),
			Status: http.StatusNotFound, Type: "not_found_error", Contains: "model: soak-no-such-model"},
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// CheckErrorResponse checks that resp is the error envelope (spec §7.1) the
// case expects: its status, a JSON content type, error.type, a message with
// the expected substring, and request_id equal to the request-id header.
func CheckErrorResponse(resp *http.Response, c ErrorCase) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return core.Errorf(core.KindUnavailable, "soak.CheckErrorResponse", "%s: reading body: %w", c.Name, err)
	}
	bad := func(format string, args ...any) error {
		return core.Errorf(core.KindInvalid, "soak.CheckErrorResponse", c.Name+": "+format, args...)
	}
	if resp.StatusCode != c.Status {
		return bad("status %d, want %d (body %.200q)", resp.StatusCode, c.Status, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return bad("content type %q, want application/json", resp.Header.Get("Content-Type"))
	}
	var env struct {
		Type  string `json:"type"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID *string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Type != "error" || env.Error == nil {
		return bad("not an error envelope: %.200q", body)
	}
	if env.Error.Type != c.Type {
		return bad("error.type %q, want %q (message %q)", env.Error.Type, c.Type, env.Error.Message)
	}
	if env.Error.Message == "" || !strings.Contains(env.Error.Message, c.Contains) {
		return bad("error.message %q does not contain %q", env.Error.Message, c.Contains)
	}
	if id := resp.Header.Get("request-id"); !strings.HasPrefix(id, "req_") {
		return bad("request-id header %q does not start with req_", id)
	} else if env.RequestID != nil && *env.RequestID != id {
		return bad("request_id %q differs from the request-id header %q", *env.RequestID, id)
	}
	return nil
}

// messageBody is a POST /v1/messages body with one user turn.
func messageBody(model, prompt string, maxTokens int, stream bool) []byte {
	b, _ := json.Marshal(map[string]any{ // plain values always marshal
		"model":      model,
		"max_tokens": maxTokens,
		"stream":     stream,
		"messages":   []map[string]any{{"role": "user", "content": prompt}},
	})
	return b
}

// newRequest builds a POST /v1/messages request with the headers every
// client sends.
func newRequest(ctx context.Context, baseURL, apiKey string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, "soak.newRequest", "%w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	if apiKey != "" {
		req.Header.Set("x-api-key", apiKey)
	}
	return req, nil
}
