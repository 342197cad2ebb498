package claude_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
	"github.com/pensieve-llm/pensieve/core"
)

// newProfile returns the profile of a fixture-like model: the 261-token
// byte vocabulary and a Llama 3 chat template without tool support.
func newProfile() *claude.Profile {
	p, err := claude.NewProfile(claude.ModelSpec{
		ID:              "fx-llama",
		Template:        testmodel.Llama3{},
		Tokenizer:       testmodel.ByteTokenizer{},
		ContextLength:   4096,
		MaxOutputTokens: 1024,
	})
	if err != nil {
		panic(err)
	}
	return p
}

func ExampleParseVersion() {
	v, _ := claude.ParseVersion("") // no anthropic-version header
	fmt.Println(v)
	_, err := claude.ParseVersion("2024-02-30")
	fmt.Println(claude.ErrorMessage(err))
	// Output:
	// 2023-06-01
	// anthropic-version: "2024-02-30" is not a supported API version; use 2023-06-01 or 2026-10-21
}

func ExampleDecodeRequest() {
	req, err := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":64,"system":"Be brief.",
		"messages":[{"role":"user","content":"Hi"}],"unknown_beta_field":true}`), claude.Version20261021)
	fmt.Println(req.Model, req.MaxTokens, req.System[0].Text, err)

	_, err = claude.DecodeRequest([]byte(`{"model":"fx-llama","messages":[{"role":"user","content":"Hi"}]}`), claude.Version20261021)
	fmt.Println(claude.ErrorMessage(err), core.KindOf(err))

	_, err = claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":64,"temperature":0.5,
		"messages":[{"role":"user","content":"Hi"}]}`), claude.Version20261021)
	fmt.Println(claude.ErrorMessage(err))
	// Output:
	// fx-llama 64 Be brief. <nil>
	// max_tokens: Field required invalid
	// temperature: Extra inputs are not permitted: sampling parameters were removed in API version 2026-10-21
}

func ExampleDecodeCountTokensRequest() {
	req, _ := claude.DecodeCountTokensRequest([]byte(`{"model":"fx-llama","messages":[{"role":"user","content":"Hi"}]}`), claude.Version20230601)
	n, _ := newProfile().CountTokens(req)
	fmt.Println(n)
	// Output: 25
}

func ExampleNewProfile() {
	p := newProfile()
	fmt.Println(p.ID(), p.ToolFormat(), p.MaxOutputTokens())
	// Output: fx-llama generic 1024
}

func ExampleProfile_Prepare() {
	req, _ := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":16,
		"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}`), claude.Version20230601)
	pr, _ := newProfile().Prepare(req)
	fmt.Printf("%q\n", pr.Prompt)
	fmt.Println(pr.InputTokens(), pr.Request.MaxTokens)

	big, _ := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":5000,"messages":[{"role":"user","content":"Hi"}]}`), claude.Version20230601)
	_, err := newProfile().Prepare(big)
	fmt.Println(claude.ErrorMessage(err))
	// Output:
	// "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello"
	// 30 16
	// max_tokens: 5000 > 1024, which is the maximum allowed number of output tokens for fx-llama
}

func ExampleProfile_CountTokens() {
	p := newProfile()
	req, _ := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}`), claude.Version20230601)
	n, _ := p.CountTokens(req)
	pr, _ := p.Prepare(req)
	fmt.Println(n == pr.InputTokens())
	// Output: true
}

func ExampleStream() {
	req, _ := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":64,"stream":true,
		"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
		"messages":[{"role":"user","content":"Weather in Paris?"}]}`), claude.Version20230601)
	pr, _ := newProfile().Prepare(req)
	events, _ := testmodel.Script{Chunks: []string{"Checking.", "<tool_call>{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Paris\"}}</tool_call>"}}.
		Generate(context.Background(), &pr.Request)

	n := 0
	s := pr.NewStream(claude.StreamOptions{MessageID: "msg_1", NewToolID: func() string { n++; return fmt.Sprint("toolu_", n) }})
	var out []byte
	for _, e := range s.Start() {
		out, _ = claude.AppendSSE(out, e)
	}
	for ev := range events {
		for _, e := range s.Feed(ev) {
			out, _ = claude.AppendSSE(out, e)
		}
	}
	fmt.Print(string(out))
	// Output:
	// event: message_start
	// data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"fx-llama","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":624,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":0,"service_tier":"standard"}}}
	//
	// event: content_block_start
	// data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}
	//
	// event: content_block_delta
	// data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}
	//
	// event: content_block_stop
	// data: {"type":"content_block_stop","index":0}
	//
	// event: content_block_start
	// data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}
	//
	// event: content_block_delta
	// data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Paris\"}"}}
	//
	// event: content_block_stop
	// data: {"type":"content_block_stop","index":1}
	//
	// event: message_delta
	// data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":624,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":87}}
	//
	// event: message_stop
	// data: {"type":"message_stop"}
}

