package sdkcompat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/pagination"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
	"github.com/pensieve-llm/pensieve/core"
)

// These tests check that the official Go SDK decodes everything claude
// produces: messages, every stream event framed as SSE, errors, models,
// pages, token counts and batches; and that claude decodes the requests
// the SDK builds.

func sdkProfile(t testing.TB, tmpl core.ChatTemplate) *claude.Profile {
	t.Helper()
	p, err := claude.NewProfile(claude.ModelSpec{ID: "fx-llama", Template: tmpl, Tokenizer: testmodel.ByteTokenizer{},
		ContextLength: 16384, MaxOutputTokens: 8192})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sdkRequest builds a request with the SDK, as a v2 client sends it.
func sdkRequest(t testing.TB) []byte {
	t.Helper()
	params := anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 4096,
		System:    []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages: []anthropic.MessageParam{
			{OfSystem: &anthropic.SystemMessageParam{Content: []anthropic.TextBlockParam{{Text: "Reminder: be exact."}}}},
			anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris?")),
			anthropic.NewAssistantMessage(anthropic.NewThinkingBlock("c2ln", "Need the tool."),
				anthropic.NewToolUseBlock("toolu_01", map[string]any{"city": "Paris"}, "get_weather")),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_01", "18°C, sunny", false)),
		},
		Tools: []anthropic.ToolUnionParam{anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
			Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}, "get_weather")},
		ToolChoice:    anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{}},
		Thinking:      anthropic.ThinkingConfigParamOfEnabled(1024),
		StopSequences: []string{"\n\nHuman:"},
	}
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSDKRequestDecodes(t *testing.T) {
	b := sdkRequest(t)
	req, err := claude.DecodeRequest(b, claude.Version20261021)
	if err != nil {
		t.Fatalf("%s\n%v", b, err)
	}
	if len(req.Messages) != 4 || req.Messages[0].Role != claude.RoleSystem || req.Thinking.BudgetTokens != 1024 || req.Tools[0].Name != "get_weather" {
		t.Errorf("decoded %+v", req)
	}
	if _, err := claude.DecodeCountTokensRequest(b, claude.Version20261021); err != nil {
		t.Errorf("count_tokens: %v", err)
	}
}

// sseResponse frames events as the server writes them.
func sseResponse(t testing.TB, events []claude.StreamEvent) *http.Response {
	t.Helper()
	var body []byte
	for _, e := range events {
		var err error
		if body, err = claude.AppendSSE(body, e); err != nil {
			t.Fatal(err)
		}
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}},
		Body: io.NopCloser(bytes.NewReader(body))}
}

