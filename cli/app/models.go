package app

import (
	"sort"

	"github.com/urfave/cli/v2"
)

// modelsCommands holds the constructors of the `models` subcommands
// (inspect, synth, pull, list, rm); each registers itself from init.
var modelsCommands []func() *cli.Command

// registerModels adds a `models` subcommand constructor; call it from init.
func registerModels(c func() *cli.Command) { modelsCommands = append(modelsCommands, c) }

func init() { register(modelsCommand) }

func modelsCommand() *cli.Command {
	subs := make([]*cli.Command, 0, len(modelsCommands))
	for _, c := range modelsCommands {
		subs = append(subs, c())
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	return &cli.Command{
		Name:        "models",
		Usage:       "inspect, synthesize, pull, list and remove model files",
		Subcommands: subs,
	}
}
