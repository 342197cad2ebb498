// Command pensieve-demo shows Pensieve end to end: it makes sure there is a
// model to serve (the configured one, or a small model with random weights
// synthesized into a cache directory), starts `pensieve-cli serve` on a
// free port, sends one request and stops the server with SIGINT, checking
// that it exits cleanly.
//
// By default the request is streamed with the official Anthropic Go SDK and
// its text printed as it arrives (`make demo`). With -claude it runs Claude
// Code instead (`claude -p PROMPT`, `make e2e`), pointed at the server with
// ANTHROPIC_BASE_URL.
//
//	pensieve-demo -cli bin/pensieve-cli -cache .cache/demo
//	pensieve-demo -cli bin/pensieve-cli -claude .cache/e2e/node_modules/.bin/claude \
//	    -vocab ../shared/fixtures/models/vocab-llama3.gguf -context 131072
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	cli       string        // pensieve-cli binary
	model     string        // model to serve; "" means configured or synthesized
	cache     string        // where synthesized models are kept
	preset    string        // synth preset of the demo model
	vocab     string        // GGUF file whose vocabulary the demo model copies; "" for the byte vocabulary
	context   int           // widen the synthesized model's context to this many positions; 0 keeps it
	answer    string        // rig the synthesized model to answer this; "" keeps its random weights
	prompt    string        // the question
	maxTokens int           // the answer's limit
	claude    string        // Claude Code binary; "" streams with the Go SDK instead
	timeout   time.Duration // bound on the whole run
	serveArgs stringList    // extra arguments for `pensieve-cli serve`
}

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o options
	flag.StringVar(&o.cli, "cli", defaultCLI(), "pensieve-cli `binary`")
	flag.StringVar(&o.model, "model", "", "model `FILE` to serve (default: the configured models, else a synthesized demo model)")
	flag.StringVar(&o.cache, "cache", defaultCache(), "`DIR` for the synthesized demo model")
	flag.StringVar(&o.preset, "preset", "tiny", "synth `PRESET` of the demo model")
	flag.StringVar(&o.vocab, "vocab", "", "GGUF `FILE` whose tokenizer the demo model copies (default: a byte vocabulary)")
	flag.IntVar(&o.context, "context", 0, "widen the demo model's context to `N` positions (needed for Claude Code's long prompts)")
	flag.StringVar(&o.answer, "answer", "", "rig the synthesized model's weights to answer `TEXT` to anything, then end its turn")
	flag.StringVar(&o.prompt, "prompt", "Write a haiku about memory.", "the question to ask")
	flag.IntVar(&o.maxTokens, "max-tokens", 48, "answer limit in `TOKENS` (with -claude: CLAUDE_CODE_MAX_OUTPUT_TOKENS)")
	flag.StringVar(&o.claude, "claude", "", "run Claude Code `BINARY` with -p PROMPT instead of the Go SDK")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after `D`")
	flag.Var(&o.serveArgs, "serve-arg", "extra `ARG` for pensieve-cli serve; repeat for more")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "pensieve-demo: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	err := run(ctx, o, os.Stdout, os.Stderr)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pensieve-demo:", err)
		os.Exit(1)
	}
}

// defaultCLI is pensieve-cli next to this binary when it is there, else
// the one on PATH.
func defaultCLI() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "pensieve-cli")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "pensieve-cli"
}

// defaultCache is the user's cache directory for Pensieve's demo models.
func defaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "pensieve", "demo")
	}
	return filepath.Join(os.TempDir(), "pensieve-demo")
}

// run prepares the model, serves it, asks once and stops the server.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	modelArgs, synthetic, err := prepareModel(ctx, o, stderr)
	if err != nil {
		return err
	}
	args := append(append(modelArgs, o.serveArgs...), "--log-level", "warn")
	srv, err := startServer(ctx, o.cli, args)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pensieve-demo: pensieve-cli serve is listening on %s\n", srv.url)

	var askErr error
	if o.claude != "" {
		askErr = askClaudeCode(ctx, o, srv.url, stdout, stderr)
	} else {
		askErr = askSDK(ctx, o, srv.url, stdout, stderr)
	}
	stopErr := srv.stop(30 * time.Second)
	if stopErr == nil {
		fmt.Fprintln(stderr, "pensieve-demo: server stopped cleanly (SIGINT, exit status 0)")
	}
	if askErr == nil && synthetic && o.answer != "" {
		fmt.Fprintf(stdout, "\nNote: the model has weights rigged to answer %q to anything; it exercises the whole stack, not a language model.\n", o.answer)
	}
	if askErr == nil && synthetic && o.answer == "" {
		fmt.Fprintln(stdout, "\nNote: the demo model has random weights, so the answer above is gibberish. To chat with a real model,\n"+
			"pull one (e.g. pensieve-cli models pull bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf),\n"+
			"serve it (pensieve-cli serve --model Llama-3.2-1B-Instruct-Q4_K_M.gguf) and point Claude Code at it:\n"+
			"ANTHROPIC_BASE_URL=http://127.0.0.1:8080 ANTHROPIC_API_KEY=local claude")
	}
	if askErr != nil && srv.logs.Len() > 0 {
		fmt.Fprintf(stderr, "pensieve-demo: server log:\n%s", srv.logs.String())
	}
	return errors.Join(askErr, stopErr)
}
