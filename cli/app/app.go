// Package app builds the pensieve-cli command tree. It is Pensieve's
// composition root: the only place that constructs concrete pieces from
// several modules and wires them together.
package app

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/urfave/cli/v2"
)

// Version is the release version, set at link time with
// -ldflags "-X github.com/pensieve-llm/pensieve/cli/app.Version=…".
var Version = "dev"

// Exit codes of pensieve-cli.
const (
	ExitOK      = 0 // success
	ExitRuntime = 1 // a runtime failure
	ExitUsage   = 2 // bad usage or configuration
)

// commands holds the constructors of the top-level commands; each command's
// file registers itself from init, so commands can be added without editing
// a shared list. Only init functions write it.
var commands []func() *cli.Command

// register adds a top-level command constructor; call it from init.
func register(c func() *cli.Command) { commands = append(commands, c) }

// New returns the pensieve-cli application writing to stdout and stderr.
// Commands are listed by name.
func New(stdout, stderr io.Writer) *cli.App {
	cmds := make([]*cli.Command, 0, len(commands))
	for _, c := range commands {
		cmds = append(cmds, c())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return &cli.App{
		Name:                 "pensieve-cli",
		Usage:                "run local language models behind the Anthropic Messages API",
		Version:              Version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideVersion:          true,
		Commands:             cmds,
		Flags:                globalFlags(),
		Before:               checkGlobalFlags,
		OnUsageError:         onUsageError,
	}
}

// usageError marks an error as bad usage (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// UsageErrorf returns an error that makes pensieve-cli exit with ExitUsage.
func UsageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// ExitCode returns the process exit status for err.
func ExitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &u):
		return ExitUsage
	}
	return ExitRuntime
}

func init() { register(versionCommand) }

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "pensieve-cli %s\n", Version)
			return err
		},
	}
}
