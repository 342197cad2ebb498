package app

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// HelpMarkdown renders the help of pensieve-cli and of every command and
// subcommand, exactly as `--help` prints it, into one Markdown document:
// the text of docs/cli.md. Hidden commands and the built-in help command
// are left out; trailing spaces are trimmed from each line.
//
// Flags that read environment variables show the variable's current value
// as their default, so callers wanting a reproducible document unset those
// variables first.
func HelpMarkdown() ([]byte, error) {
	paths := [][]string{nil}
	paths = commandPaths(New(io.Discard, io.Discard).Commands, nil, paths)

	var doc bytes.Buffer
	doc.WriteString("# pensieve-cli command reference\n\n")
	doc.WriteString("<!-- Generated from the CLI's own --help output; do not edit. Regenerate with:\n")
	doc.WriteString("     cd cli && go test ./app -run TestCLIDoc -update -->\n\n")
	doc.WriteString("This page is the output of `pensieve-cli --help` and of `--help` for every command and\n")
	doc.WriteString("subcommand. A test in `cli/app` fails when it differs from what the binary prints.\n")
	doc.WriteString("Configuration keys, their environment variables and the flags that override them are in\n")
	doc.WriteString("[configuration.md](configuration.md).\n\n")
	for _, p := range paths {
		title := strings.Join(append([]string{"pensieve-cli"}, p...), " ")
		fmt.Fprintf(&doc, "- [%s](#%s)\n", title, strings.ReplaceAll(title, " ", "-"))
	}
	for _, p := range paths {
		text, err := helpText(p)
		if err != nil {
			return nil, err
		}
		fence := codeFence(text)
		fmt.Fprintf(&doc, "\n## %s\n\n%stext\n%s%s\n",
			strings.Join(append([]string{"pensieve-cli"}, p...), " "), fence, text, fence)
	}
	return doc.Bytes(), nil
}

// commandPaths appends the path of every visible command under prefix,
// depth first, in the order the CLI lists them.
func commandPaths(cmds []*cli.Command, prefix []string, out [][]string) [][]string {
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" {
			continue
		}
		p := append(append([]string(nil), prefix...), c.Name)
		out = append(out, p)
		out = commandPaths(c.Subcommands, p, out)
	}
	return out
}

// helpText runs `pensieve-cli PATH... --help` on a fresh App and returns
// what it prints, with trailing spaces trimmed and one final newline.
func helpText(path []string) (string, error) {
	var out bytes.Buffer
	app := New(&out, &out)
	args := append(append([]string{app.Name}, path...), "--help")
	if err := app.Run(args); err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), " \t\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n") + "\n", nil
}

// codeFence returns a backtick fence longer than any run of backticks in
// text, so the text cannot close it.
func codeFence(text string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}