func ExampleCollect() {
	req, _ := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":64,"stop_sequences":["!"],
		"messages":[{"role":"user","content":"Hi"}]}`), claude.Version20230601)
	pr, _ := newProfile().Prepare(req)
	events, _ := testmodel.Script{Chunks: []string{"Hello", " there"}, Reason: core.StopSequence, StopSequence: "!"}.
		Generate(context.Background(), &pr.Request)
	m, err := claude.Collect(context.Background(), events, pr.NewStream(claude.StreamOptions{}))
	fmt.Println(m.Content[0].(claude.TextBlock).Text, m.StopReason, *m.StopSequence, m.Usage.OutputTokens, err)
	// Output: Hello there stop_sequence ! 11 <nil>
}

func ExampleAccumulator() {
	var acc claude.Accumulator
	for _, e := range []claude.StreamEvent{
		claude.MessageStartEvent{Message: claude.Message{ID: "msg_1", Model: "fx-llama"}},
		claude.ContentBlockStartEvent{Index: 0, ContentBlock: claude.TextBlock{}},
		claude.ContentBlockDeltaEvent{Index: 0, Delta: claude.TextDelta{Text: "Hi"}},
		claude.ContentBlockDeltaEvent{Index: 0, Delta: claude.TextDelta{Text: "!"}},
		claude.ContentBlockStopEvent{Index: 0},
		claude.MessageDeltaEvent{Delta: claude.MessageDelta{StopReason: claude.StopEndTurn}, Usage: claude.DeltaUsage{InputTokens: 5, OutputTokens: 2}},
		claude.MessageStopEvent{},
	} {
		if err := acc.Add(e); err != nil {
			fmt.Println(err)
		}
	}
	m, _ := acc.Message()
	fmt.Println(m.Content[0].(claude.TextBlock).Text, m.StopReason, m.Usage.OutputTokens)
	// Output: Hi! end_turn 2
}

func ExamplePrepared_EmptyCompletion() {
	req, _ := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":0,"messages":[{"role":"user","content":"Hi"}]}`), claude.Version20230601)
	pr, _ := newProfile().Prepare(req)
	ch := make(chan core.Event, 1)
	ch <- pr.EmptyCompletion() // no engine call for max_tokens 0
	m, _ := claude.Collect(context.Background(), ch, pr.NewStream(claude.StreamOptions{}))
	fmt.Println(len(m.Content), m.StopReason, m.Usage.InputTokens)
	// Output: 0 max_tokens 25
}

func ExampleMarshalEvent() {
	b, _ := claude.MarshalEvent(claude.ContentBlockDeltaEvent{Index: 2, Delta: claude.InputJSONDelta{PartialJSON: `{"pa`}})
	fmt.Println(string(b))
	// Output: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"pa"}}
}

