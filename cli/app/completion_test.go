package app

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestCompletion(t *testing.T) {
	tests := []struct {
		shell string
		want  string
	}{
		{"bash", "complete -o bashdefault"},
		{"zsh", "compdef _pensieve_cli pensieve-cli"},
		{"fish", "complete -c pensieve-cli"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := New(&out, &errOut).Run([]string{"pensieve-cli", "completion", tt.shell}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("%s script lacks %q:\n%s", tt.shell, tt.want, out.String())
			}
		})
	}
	var out bytes.Buffer
	err := New(&out, &out).Run([]string{"pensieve-cli", "completion", "powershell"})
	if ExitCode(err) != ExitUsage {
		t.Errorf("unknown shell: err %v, exit %d", err, ExitCode(err))
	}
	// The hidden flag the scripts call lists the commands. urfave/cli reads
	// the words typed from os.Args, so the test sets them.
	out.Reset()
	args := []string{"pensieve-cli", "--generate-bash-completion"}
	saved := os.Args
	os.Args = args
	defer func() { os.Args = saved }()
	if err := New(&out, &out).Run(args); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "run", "models", "completion"} {
		if !strings.Contains(out.String(), cmd) {
			t.Errorf("bash candidates lack %q: %s", cmd, out.String())
		}
	}
}
