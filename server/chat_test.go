package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/pensieve-llm/pensieve/engine/enginetest"
	"github.com/pensieve-llm/pensieve/server"
)

// openaiClient is an OpenAI SDK client for the fixture, without retries.
func (f *fixture) openaiClient(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(f.ts.URL+"/v1/"), option.WithAPIKey(key),
		option.WithMaxRetries(0), option.WithHTTPClient(f.ts.Client()))
}

func TestChatCompletions(t *testing.T) {
	f := start(t, server.Config{APIKeys: []string{"sk-local"}}, []server.Model{engineModel(t, "m", reply, enginetest.ModelConfig{})})
	c := f.openaiClient("sk-local")
	ctx := context.Background()
	p := openai.ChatCompletionNewParams{
		Model:       "m",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Say hello.")},
		Temperature: openai.Float(0),
	}
	cc, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Choices) != 1 || cc.Choices[0].Message.Content != reply || cc.Choices[0].FinishReason != "stop" {
		t.Fatalf("completion = %+v", cc)
	}
	if !strings.HasPrefix(cc.ID, "chatcmpl-") || cc.Model != "m" || cc.Usage.PromptTokens == 0 ||
		cc.Usage.CompletionTokens < int64(len(reply)) || cc.Usage.TotalTokens != cc.Usage.PromptTokens+cc.Usage.CompletionTokens {
		t.Errorf("completion = %+v", cc)
	}

	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(ctx, p)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != reply || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("streamed = %+v", acc.ChatCompletion)
	}
	if acc.Usage.CompletionTokens != cc.Usage.CompletionTokens || acc.Usage.PromptTokens != cc.Usage.PromptTokens {
		t.Errorf("streamed usage %+v, non-streamed %+v", acc.Usage, cc.Usage)
	}

	res, body := f.do(t, http.MethodPost, "/v1/chat/completions",
		`{"model":"m","stream":true,"temperature":0,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer sk-local"})
	if res.StatusCode != 200 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") || strings.Contains(string(body), "event:") {
		t.Errorf("raw stream %d:\n%s", res.StatusCode, body)
	}
}

func TestChatCompletionsTools(t *testing.T) {
	const call = `<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>`
	f := start(t, server.Config{}, []server.Model{engineModel(t, "m", call, enginetest.ModelConfig{})})
	c := f.openaiClient("any")
	ctx := context.Background()
	p := openai.ChatCompletionNewParams{
		Model:       "m",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
		Temperature: openai.Float(0),
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	}
	cc, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	msg := cc.Choices[0].Message
	if cc.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 {
		t.Fatalf("choice = %+v", cc.Choices[0])
	}
	tc := msg.ToolCalls[0]
	var args map[string]any
	if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil || args["city"] != "Paris" ||
		tc.Function.Name != "get_weather" || !strings.HasPrefix(tc.ID, "toolu_") {
		t.Errorf("tool call = %+v", tc)
	}

	stream := c.Chat.Completions.NewStreaming(ctx, p)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.ToolCalls; len(got) != 1 || got[0].Function.Arguments != tc.Function.Arguments && !sameJSON(got[0].Function.Arguments, tc.Function.Arguments) {
		t.Errorf("streamed tool calls = %+v", got)
	}

	// The call's result goes back as a tool message.
	p.Messages = append(p.Messages, msg.ToParam(), openai.ToolMessage(`{"temp_c":21}`, tc.ID))
	if _, err := c.Chat.Completions.New(ctx, p); err != nil {
		t.Errorf("tool result round trip: %v", err)
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func TestChatCompletionsErrors(t *testing.T) {
	f := start(t, server.Config{APIKeys: []string{"sk-local"}}, []server.Model{testModel("m", &scriptGenerator{reply: "x"})})
	ctx := context.Background()
	tests := []struct {
		name   string
		key    string
		params openai.ChatCompletionNewParams
		status int
		typ    string
	}{
		{"unknown model", "sk-local", openai.ChatCompletionNewParams{Model: "gpt-9",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 404, "not_found_error"},
		{"two choices", "sk-local", openai.ChatCompletionNewParams{Model: "m", N: openai.Int(2),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 400, "invalid_request_error"},
		{"temperature over 2", "sk-local", openai.ChatCompletionNewParams{Model: "m", Temperature: openai.Float(2.5),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 400, "invalid_request_error"},
		{"wrong key", "sk-other", openai.ChatCompletionNewParams{Model: "m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 401, "authentication_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.openaiClient(tt.key)
			_, err := c.Chat.Completions.New(ctx, tt.params)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || apiErr.Type != tt.typ || apiErr.Message == "" {
				t.Errorf("err = %v (%+v), want %d %s", err, apiErr, tt.status, tt.typ)
			}
		})
	}
}
