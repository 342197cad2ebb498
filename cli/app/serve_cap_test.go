package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// TestServeMaxOutputTokens: models[N].max_output_tokens caps max_tokens
// with the upstream wording; the cap itself is served.
func TestServeMaxOutputTokens(t *testing.T) {
	isolateLocal(t)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	toml := fmt.Sprintf("[[models]]\nid = \"capped\"\npath = %q\nmax_output_tokens = 16\n", fixtureModel(t, "fx-llama-f32.gguf"))
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--config", cfg, "--threads", "1", "--slots", "1")
	client := sdkClient(s.url)
	params := func(n int64) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: "capped", MaxTokens: n,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
	}
	_, err := client.Messages.New(context.Background(), params(17))
	if err == nil || !strings.Contains(err.Error(), "max_tokens: 17 ") || !strings.Contains(err.Error(), "16, which is the maximum allowed number of output tokens") || !strings.Contains(err.Error(), "400") {
		t.Errorf("max_tokens over the cap: %v, want a 400 naming 17 > 16", err)
	}
	msg, err := client.Messages.New(context.Background(), params(16))
	if err != nil {
		t.Fatalf("max_tokens at the cap: %v", err)
	}
	if msg.Usage.OutputTokens > 16 {
		t.Errorf("generated %d tokens past the cap", msg.Usage.OutputTokens)
	}
}
