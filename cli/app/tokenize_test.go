package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

// tokenizeFixture returns the path of a shared fixture, skipping the test
// when the fixtures are absent (failing when PENSIEVE_REQUIRE_FIXTURES is
// set). The directory is $PENSIEVE_FIXTURES, else ../shared/fixtures next to
// the directory holding go.work.
func tokenizeFixture(t *testing.T, elem ...string) string {
	t.Helper()
	dir := os.Getenv("PENSIEVE_FIXTURES")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
				dir = filepath.Join(d, "..", "shared", "fixtures")
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	path := filepath.Join(append([]string{dir}, elem...)...)
	if _, err := os.Stat(path); dir == "" || err != nil {
		if os.Getenv("PENSIEVE_REQUIRE_FIXTURES") != "" {
			t.Fatalf("fixture %v not found: %v", elem, err)
		}
		t.Skipf("shared fixtures not found (%v): set PENSIEVE_FIXTURES", elem)
	}
	return path
}

// runTokenize runs `pensieve-cli tokenize args…` with stdin and decodes the
// JSON array it prints.
func runTokenize(t *testing.T, stdin string, args ...string) ([]core.TokenID, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := New(&out, &errOut)
	app.Reader = strings.NewReader(stdin)
	if err := app.Run(append([]string{"pensieve-cli", "tokenize"}, args...)); err != nil {
		return nil, err
	}
	var ids []core.TokenID
	if err := json.Unmarshal(out.Bytes(), &ids); err != nil {
		t.Fatalf("output %q is not a JSON array: %v", out.String(), err)
	}
	return ids, nil
}

func TestTokenizeByteVocab(t *testing.T) {
	model := tokenizeFixture(t, "models", "fx-llama-f32.gguf")
	// The fixtures' vocabulary: token i is byte i, then <|begin_of_text|>
	// = 256 … <|eot_id|> = 260.
	text := "Hi <|eot_id|>\n"
	plain := []core.TokenID{'H', 'i', ' '}
	for _, b := range []byte("<|eot_id|>\n") {
		plain = append(plain, core.TokenID(b))
	}
	tests := []struct {
		name string
		args []string
		want []core.TokenID
	}{
		{"plain", []string{"--model", model}, plain},
		{"json", []string{"--model", model, "--json"}, plain},
		{"special", []string{"-m", model, "--special"}, []core.TokenID{'H', 'i', ' ', 260, '\n'}},
		{"bos and special", []string{"--model", model, "--bos", "--special"}, []core.TokenID{256, 'H', 'i', ' ', 260, '\n'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runTokenize(t, text, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got, err := runTokenize(t, "", "--model", model); err != nil || got == nil || len(got) != 0 {
		t.Errorf("empty stdin: %v, %v; want []", got, err)
	}
}

// TestTokenizeReference pipes llama.cpp's reference texts through the
// command with the Llama 3 vocabulary.
func TestTokenizeReference(t *testing.T) {
	model := tokenizeFixture(t, "models", "vocab-llama3.gguf")
	f, err := os.Open(tokenizeFixture(t, "reference", "tokenize", "llama3.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; n < 4 && sc.Scan(); n++ {
		var c struct {
			Text string         `json:"text"`
			IDs  []core.TokenID `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		got, err := runTokenize(t, c.Text, "--model", model)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.IDs) == 0 && len(got) == 0 {
			continue
		}
		if diff := cmp.Diff(c.IDs, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.Text, diff)
		}
	}
}

func TestTokenizeErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing.gguf")
	tests := []struct {
		name string
		args []string
	}{
		{"missing model flag", nil},
		{"missing file", []string{"--model", bad}},
		{"stray argument", []string{"--model", bad, "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := runTokenize(t, "x", tt.args...); err == nil {
				t.Error("no error")
			}
		})
	}
	notGGUF := filepath.Join(t.TempDir(), "text.gguf")
	if err := os.WriteFile(notGGUF, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runTokenize(t, "x", "--model", notGGUF); err == nil {
		t.Error("a non-GGUF file was accepted")
	}
}
