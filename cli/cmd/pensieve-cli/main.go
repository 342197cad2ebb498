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
	err := app.New(os.Stdout, os.Stderr).RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pensieve-cli:", err)
	}
	os.Exit(app.ExitCode(err))
}
