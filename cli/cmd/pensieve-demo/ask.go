package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// apiKey is the key the demo sends: ANTHROPIC_API_KEY when set (a server
// configured with keys needs one of them), else any value, which an open
// server accepts.
func apiKey() string {
	if k := os.Getenv("ANTHROPIC_API_KEY"); k != "" {
		return k
	}
	return "pensieve-demo"
}

// askSDK lists the server's models and streams one answer from the first
// with the official Go SDK, printing the text as it arrives.
func askSDK(ctx context.Context, o options, url string, stdout, stderr io.Writer) error {
	client := anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey(apiKey()), option.WithMaxRetries(0))
	models, err := client.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil {
		return fmt.Errorf("GET /v1/models: %w", err)
	}
	if len(models.Data) == 0 {
		return errors.New("GET /v1/models: the server lists no model")
	}
	model := models.Data[0].ID
	fmt.Fprintf(stdout, "model: %s\n> %s\n", model, o.prompt)

	stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
		Model:     model,
		MaxTokens: int64(o.maxTokens),
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(o.prompt))},
	})
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		ev := stream.Current()
		if err := msg.Accumulate(ev); err != nil {
			return fmt.Errorf("stream: %w", err)
		}
		if d, ok := ev.AsAny().(anthropic.ContentBlockDeltaEvent); ok && d.Delta.Type == "text_delta" {
			fmt.Fprint(stdout, d.Delta.Text)
		}
	}
	if err := stream.Err(); err != nil {
		return fmt.Errorf("POST /v1/messages (stream): %w", err)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stderr, "pensieve-demo: stop_reason %s, %d input and %d output tokens\n",
		msg.StopReason, msg.Usage.InputTokens, msg.Usage.OutputTokens)
	if msg.Usage.OutputTokens == 0 {
		return errors.New("the answer has no tokens")
	}
	return nil
}

// askClaudeCode runs Claude Code non-interactively (`claude -p PROMPT`)
// against the server, in a fresh HOME so that no user settings or
// credentials take part. It succeeds when claude exits 0 with some output.
//
// Claude Code asks for max_tokens 64000 by default; CLAUDE_CODE_MAX_OUTPUT_TOKENS
// lowers it to -max-tokens, since a random-weight model rarely samples an
// end-of-turn token and would otherwise write for a long time. Its request
// timeout (API_TIMEOUT_MS) is raised to -timeout: its first prompt (system
// prompt and tool definitions) is about 18,000 Llama 3 tokens, which takes
// minutes to prefill on a small CPU.
func askClaudeCode(ctx context.Context, o options, url string, stdout, stderr io.Writer) error {
	home, err := os.MkdirTemp("", "pensieve-e2e-home-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, o.claude, "-p", o.prompt)
	cmd.Env = append(cleanEnv(),
		"HOME="+home,
		"ANTHROPIC_BASE_URL="+url,
		"ANTHROPIC_API_KEY="+apiKey(),
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		fmt.Sprintf("CLAUDE_CODE_MAX_OUTPUT_TOKENS=%d", o.maxTokens),
		fmt.Sprintf("API_TIMEOUT_MS=%d", o.timeout.Milliseconds()),
	)
	cmd.Stdout = io.MultiWriter(&out, stdout)
	cmd.Stderr = stderr
	fmt.Fprintf(stderr, "pensieve-demo: %s -p %q (its long first prompt may take minutes to prefill)\n", o.claude, o.prompt)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("claude -p: %w", err)
	}
	if strings.TrimSpace(out.String()) == "" {
		return errors.New("claude -p exited 0 but printed nothing")
	}
	fmt.Fprintf(stderr, "\npensieve-demo: Claude Code completed a turn against Pensieve (%d bytes of output)\n", out.Len())
	return nil
}

// cleanEnv is the environment without the variables that would point Claude
// Code elsewhere or at the user's account.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "ANTHROPIC_") || strings.HasPrefix(k, "CLAUDE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
