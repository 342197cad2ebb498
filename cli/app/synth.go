package app

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pensieve-llm/pensieve/model/synth"
	"github.com/urfave/cli/v2"
)

func init() { registerModels(modelsSynthCommand) }

func modelsSynthCommand() *cli.Command {
	return &cli.Command{
		Name:  "synth",
		Usage: "write a GGUF model with random weights (for tests, benchmarks and demos)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "arch", Value: "llama", Usage: "architecture: " + strings.Join(synth.Architectures, ", ")},
			&cli.StringFlag{Name: "preset", Value: "tiny", Usage: "shape: " + strings.Join(synth.Presets(), ", ")},
			&cli.StringFlag{Name: "type", Value: "f32", Usage: "file type: " + strings.Join(synth.FileTypes(), ", ")},
			&cli.StringFlag{Name: "vocab", Usage: "GGUF `FILE` to copy the tokenizer from (default: a 261-token byte vocabulary)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed; equal flags give equal files"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "`OUT` file to write (required)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return UsageErrorf("models synth: unexpected arguments %q", c.Args().Slice())
			}
			o := synth.Options{
				Arch: c.String("arch"), Preset: c.String("preset"), Type: strings.ToLower(c.String("type")),
				VocabFile: c.String("vocab"), Seed: c.Uint64("seed"),
			}
			for _, check := range []struct {
				flag, val string
				valid     []string
			}{
				{"arch", o.Arch, synth.Architectures},
				{"preset", o.Preset, synth.Presets()},
				{"type", o.Type, synth.FileTypes()},
			} {
				if !slices.Contains(check.valid, check.val) {
					return UsageErrorf("models synth: --%s %q: want one of %s", check.flag, check.val, strings.Join(check.valid, ", "))
				}
			}
			out := c.String("output")
			if out == "" {
				return UsageErrorf("models synth: -o OUT is required")
			}
			if err := synth.Write(c.Context, out, o); err != nil {
				return err
			}
			fi, err := os.Stat(out)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %s %s %s, %d bytes\n", out, o.Arch, o.Preset, o.Type, fi.Size())
			return err
		},
	}
}
