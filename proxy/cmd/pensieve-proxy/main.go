// Command pensieve-proxy is an Anthropic-compatible gateway in front of
// Pensieve and OpenAI-compatible servers. Run `pensieve-proxy --help`.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:  "pensieve-proxy",
		Usage: "an Anthropic-compatible gateway in front of Pensieve and OpenAI-compatible servers",
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "pensieve-proxy:", err)
		os.Exit(1)
	}
}
