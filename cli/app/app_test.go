package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestVersionAndHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"version", []string{"pensieve-cli", "version"}, "pensieve-cli " + Version},
		{"help", []string{"pensieve-cli", "--help"}, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := New(&out, &errOut).Run(tt.args); err != nil {
				t.Fatalf("run: %v (stderr %q)", err, errOut.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output %q does not contain %q", out.String(), tt.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	if got := ExitCode(nil); got != ExitOK {
		t.Errorf("nil: %d", got)
	}
	if got := ExitCode(UsageErrorf("bad flag %q", "x")); got != ExitUsage {
		t.Errorf("usage: %d", got)
	}
	if got := ExitCode(errors.New("boom")); got != ExitRuntime {
		t.Errorf("runtime: %d", got)
	}
}
