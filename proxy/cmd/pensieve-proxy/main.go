// Command pensieve-proxy is an Anthropic-compatible gateway in front of
// Pensieve and OpenAI-compatible servers. Run `pensieve-proxy --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pensieve-llm/pensieve/proxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second signal, after the graceful shutdown began, ends the process.
	context.AfterFunc(ctx, stop)
	err := proxy.NewApp().RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pensieve-proxy:", err)
		os.Exit(proxy.ExitCode(err))
	}
}
