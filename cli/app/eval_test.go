package app

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEvalMatchesReference checks eval against llama.cpp's logits for the
// 5- and 17-token prompts of fx-llama-f32 (fixture tolerance 5e-3).
func TestEvalMatchesReference(t *testing.T) {
	isolateLocal(t)
	model := fixtureModel(t, "fx-llama-f32.gguf")
	f, err := os.Open(filepath.Join(fixturesDir(t), "reference", "logits", "fx-llama-f32.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	checked := 0
	for sc.Scan() {
		var ref struct {
			IDs    []int       `json:"ids"`
			Logits [][]float64 `json:"logits"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		if len(ref.IDs) != 5 && len(ref.IDs) != 17 {
			continue
		}
		words := make([]string, len(ref.IDs))
		for i, id := range ref.IDs {
			words[i] = strconv.Itoa(id)
		}
		ids := strings.Join(words, " ")
		out, errOut, err := execCLI(t, "eval", "--model", model, "--ids", ids, "--json", "--device", "cpu")
		if err != nil {
			t.Fatalf("eval: %v\n%s", err, errOut)
		}
		var got struct {
			Logits [][]float64 `json:"logits"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %.200s", err, out)
		}
		if len(got.Logits) != len(ref.Logits) {
			t.Fatalf("%d rows, want %d", len(got.Logits), len(ref.Logits))
		}
		for p := range ref.Logits {
			var num, den float64
			for i, want := range ref.Logits[p] {
				num += (got.Logits[p][i] - want) * (got.Logits[p][i] - want)
				den += want * want
			}
			if e := math.Sqrt(num / den); e > 5e-3 {
				t.Errorf("%d ids, position %d: relative L2 error %.3g", len(ref.IDs), p, e)
			}
		}
		checked++
	}
	if checked != 2 {
		t.Fatalf("checked %d prompts, want 2", checked)
	}
}

func TestEvalErrors(t *testing.T) {
	isolateLocal(t)
	model := fixtureModel(t, "fx-llama-f32.gguf")
	long := strings.Repeat("1 ", 257)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing ids", []string{"eval", "--model", model}, ExitUsage, "ids"},
		{"id beyond the vocabulary", []string{"eval", "--model", model, "--ids", "1 261"}, ExitUsage, "not a token id"},
		{"not a number", []string{"eval", "--model", model, "--ids", "1 x"}, ExitUsage, "not a token id"},
		{"missing model", []string{"eval", "--ids", "1"}, ExitUsage, "--model"},
		{"beyond the context", []string{"eval", "--model", model, "--ids", long}, ExitRuntime, "context"},
		{"model file absent", []string{"eval", "--model", filepath.Join(t.TempDir(), "x.gguf"), "--ids", "1"}, ExitRuntime, "x.gguf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runApp(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}
