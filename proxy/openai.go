package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// OpenAI Chat Completions wire types: only the fields the translation uses.

type oaRequest struct {
	Model             string          `json:"model"`
	Messages          []oaMessage     `json:"messages"`
	MaxTokens         int             `json:"max_tokens,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	Stop              []string        `json:"stop,omitempty"`
	Stream            bool            `json:"stream,omitempty"`
	StreamOptions     *oaStreamOpts   `json:"stream_options,omitempty"`
	Tools             []oaTool        `json:"tools,omitempty"`
	ToolChoice        any             `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	User              string          `json:"user,omitempty"`
	ResponseFormat    json.RawMessage `json:"response_format,omitempty"`
}

type oaStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaMessage struct {
	Role       string       `json:"role"`
	Content    any          `json:"content"` // string, []oaPart, or nil
	ToolCalls  []oaToolCall `json:"tool_calls,omitempty"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
}

type oaPart struct {
	Type     string      `json:"type"` // text or image_url
	Text     string      `json:"text,omitempty"`
	ImageURL *oaImageURL `json:"image_url,omitempty"`
}

type oaImageURL struct {
	URL string `json:"url"`
}

type oaTool struct {
	Type     string     `json:"type"`
	Function oaFunction `json:"function"`
}

type oaFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type oaToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaResponse struct {
	ID      string     `json:"id"`
	Choices []oaChoice `json:"choices"`
	Usage   *oaUsage   `json:"usage"`
}

type oaChoice struct {
	Message      oaRespMessage `json:"message"`
	Delta        oaRespMessage `json:"delta"`
	FinishReason *string       `json:"finish_reason"`
}

type oaRespMessage struct {
	Content   *string      `json:"content"`
	ToolCalls []oaToolCall `json:"tool_calls"`
}

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// toOpenAI translates a Messages request into a Chat Completions request.
func toOpenAI(r *claude.MessageRequest, model string) (*oaRequest, error) {
	out := &oaRequest{Model: model, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP,
		Stop: r.StopSequences, Stream: r.Stream}
	if r.Stream {
		out.StreamOptions = &oaStreamOpts{IncludeUsage: true}
	}
	if r.Metadata != nil {
		out.User = r.Metadata.UserID
	}
	if len(r.System) > 0 {
		var sb strings.Builder
		for i, b := range r.System {
			if i > 0 {
				sb.WriteString("\n\n")
			}
			sb.WriteString(b.Text)
		}
		out.Messages = append(out.Messages, oaMessage{Role: "system", Content: sb.String()})
	}
	for i, m := range r.Messages {
		msgs, err := messageToOpenAI(m)
		if err != nil {
			return nil, fmt.Errorf("messages.%d.%w", i, err)
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for _, t := range r.Tools {
		out.Tools = append(out.Tools, oaTool{Type: "function", Function: oaFunction{Name: t.Name, Description: t.Description, Parameters: t.InputSchema}})
	}
	if tc := r.ToolChoice; tc != nil && len(r.Tools) > 0 {
		switch tc.Type {
		case claude.ToolChoiceAuto:
			out.ToolChoice = "auto"
		case claude.ToolChoiceAny:
			out.ToolChoice = "required"
		case claude.ToolChoiceNone:
			out.ToolChoice = "none"
		case claude.ToolChoiceTool:
			out.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}}
		}
		if tc.DisableParallelToolUse {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	return out, nil
}

// messageToOpenAI turns one Anthropic turn into one or more OpenAI
// messages: tool results become "tool" messages ahead of the user's text.
func messageToOpenAI(m claude.InputMessage) ([]oaMessage, error) {
	role := string(m.Role)
	var parts []oaPart
	var calls []oaToolCall
	var out []oaMessage
	for j, b := range m.Content {
		switch blk := b.(type) {
		case claude.TextBlock:
			parts = append(parts, oaPart{Type: "text", Text: blk.Text})
		case claude.ImageBlock:
			u, err := imageURL(blk.Source)
			if err != nil {
				return nil, fmt.Errorf("content.%d.source: %w", j, err)
			}
			parts = append(parts, oaPart{Type: "image_url", ImageURL: &oaImageURL{URL: u}})
		case claude.ToolUseBlock:
			c := oaToolCall{Index: len(calls), ID: blk.ID, Type: "function"}
			c.Function.Name = blk.Name
			c.Function.Arguments = string(blk.Input)
			calls = append(calls, c)
		case claude.ToolResultBlock:
			text := blocksText(blk.Content)
			if blk.IsError {
				text = "Error: " + text
			}
			out = append(out, oaMessage{Role: "tool", ToolCallID: blk.ToolUseID, Content: text})
		case claude.ThinkingBlock, claude.RedactedThinkingBlock:
			// Reasoning from earlier turns is not sent to OpenAI servers.
		default:
			return nil, fmt.Errorf("content.%d: %s blocks cannot be sent to an OpenAI-compatible upstream", j, b.Type())
		}
	}
	if len(parts) > 0 || len(calls) > 0 {
		msg := oaMessage{Role: role, ToolCalls: calls}
		if textOnly(parts) {
			var sb strings.Builder
			for _, p := range parts {
				sb.WriteString(p.Text)
			}
			msg.Content = sb.String()
		} else {
			msg.Content = parts
		}
		out = append(out, msg)
	}
	return out, nil
}

func textOnly(parts []oaPart) bool {
	for _, p := range parts {
		if p.Type != "text" {
			return false
		}
	}
	return true
}

func blocksText(bs []claude.Block) string {
	var sb strings.Builder
	for _, b := range bs {
		if t, ok := b.(claude.TextBlock); ok {
			if sb.Len() > 0 {
				sb.WriteString("\n")
			}
			sb.WriteString(t.Text)
		}
	}
	return sb.String()
}

func imageURL(s claude.Source) (string, error) {
	switch s.Type {
	case "base64":
		return "data:" + s.MediaType + ";base64," + s.Data, nil
	case "url":
		return s.URL, nil
	}
	return "", fmt.Errorf("image source %q cannot be sent to an OpenAI-compatible upstream", s.Type)
}

// stopReason maps an OpenAI finish_reason.
func stopReason(finish string) claude.StopReason {
	switch finish {
	case "length":
		return claude.StopMaxTokens
	case "tool_calls", "function_call":
		return claude.StopToolUse
	}
	return claude.StopEndTurn
}

// toolUseID keeps an upstream call id recognisable as an Anthropic one.
func toolUseID(id string) string {
	if id == "" {
		return claude.NewID("toolu_")
	}
	if strings.HasPrefix(id, "toolu_") {
		return id
	}
	return "toolu_" + id
}

// toolInput returns the arguments as a JSON object ({} when the upstream
// sent nothing or something that is not an object).
func toolInput(args string) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &obj) != nil || obj == nil {
		return json.RawMessage("{}")
	}
	return json.RawMessage(args)
}

// fromOpenAI translates a Chat Completions response into a Message.
func fromOpenAI(r *oaResponse, model string) claude.Message {
	msg := claude.Message{ID: "msg_" + strings.TrimPrefix(r.ID, "chatcmpl-"), Model: model, StopReason: claude.StopEndTurn}
	if r.ID == "" {
		msg.ID = claude.NewID("msg_")
	}
	if r.Usage != nil {
		msg.Usage = claude.Usage{InputTokens: r.Usage.PromptTokens, OutputTokens: r.Usage.CompletionTokens}
	}
	if len(r.Choices) == 0 {
		return msg
	}
	c := r.Choices[0]
	if c.Message.Content != nil && *c.Message.Content != "" {
		msg.Content = append(msg.Content, claude.TextBlock{Text: *c.Message.Content})
	}
	for _, tc := range c.Message.ToolCalls {
		msg.Content = append(msg.Content, claude.ToolUseBlock{ID: toolUseID(tc.ID), Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
	}
	if c.FinishReason != nil {
		msg.StopReason = stopReason(*c.FinishReason)
	}
	if len(c.Message.ToolCalls) > 0 {
		msg.StopReason = claude.StopToolUse
	}
	return msg
}

// tryOpenAI serves a Messages request from an OpenAI-kind upstream.
func (p *Proxy) tryOpenAI(w http.ResponseWriter, r *http.Request, b *backend, body []byte, model string, lastChance bool) attempt {
	if r.URL.Path != "/v1/messages" {
		return attempt{committed: true, status: http.StatusNotFound,
			err: writeErrorAttempt(w, core.Errorf(core.KindNotFound, "proxy", "%s is not available from OpenAI-compatible upstream %s", r.URL.Path, b.cfg.Name))}
	}
	version, err := claude.ParseVersion(r.Header.Get("anthropic-version"))
	if err != nil {
		return attempt{committed: true, status: http.StatusBadRequest, ok: true, err: writeErrorAttempt(w, err)}
	}
	req, err := claude.DecodeRequest(body, version)
	if err != nil {
		return attempt{committed: true, status: http.StatusBadRequest, ok: true, err: writeErrorAttempt(w, err)}
	}
	upModel := model
	if b.cfg.Model != "" {
		upModel = b.cfg.Model
	}
	oreq, err := toOpenAI(req, upModel)
	if err != nil {
		return attempt{committed: true, status: http.StatusBadRequest, ok: true, err: writeErrorAttempt(w, core.E(core.KindInvalid, "proxy", err))}
	}
	payload, err := json.Marshal(oreq)
	if err != nil {
		return attempt{err: err}
	}
	up, err := http.NewRequestWithContext(r.Context(), http.MethodPost, b.cfg.URL+"/v1/chat/completions", bytes.NewReader(payload))
	if err != nil {
		return attempt{err: err}
	}
	up.Header.Set("Content-Type", "application/json")
	if b.cfg.APIKey != "" {
		up.Header.Set("Authorization", "Bearer "+b.cfg.APIKey)
	}
	resp, err := p.client.Do(up)
	if err != nil {
		return attempt{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		if retryable(resp.StatusCode) && !lastChance {
			return attempt{err: fmt.Errorf("upstream %s answered %d", b.cfg.Name, resp.StatusCode)}
		}
		return p.relayOpenAIError(w, resp)
	}
	if req.Stream {
		return p.streamFromOpenAI(w, resp.Body, req.Model)
	}
	var or oaResponse
	if err := json.NewDecoder(resp.Body).Decode(&or); err != nil {
		return attempt{err: fmt.Errorf("upstream %s: decoding response: %w", b.cfg.Name, err)}
	}
	msg := fromOpenAI(&or, req.Model)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	err = json.NewEncoder(w).Encode(msg)
	return attempt{committed: true, ok: true, status: 200, in: msg.Usage.InputTokens, out: msg.Usage.OutputTokens, err: err}
}

// relayOpenAIError turns an OpenAI error response into an Anthropic one with
// the same status.
func (p *Proxy) relayOpenAIError(w http.ResponseWriter, resp *http.Response) attempt {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	}
	kind := map[int]core.Kind{400: core.KindInvalid, 401: core.KindUnauthenticated, 403: core.KindPermission,
		404: core.KindNotFound, 413: core.KindTooLarge, 429: core.KindRateLimited, 503: core.KindOverloaded}[resp.StatusCode]
	writeError(w, core.Errorf(kind, "upstream", "%s", msg))
	return attempt{committed: true, ok: resp.StatusCode < 500, status: resp.StatusCode}
}

func writeErrorAttempt(w http.ResponseWriter, err error) error {
	writeError(w, err)
	return err
}
