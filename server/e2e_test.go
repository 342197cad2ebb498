package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/model"
	"github.com/pensieve-llm/pensieve/server"
	"github.com/pensieve-llm/pensieve/server/internal/fixtures"
)

// fixtureModel serves the synthetic llama fixture (random weights, byte
// vocabulary, Llama 3 chat template) through model.Open and the real
// engine. It skips when the fixtures are absent.
func fixtureModel(t *testing.T, id string) server.Model {
	t.Helper()
	l, err := model.Open(fixtures.Path(t, "models", "fx-llama-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(l.Model, l.Tokenizer, engine.WithSlots(2))
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Close(ctx); err != nil {
			t.Errorf("engine Close: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("model Close: %v", err)
		}
	})
	return server.Model{ID: id, Generator: eng, Tokenizer: l.Tokenizer, Template: l.Template,
		ContextLength: eng.Stats().Context}
}

// TestEndToEndFixtureModel runs the spec's core checks against a real GGUF
// model: greedy streamed and non-streamed text agree, count_tokens equals
// the prompt usage, a repeated prompt is served from the prefix cache, and
// the metrics see the engine.
func TestEndToEndFixtureModel(t *testing.T) {
	f := start(t, server.Config{}, []server.Model{fixtureModel(t, "fx-llama")})
	c := f.client()
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model: "fx-llama", MaxTokens: 24,
		System:   []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Name three colours."))},
	}
	msg, err := c.Messages.New(ctx, params, greedy...)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Model != "fx-llama" || msg.Usage.OutputTokens == 0 || msg.Usage.OutputTokens > 24 {
		t.Errorf("message = %+v", msg)
	}
	if msg.StopReason != "end_turn" && msg.StopReason != "max_tokens" {
		t.Errorf("stop_reason = %q", msg.StopReason)
	}

	count, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
		Model: "fx-llama", System: anthropic.MessageCountTokensParamsSystemUnion{OfTextBlockArray: params.System},
		Messages: params.Messages,
	})
	if err != nil {
		t.Fatal(err)
	}
	u := msg.Usage
	if got := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens; got != count.InputTokens {
		t.Errorf("prompt usage %d, count_tokens %d", got, count.InputTokens)
	}

	stream := c.Messages.NewStreaming(ctx, params, greedy...)
	defer stream.Close()
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if textOf(&acc) != textOf(msg) || acc.StopReason != msg.StopReason || acc.Usage.OutputTokens != msg.Usage.OutputTokens {
		t.Errorf("streamed %q (%s, %d) != non-streamed %q (%s, %d)", textOf(&acc), acc.StopReason, acc.Usage.OutputTokens,
			textOf(msg), msg.StopReason, msg.Usage.OutputTokens)
	}
	if acc.Usage.CacheReadInputTokens == 0 {
		t.Errorf("the repeated prompt reused no cached tokens: %+v", acc.Usage)
	}

	_, body := f.do(t, http.MethodGet, "/metrics", "", nil)
	for _, want := range []string{`pensieve_generations_total{model="fx-llama",reason=`, `pensieve_kv_slots{model="fx-llama"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), `pensieve_prefix_cache_hit_tokens_total{model="fx-llama"} 0`+"\n") {
		t.Error("the engine reports no prefix cache hits")
	}
}
