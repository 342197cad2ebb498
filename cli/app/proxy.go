package app

import (
	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/proxy"
)

func init() { register(proxyCommand) }

// proxyCommand is pensieve-proxy as a subcommand; configuration errors exit
// with ExitUsage as they do in the standalone binary.
func proxyCommand() *cli.Command {
	c := proxy.Command()
	action := c.Action
	c.Action = func(ctx *cli.Context) error {
		err := action(ctx)
		if err != nil && proxy.ExitCode(err) == ExitUsage {
			return UsageErrorf("%v", err)
		}
		return err
	}
	return c
}
