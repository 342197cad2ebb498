package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/config"
)

func init() { register(configCommand) }

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "show, check and create the configuration",
		Subcommands: []*cli.Command{
			configShowCommand(),
			configValidateCommand(),
			configInitCommand(),
		},
	}
}

func configShowCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "print the effective configuration (defaults < file < profile < PENSIEVE_* environment < flags), secrets redacted",
		Description: "Accepts the same configuration flags as serve, so their effect can be seen:\n" +
			"   pensieve-cli config show --config pensieve.toml --addr 0.0.0.0:9000",
		Flags: append(serverFlags(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of TOML"},
		),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return UsageErrorf("config show: unexpected arguments %q", c.Args().Slice())
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			format := "toml"
			if c.Bool("json") {
				format = "json"
			}
			b, err := cfg.Marshal(format)
			if err != nil {
				return err
			}
			if format == "toml" {
				fmt.Fprintf(c.App.Writer, "# effective configuration; file: %s; profile: %s; secrets redacted\n",
					orNone(cfg.Source.File), orNone(cfg.Source.Profile))
			}
			_, err = c.App.Writer.Write(b)
			return err
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func configValidateCommand() *cli.Command {
	return &cli.Command{
		Name:         "validate",
		Usage:        "check a configuration file; exit 2 naming each bad key",
		ArgsUsage:    "[FILE]",
		Flags:        globalFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			opts := configOptions(c)
			switch {
			case c.NArg() > 1:
				return UsageErrorf("config validate: want at most one FILE, got %d arguments", c.NArg())
			case c.NArg() == 1:
				opts.File = c.Args().First()
			}
			cfg, err := config.Load(opts)
			if err != nil {
				return UsageErrorf("%w", err)
			}
			if cfg.Source.File == "" {
				return UsageErrorf("config validate: no configuration file: name one with --config FILE")
			}
			_, err = fmt.Fprintf(c.App.Writer, "%s: ok\n", cfg.Source.File)
			return err
		},
	}
}

func configInitCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "write a commented starter configuration (default ~/.config/pensieve/config.toml)",
		ArgsUsage: "[PATH]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return UsageErrorf("config init: want at most one PATH, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			if path == "" {
				def, err := configOptions(c).DefaultFile()
				if err != nil {
					return err
				}
				path = def
			}
			if err := writeStarter(path, c.Bool("force")); err != nil {
				return err
			}
			_, err := fmt.Fprintf(c.App.Writer, "wrote %s\n", path)
			return err
		},
	}
}

// writeStarter writes the starter configuration to path atomically, refusing
// to replace an existing file unless force is set. The file is private
// (0600): it may come to hold API keys.
func writeStarter(path string, force bool) error {
	if filepath.Ext(path) != ".toml" {
		return UsageErrorf("config init: %s: the starter file is TOML, name it *.toml", path)
	}
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("config init: %s already exists; use --force to overwrite it", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config init: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config init: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.toml")
	if err != nil {
		return fmt.Errorf("config init: %w", err)
	}
	_, err = tmp.Write(config.StarterTOML())
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Close()); err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("config init: %w", err)
	}
	return nil
}
