package app

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/cli.md from the CLI's help")

// The user documentation lives next to the modules in the repository; a
// copy of this module used alone has no docs directory.
const (
	cliDoc    = "../../docs/cli.md"
	configDoc = "../../docs/configuration.md"
)

// readDoc reads a documentation file, skipping the test when the docs
// directory is absent (this module used outside the repository).
func readDoc(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, werr := os.Stat("../../go.work"); werr == nil {
			t.Fatalf("%s is missing inside the repository: %v", path, err)
		}
		t.Skipf("%s not found: this module is outside the Pensieve repository, so there is no documentation to check", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allFlags returns the flags of the App and of every command, recursively.
func allFlags(app *cli.App) []cli.Flag {
	out := slices.Clone(app.Flags)
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			out = append(out, c.Flags...)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return out
}

// clearFlagEnv unsets, for the test, every environment variable a flag
// reads: urfave/cli shows such a variable's value as the flag's default.
func clearFlagEnv(t *testing.T) {
	for _, f := range allFlags(New(io.Discard, io.Discard)) {
		ef, ok := f.(interface{ GetEnvVars() []string })
		if !ok {
			continue
		}
		for _, v := range ef.GetEnvVars() {
			t.Setenv(v, "") // restores the old value after the test
			os.Unsetenv(v)
		}
	}
}

// TestCLIDoc checks that docs/cli.md is the CLI's own help for every
// command; run with -update to rewrite it.
func TestCLIDoc(t *testing.T) {
	clearFlagEnv(t)
	got, err := HelpMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	// The document must read the same on every machine.
	for _, local := range localPaths(t) {
		if bytes.Contains(got, []byte(local)) {
			t.Errorf("the help output contains the local path %q; make the default machine-independent", local)
		}
	}
	if *updateDocs {
		if _, err := os.Stat(filepath.Dir(cliDoc)); err != nil {
			t.Fatalf("-update: %v", err)
		}
		if err := os.WriteFile(cliDoc, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", cliDoc, len(got))
		return
	}
	want := readDoc(t, cliDoc)
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
		t.Errorf("%s does not match the CLI's help; regenerate it with\n\tcd cli && go test ./app -run TestCLIDoc -update\n(-doc +help):\n%s", cliDoc, diff)
	}
}

func localPaths(t *testing.T) []string {
	var out []string
	if h, err := os.UserHomeDir(); err == nil && len(h) > 1 {
		out = append(out, h+"/")
	}
	if wd, err := os.Getwd(); err == nil {
		out = append(out, filepath.Dir(filepath.Dir(wd)))
	}
	return out
}

// TestHelpMarkdownCoversCommands checks that the generated document has a
// section for every visible command and subcommand, and only for those.
func TestHelpMarkdownCoversCommands(t *testing.T) {
	clearFlagEnv(t)
	got, err := HelpMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var walk func(cmds []*cli.Command, prefix string)
	walk = func(cmds []*cli.Command, prefix string) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			want = append(want, prefix+" "+c.Name)
			walk(c.Subcommands, prefix+" "+c.Name)
		}
	}
	want = append(want, "pensieve-cli")
	walk(New(io.Discard, io.Discard).Commands, "pensieve-cli")

	var sections []string
	for _, m := range regexp.MustCompile(`(?m)^## (.+)$`).FindAllSubmatch(got, -1) {
		sections = append(sections, string(m[1]))
	}
	if diff := cmp.Diff(want, sections); diff != "" {
		t.Errorf("sections (-commands +document):\n%s", diff)
	}
	for _, s := range want {
		// The section's help starts with the command's own NAME line.
		if !bytes.Contains(got, []byte("NAME:\n   "+s+" - ")) && s != "pensieve-cli" {
			t.Errorf("no help text with NAME %q", s)
		}
	}
}

func TestCodeFence(t *testing.T) {
	tests := []struct{ text, want string }{
		{"plain", "```"},
		{"a `code` span", "```"},
		{"a ``` fence", "````"},
		{"````` five", "``````"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := codeFence(tt.text); got != tt.want {
				t.Errorf("codeFence(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

// TestConfigDocFlags checks the Flag column of docs/configuration.md
// against the flags bound to configuration keys: each bound flag is listed
// on its key's row, each listed flag is bound to that key, and each bound
// flag is accepted by at least one command.
func TestConfigDocFlags(t *testing.T) {
	doc := readDoc(t, configDoc)
	rowRE := regexp.MustCompile("^\\| `([^`]+)` \\|")
	flagRE := regexp.MustCompile("`--([a-z0-9-]+)`")
	documented := map[string][]string{} // key → flags in its Flag column
	for _, line := range strings.Split(string(doc), "\n") {
		m := rowRE.FindStringSubmatch(line)
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if m == nil || len(cells) != 6 {
			continue
		}
		for _, f := range flagRE.FindAllStringSubmatch(cells[4], -1) {
			documented[m[1]] = append(documented[m[1]], f[1])
		}
	}
	bound := map[string][]string{}
	for _, f := range configKeyFlags {
		bound[f.key] = append(bound[f.key], f.flag)
	}
	for _, m := range []map[string][]string{documented, bound} {
		for k := range m {
			slices.Sort(m[k])
		}
	}
	if diff := cmp.Diff(bound, documented); diff != "" {
		t.Errorf("%s Flag column vs configKeyFlags (-bound +documented):\n%s", configDoc, diff)
	}

	accepted := map[string]bool{}
	for _, f := range allFlags(New(io.Discard, io.Discard)) {
		for _, n := range f.Names() {
			accepted[n] = true
		}
	}
	for _, f := range configKeyFlags {
		if !accepted[f.flag] {
			t.Errorf("--%s is bound to %s but no command accepts it", f.flag, f.key)
		}
	}
}
