package proxy

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pensieve-llm/pensieve/core"
)

// Command returns the proxy as a urfave/cli command, the body of both the
// pensieve-proxy binary and `pensieve-cli proxy`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "proxy",
		Usage: "run an Anthropic-compatible gateway in front of Pensieve and OpenAI-compatible servers",
		Description: "Routes Messages API requests by model to upstream groups, balances (round_robin or least_outstanding),\n" +
			"fails over while nothing was sent, health-checks upstreams, translates for OpenAI-kind upstreams and\n" +
			"rate-limits client keys. Configuration: a TOML, YAML or JSON file (--config), then PENSIEVE_PROXY_* variables.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "configuration file (.toml, .yaml, .yml or .json)", Required: true},
			&cli.StringFlag{Name: "addr", Usage: "listen address (overrides the file)"},
			&cli.BoolFlag{Name: "print-config", Usage: "print the effective configuration (secrets redacted) and exit"},
		},
		Action: run,
	}
}

// NewApp returns the pensieve-proxy application.
func NewApp() *cli.App {
	c := Command()
	return &cli.App{
		Name:        "pensieve-proxy",
		Usage:       c.Usage,
		Description: c.Description,
		Flags:       c.Flags,
		Action:      c.Action,
	}
}

// configError marks a configuration problem: exit status 2.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// ExitCode returns the exit status for an error from the proxy command: 2
// for configuration errors, 1 for anything else.
func ExitCode(err error) int {
	var ce configError
	if errors.As(err, &ce) {
		return 2
	}
	return 1
}

func run(c *cli.Context) error {
	cfg, err := LoadConfig(c.String("config"))
	if err != nil {
		return configError{err}
	}
	if a := c.String("addr"); a != "" {
		cfg.Addr = a
	}
	if c.Bool("print-config") {
		_, err := fmt.Fprintf(c.App.Writer, "%+v\n", cfg.Redacted())
		return err
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		return configError{err}
	}
	defer log.Sync()
	p, err := New(cfg, WithLogger(log))
	if err != nil {
		return configError{err}
	}
	if err := p.Run(c.Context); err != nil {
		return err
	}
	log.Info("proxy stopped")
	return nil
}

func newLogger(l Log) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if l.Level != "" {
		if err := level.UnmarshalText([]byte(strings.ToLower(l.Level))); err != nil {
			return nil, core.Errorf(core.KindInvalid, "proxy", "log.level: %q is not a level", l.Level)
		}
	}
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	switch l.Format {
	case "", "console":
	case "json":
		enc = zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	default:
		return nil, core.Errorf(core.KindInvalid, "proxy", "log.format: %q is not console or json", l.Format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)), nil
}
