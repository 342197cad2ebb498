package proxy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "p.toml")
	os.WriteFile(bad, []byte("balance = \"random\"\n[[upstreams]]\nurl = \"http://x\"\n"), 0o600)
	var out bytes.Buffer
	app := NewApp()
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run([]string{"pensieve-proxy", "--config", bad})
	if err == nil || ExitCode(err) != 2 || !strings.Contains(err.Error(), "balance") {
		t.Errorf("err %v (exit %d), want a balance error with exit 2", err, ExitCode(err))
	}
}

func TestAppPrintConfigRedacts(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.yaml")
	os.WriteFile(f, []byte("keys: [topsecret]\nupstreams:\n  - url: http://127.0.0.1:1\n    api_key: upstreamsecret\n"), 0o600)
	var out bytes.Buffer
	app := NewApp()
	app.Writer = &out
	if err := app.Run([]string{"pensieve-proxy", "--config", f, "--print-config"}); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "secret") || !strings.Contains(s, "[redacted]") {
		t.Errorf("printed config leaks or lacks redaction: %s", s)
	}
}