// runModel streams a scripted output for req through a Stream.
func runModel(t testing.TB, tmpl core.ChatTemplate, reqBody []byte, output string, reason core.StopReason) ([]claude.StreamEvent, *claude.Message) {
	t.Helper()
	p := sdkProfile(t, tmpl)
	req, err := claude.DecodeRequest(reqBody, claude.Version20230601)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := p.Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []string
	for _, r := range output {
		chunks = append(chunks, string(r))
	}
	ch, _ := testmodel.Script{Chunks: chunks, Reason: reason, StopSequence: "STOP", Cached: 3}.Generate(context.Background(), &pr.Request)
	s := pr.NewStream(claude.StreamOptions{})
	events := s.Start()
	var acc claude.Accumulator
	for ev := range ch {
		events = append(events, s.Feed(ev)...)
	}
	for _, e := range events {
		if err := acc.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	m, err := acc.Message()
	if err != nil {
		t.Fatal(err)
	}
	return events, m
}

func TestSDKDecodesMessagesAndStreams(t *testing.T) {
	tools := `"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	tests := []struct {
		name   string
		tmpl   core.ChatTemplate
		body   string
		output string
		reason core.StopReason
	}{
		{"text", testmodel.Llama3{}, `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`, "Hello, wörld!", ""},
		{"stop sequence", testmodel.Llama3{}, `{"model":"m","max_tokens":100,"stop_sequences":["STOP"],"messages":[{"role":"user","content":"Hi"}]}`, "Counting: 1 2", core.StopSequence},
		{"tool use", testmodel.Hermes{}, `{"model":"m","max_tokens":100,` + tools + `,"messages":[{"role":"user","content":"Paris?"}]}`,
			"Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris \\\"FR\\\"\"}}\n</tool_call>", ""},
		{"thinking", testmodel.Hermes{}, `{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"Hi"}]}`,
			"<think>The user says hi.</think>Hi!", ""},
		{"max tokens", testmodel.Llama3{}, `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}`, "Cut", core.StopMaxTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, ours := runModel(t, tt.tmpl, []byte(tt.body), tt.output, tt.reason)

			// Non-streaming: our JSON into the SDK's Message.
			raw, err := json.Marshal(ours)
			if err != nil {
				t.Fatal(err)
			}
			var sdkMsg anthropic.Message
			if err := json.Unmarshal(raw, &sdkMsg); err != nil {
				t.Fatalf("SDK cannot decode %s: %v", raw, err)
			}
			checkSDKMessage(t, ours, &sdkMsg)

			// Streaming: SSE through the SDK's decoder and accumulator.
			stream := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(sseResponse(t, events)), nil)
			var acc anthropic.Message
			n := 0
			for stream.Next() {
				ev := stream.Current()
				if ev.Type != string(events[n].EventType()) {
					t.Errorf("event %d: SDK type %q, ours %q", n, ev.Type, events[n].EventType())
				}
				if err := acc.Accumulate(ev); err != nil {
					t.Fatalf("SDK accumulate event %d: %v", n, err)
				}
				n++
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(events) {
				t.Errorf("SDK saw %d events, we sent %d", n, len(events))
			}
			checkSDKMessage(t, ours, &acc)
		})
	}
}

// checkSDKMessage compares the SDK's view of a message with ours.
func checkSDKMessage(t testing.TB, ours *claude.Message, sdk *anthropic.Message) {
	t.Helper()
	if sdk.ID != ours.ID || string(sdk.Model) != ours.Model || string(sdk.StopReason) != string(ours.StopReason) || sdk.Role != "assistant" || sdk.Type != "message" {
		t.Errorf("SDK message header %q %q %q %q %q", sdk.ID, sdk.Model, sdk.StopReason, sdk.Role, sdk.Type)
	}
	if ours.StopSequence != nil && sdk.StopSequence != *ours.StopSequence || ours.StopSequence == nil && sdk.StopSequence != "" {
		t.Errorf("stop_sequence: SDK %q", sdk.StopSequence)
	}
	u := sdk.Usage
	if int(u.InputTokens) != ours.Usage.InputTokens || int(u.OutputTokens) != ours.Usage.OutputTokens ||
		int(u.CacheReadInputTokens) != ours.Usage.CacheReadInputTokens || int(u.CacheCreationInputTokens) != ours.Usage.CacheCreationInputTokens {
		t.Errorf("usage: SDK %+v, ours %+v", u, ours.Usage)
	}
	if len(sdk.Content) != len(ours.Content) {
		t.Fatalf("SDK has %d blocks, ours %d", len(sdk.Content), len(ours.Content))
	}
	for i, b := range ours.Content {
		sb := sdk.Content[i]
		if sb.Type != string(b.Type()) {
			t.Errorf("block %d type %q, ours %q", i, sb.Type, b.Type())
		}
		switch v := b.(type) {
		case claude.TextBlock:
			if sb.Text != v.Text {
				t.Errorf("text %q, ours %q", sb.Text, v.Text)
			}
		case claude.ThinkingBlock:
			if sb.Thinking != v.Thinking || sb.Signature != v.Signature || sb.Signature == "" {
				t.Errorf("thinking %q/%q, ours %q/%q", sb.Thinking, sb.Signature, v.Thinking, v.Signature)
			}
		case claude.ToolUseBlock:
			var a, b any
			if err := json.Unmarshal(sb.Input, &a); err != nil {
				t.Fatalf("SDK input %s: %v", sb.Input, err)
			}
			_ = json.Unmarshal(v.Input, &b)
			if sb.ID != v.ID || sb.Name != v.Name || !cmp.Equal(a, b) {
				t.Errorf("tool_use %s %s %s, ours %s %s %s", sb.ID, sb.Name, sb.Input, v.ID, v.Name, v.Input)
			}
		}
	}
}

func TestSDKDecodesStreamError(t *testing.T) {
	events := []claude.StreamEvent{
		claude.MessageStartEvent{Message: claude.Message{ID: "msg_1", Model: "m"}},
		claude.PingEvent{},
		claude.ErrorEvent{Error: claude.NewErrorResponse(core.Errorf(core.KindOverloaded, "engine", "full"), "").Error},
	}
	stream := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(sseResponse(t, events)), nil)
	n := 0
	for stream.Next() {
		n++
	}
	if n != 1 || stream.Err() == nil || !strings.Contains(stream.Err().Error(), "overloaded_error") {
		t.Errorf("events %d, err %v", n, stream.Err())
	}
}

func TestSDKDecodesErrors(t *testing.T) {
	tests := []struct {
		err     error
		typ     string
		message string
	}{
		{claude.ModelNotFound("claude-opus-9"), "not_found_error", "model: claude-opus-9"},
		{claude.PromptTooLong(70123, 65536), "invalid_request_error", "prompt is too long: 70123 tokens > 65536 maximum"},
		{claude.MaxTokensTooLarge(10000, 8192, "qwen"), "invalid_request_error", "max_tokens: 10000 > 8192, which is the maximum allowed number of output tokens for qwen"},
		{core.Errorf(core.KindOverloaded, "engine.Generate", "queue full"), "overloaded_error", "Overloaded"},
		{core.Errorf(core.KindInternal, "model.Forward", "nan"), "api_error", "Internal server error"},
		{core.Errorf(core.KindUnauthenticated, "auth", "invalid x-api-key"), "authentication_error", "invalid x-api-key"},
		{core.E(core.KindCanceled, "engine", context.DeadlineExceeded), "timeout_error", "Request timed out"},
	}
	for _, tt := range tests {
		env := claude.NewErrorResponse(tt.err, "req_123")
		raw, _ := json.Marshal(env)
		var sdkErr anthropic.Error
		if err := json.Unmarshal(raw, &sdkErr); err != nil {
			t.Fatal(err)
		}
		if string(sdkErr.Type()) != tt.typ || sdkErr.Message != tt.message {
			t.Errorf("%v: SDK sees %q %q in %s", tt.err, sdkErr.Type(), sdkErr.Message, raw)
		}
		if !strings.HasPrefix(string(raw), `{"type":"error","error":{"type":"`+tt.typ+`"`) || !strings.HasSuffix(string(raw), `"request_id":"req_123"}`) {
			t.Errorf("envelope %s", raw)
		}
	}
}

func TestSDKDecodesModelsAndCounts(t *testing.T) {
	created := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	models := []claude.ModelInfo{
		{ID: "qwen3-coder-30b", DisplayName: "Qwen3 Coder 30B", CreatedAt: created, MaxInputTokens: 65536, MaxTokens: 8192},
		{ID: "fx-llama", DisplayName: "Fixture", CreatedAt: created.Add(-time.Hour)},
	}
	q, err := claude.ParsePageQuery("1", "qwen3-coder-30b", "")
	if err != nil {
		t.Fatal(err)
	}
	page, err := claude.Paginate(models, func(m claude.ModelInfo) string { return m.ID }, q)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(page)
	var sdkPage pagination.Page[anthropic.ModelInfo]
	if err := json.Unmarshal(raw, &sdkPage); err != nil {
		t.Fatal(err)
	}
	if len(sdkPage.Data) != 1 || sdkPage.Data[0].ID != "fx-llama" || sdkPage.HasMore || sdkPage.FirstID != "fx-llama" || sdkPage.Data[0].Type != "model" {
		t.Errorf("SDK page %s", raw)
	}
	raw, _ = json.Marshal(models[0])
	var sdkModel anthropic.ModelInfo
	if err := json.Unmarshal(raw, &sdkModel); err != nil {
		t.Fatal(err)
	}
	if !sdkModel.CreatedAt.Equal(created) || sdkModel.MaxTokens != 8192 || sdkModel.DisplayName != "Qwen3 Coder 30B" {
		t.Errorf("SDK model %+v from %s", sdkModel, raw)
	}
	raw, _ = json.Marshal(claude.CountTokensResponse{InputTokens: 2095})
	var count anthropic.MessageTokensCount
	if err := json.Unmarshal(raw, &count); err != nil || count.InputTokens != 2095 {
		t.Errorf("count %+v %v", count, err)
	}
}

func TestSDKDecodesBatches(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b := claude.NewMessageBatch(2, now)
	raw, _ := json.Marshal(b)
	var sdkBatch anthropic.MessageBatch
	if err := json.Unmarshal(raw, &sdkBatch); err != nil {
		t.Fatal(err)
	}
	if sdkBatch.ID != b.ID || !strings.HasPrefix(sdkBatch.ID, "msgbatch_") || sdkBatch.ProcessingStatus != "in_progress" ||
		sdkBatch.RequestCounts.Processing != 2 || !sdkBatch.ExpiresAt.Equal(now.Add(24*time.Hour)) || sdkBatch.JSON.EndedAt.Valid() {
		t.Errorf("SDK batch %+v from %s", sdkBatch, raw)
	}
	if !strings.Contains(string(raw), `"ended_at":null`) || !strings.Contains(string(raw), `"results_url":null`) {
		t.Errorf("null fields missing: %s", raw)
	}
	msg := claude.Message{ID: "msg_1", Model: "m", Content: []claude.Block{claude.TextBlock{Text: "4"}}, StopReason: claude.StopEndTurn,
		Usage: claude.Usage{InputTokens: 3, OutputTokens: 1, ServiceTier: "batch"}}
	errEnv := claude.NewErrorResponse(core.E(core.KindInvalid, "x", &claude.APIError{Path: "max_tokens", Reason: "Field required"}), "req_1")
	var lines []byte
	for _, l := range []claude.BatchResultLine{
		{CustomID: "q-1", Result: claude.BatchResult{Type: claude.BatchSucceeded, Message: &msg}},
		{CustomID: "q-2", Result: claude.BatchResult{Type: claude.BatchErrored, Error: &errEnv}},
		{CustomID: "q-3", Result: claude.BatchResult{Type: claude.BatchCanceled}},
	} {
		var err error
		if lines, err = claude.AppendJSONL(lines, l); err != nil {
			t.Fatal(err)
		}
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(lines), "\n"), "\n") {
		var r anthropic.MessageBatchIndividualResponse
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			if r.Result.Type != "succeeded" || r.Result.Message.Content[0].Text != "4" || r.Result.Message.Usage.ServiceTier != "batch" {
				t.Errorf("line %s", line)
			}
		case 1:
			if r.Result.Type != "errored" || r.Result.Error.Error.Message != "max_tokens: Field required" {
				t.Errorf("line %s", line)
			}
		case 2:
			if r.Result.Type != "canceled" || r.CustomID != "q-3" {
				t.Errorf("line %s", line)
			}
		}
	}
	raw, _ = json.Marshal(claude.DeletedBatch{ID: b.ID, Type: "message_batch_deleted"})
	var del anthropic.DeletedMessageBatch
	if err := json.Unmarshal(raw, &del); err != nil || del.ID != b.ID || del.Type != "message_batch_deleted" {
		t.Errorf("deleted %+v %v", del, err)
	}
}
