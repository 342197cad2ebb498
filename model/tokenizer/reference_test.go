package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// refCase is one line of reference/tokenize/*.jsonl: llama.cpp's
// tokenization without BOS and without special parsing.
type refCase struct {
	Text string         `json:"text"`
	IDs  []core.TokenID `json:"ids"`
}

func readCases(t *testing.T, name string) []refCase {
	t.Helper()
	f, err := os.Open(fixtures.Path(t, "reference", "tokenize", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []refCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c refCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s has no cases", name)
	}
	return cases
}

// loaded caches fixture tokenizers across tests (the Llama 3 vocabulary is
// 128k tokens).
var loaded sync.Map

func load(t testing.TB, name string) *Tokenizer {
	t.Helper()
	path := fixtures.Path(t, "models", name)
	if tok, ok := loaded.Load(path); ok {
		return tok.(*Tokenizer)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatalf("FromGGUF(%s): %v", name, err)
	}
	loaded.Store(path, tok)
	return tok
}

func TestReferenceTokenizations(t *testing.T) {
	for _, tc := range []struct{ vocab, cases string }{
		{"vocab-llama3.gguf", "llama3.jsonl"},
		{"vocab-spm.gguf", "spm.jsonl"},
	} {
		t.Run(tc.cases, func(t *testing.T) {
			tok := load(t, tc.vocab)
			for _, c := range readCases(t, tc.cases) {
				got, err := tok.Encode(nil, c.Text, false)
				if err != nil {
					t.Fatalf("Encode(%q): %v", c.Text, err)
				}
				if diff := cmp.Diff(c.IDs, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("Encode(%q) (-want +got):\n%s", c.Text, diff)
				}
			}
		})
	}
}

// TestConcurrentEncode encodes the reference texts from several goroutines
// at once (run with -race) and checks every result.
func TestConcurrentEncode(t *testing.T) {
	tok := load(t, "vocab-llama3.gguf")
	cases := readCases(t, "llama3.jsonl")
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(cases))
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range cases {
				got, err := tok.Encode(nil, c.Text, false)
				if err != nil || !cmp.Equal(c.IDs, got, cmpopts.EquateEmpty()) {
					errs <- c.Text
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for text := range errs {
		t.Errorf("concurrent Encode(%q) differs from the reference", text)
	}
}
