// Command pensieve-cli runs local language models behind the Anthropic
// Messages API. Run `pensieve-cli --help` for its commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pensieve-llm/pensieve/cli/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx (graceful shutdown); restoring the default
	// handlers then lets a second SIGINT or SIGTERM end the process at once.
	context.AfterFunc(ctx, stop)
	err := app.New(os.Stdout, os.Stderr).RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pensieve-cli:", err)
	}
	os.Exit(app.ExitCode(err))
}