func ExampleDecodeStreamEvent() {
	ev, _ := claude.DecodeStreamEvent([]byte(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`))
	fmt.Printf("%s %#v\n", ev.EventType(), ev.(claude.ContentBlockDeltaEvent).Delta)
	_, err := claude.DecodeStreamEvent([]byte(`{"type":"telepathy"}`))
	fmt.Println(core.KindOf(err))
	// Output:
	// content_block_delta claude.ThinkingDelta{Thinking:"hmm"}
	// invalid
}

func ExampleNewErrorResponse() {
	for _, err := range []error{
		claude.ModelNotFound("claude-opus-9"),
		claude.PromptTooLong(70123, 65536),
		core.Errorf(core.KindOverloaded, "engine.Generate", "queue full"),
	} {
		env := claude.NewErrorResponse(err, "req_011CX3pNa8TbVyKe5RwQm2Dz")
		fmt.Println(env.Error.Type, "|", env.Error.Message)
	}
	// Output:
	// not_found_error | model: claude-opus-9
	// invalid_request_error | prompt is too long: 70123 tokens > 65536 maximum
	// overloaded_error | Overloaded
}

func ExampleErrorTypeOf() {
	fmt.Println(claude.ErrorTypeOf(core.KindContextLength), claude.ErrorTypeOf(core.KindRateLimited))
	// Output: invalid_request_error rate_limit_error
}

func ExampleErrorMessage() {
	err := fmt.Errorf("handling: %w", claude.MaxTokensTooLarge(10000, 8192, "qwen3-coder-30b"))
	fmt.Println(claude.ErrorMessage(err))
	var ae *claude.APIError
	fmt.Println(errors.As(err, &ae), ae.Path)
	// Output:
	// max_tokens: 10000 > 8192, which is the maximum allowed number of output tokens for qwen3-coder-30b
	// true max_tokens
}

func ExamplePaginate() {
	ids := []string{"c", "b", "a"} // newest first
	q, _ := claude.ParsePageQuery("2", "", "")
	for {
		page, _ := claude.Paginate(ids, func(s string) string { return s }, q)
		fmt.Println(page.Data, page.HasMore, *page.FirstID, *page.LastID)
		if !page.HasMore {
			break
		}
		q.AfterID = *page.LastID
	}
	_, err := claude.ParsePageQuery("5000", "", "")
	fmt.Println(claude.ErrorMessage(err))
	// Output:
	// [c b] true c b
	// [a] false a a
	// limit: Input should be less than or equal to 1000
}

func ExampleDecodeBatchCreate() {
	b, _ := claude.DecodeBatchCreate([]byte(`{"requests":[{"custom_id":"q-1","params":{"model":"fx-llama","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}}]}`))
	fmt.Println(len(b.Requests), b.Requests[0].CustomID)
	_, err := claude.DecodeBatchCreate([]byte(`{"requests":[{"custom_id":"a","params":{}},{"custom_id":"a","params":{}}]}`))
	fmt.Println(claude.ErrorMessage(err))
	// Output:
	// 1 q-1
	// requests.1.custom_id: custom_id 'a' is also used by requests.0; custom_id values must be unique
}

func ExampleAppendJSONL() {
	line, _ := claude.AppendJSONL(nil, claude.BatchResultLine{CustomID: "q-3", Result: claude.BatchResult{Type: claude.BatchCanceled}})
	fmt.Print(string(line))
	// Output: {"custom_id":"q-3","result":{"type":"canceled"}}
}

func ExampleNewMessageBatch() {
	b := claude.NewMessageBatch(3, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	fmt.Println(b.ProcessingStatus, b.RequestCounts.Processing, b.ExpiresAt.Format(time.RFC3339), b.ResultsURL == nil)
	// Output: in_progress 3 2026-11-26T10:00:00Z true
}

func ExampleNewID() {
	id := claude.NewID("toolu_")
	fmt.Println(id[:6], len(id))
	// Output: toolu_ 30
}

// A forced tool call on a model with random weights: the constraint makes
// the output a call whose input is valid against the tool's schema.
func ExampleProfile_Prepare_forcedToolUse() {
	req, _ := claude.DecodeRequest([]byte(`{"model":"fx-llama","max_tokens":200,
		"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"days":{"type":"integer"}},"required":["city","days"]}}],
		"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"Weather?"}]}`), claude.Version20230601)
	pr, _ := newProfile().Prepare(req)
	events, _ := testmodel.Random{Tok: testmodel.ByteTokenizer{}, Seed: 42, Temperature: 1}.Generate(context.Background(), &pr.Request)
	m, _ := claude.Collect(context.Background(), events, pr.NewStream(claude.StreamOptions{}))
	call := m.Content[0].(claude.ToolUseBlock)
	err := testmodel.Validate([]byte(`{"type":"object","properties":{"city":{"type":"string","maxLength":12},"days":{"type":"integer"}},"required":["city","days"]}`), call.Input)
	fmt.Println(len(m.Content), call.Name, m.StopReason, err)
	// Output: 1 get_weather tool_use <nil>
}
