package claude

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/claude/internal/fixtures"
	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
	"github.com/pensieve-llm/pensieve/core"
)

// fixtureTemplate is the chat template of the fx-* fixture models, which
// testmodel.Llama3 implements.
const fixtureTemplate = "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"

// gpt2Bytes maps GPT-2's byte-level token characters back to bytes.
func gpt2Bytes() map[rune]byte {
	m := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			m[rune(b)] = byte(b)
		} else {
			m[rune(256+n)] = byte(b)
			n++
		}
	}
	return m
}

// ggufTokenizer is the fixture vocabulary as read from the model file:
// byte-level tokens in GPT-2's mapping, then the special tokens.
type ggufTokenizer struct {
	tokens  [][]byte
	special map[string]core.TokenID
	vocab   core.Vocab
}

func loadFixtureVocab(t *testing.T) *ggufTokenizer {
	md, err := fixtures.Metadata(fixtures.Path(t, "models", "fx-llama-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if got := md["tokenizer.chat_template"]; got != fixtureTemplate {
		t.Errorf("the fixture chat template changed; update testmodel.Llama3:\n%v", got)
	}
	toks, _ := md["tokenizer.ggml.tokens"].([]any)
	types, _ := md["tokenizer.ggml.token_type"].([]any)
	tk := &ggufTokenizer{special: map[string]core.TokenID{}}
	back := gpt2Bytes()
	for i, v := range toks {
		s := v.(string)
		if types[i].(int64) == 3 { // control token
			tk.special[s] = core.TokenID(i)
			tk.tokens = append(tk.tokens, []byte(s))
			continue
		}
		var b []byte
		for _, r := range s {
			c, ok := back[r]
			if !ok {
				t.Fatalf("token %d %q is not byte-level", i, s)
			}
			b = append(b, c)
		}
		tk.tokens = append(tk.tokens, b)
	}
	eos := core.TokenID(md["tokenizer.ggml.eos_token_id"].(int64))
	tk.vocab = core.Vocab{Size: len(toks), BOS: core.TokenID(md["tokenizer.ggml.bos_token_id"].(int64)), EOS: eos,
		EOG: []core.TokenID{eos, tk.special["<|end_of_text|>"]}, AddBOS: md["tokenizer.ggml.add_bos_token"] == true}
	return tk
}

func (g *ggufTokenizer) Encode(dst []core.TokenID, text string, special bool) ([]core.TokenID, error) {
	for i := 0; i < len(text); {
		if special {
			found := false
			for s, id := range g.special {
				if strings.HasPrefix(text[i:], s) {
					dst, i, found = append(dst, id), i+len(s), true
					break
				}
			}
			if found {
				continue
			}
		}
		for id, b := range g.tokens[:256] {
			if len(b) == 1 && b[0] == text[i] {
				dst = append(dst, core.TokenID(id))
				break
			}
		}
		i++
	}
	return dst, nil
}

func (g *ggufTokenizer) Decode(dst []byte, id core.TokenID) []byte {
	if id < 0 || int(id) >= len(g.tokens) {
		return dst
	}
	return append(dst, g.tokens[id]...)
}

func (g *ggufTokenizer) Vocab() core.Vocab { return g.vocab }

// TestFixtureVocabulary checks that the test double is the fixture
// vocabulary: same ids, bytes and special tokens.
func TestFixtureVocabulary(t *testing.T) {
	g := loadFixtureVocab(t)
	var double testmodel.ByteTokenizer
	if g.vocab.Size != double.Vocab().Size || g.vocab.BOS != double.Vocab().BOS || g.vocab.EOS != double.Vocab().EOS {
		t.Fatalf("vocab %+v, test double %+v", g.vocab, double.Vocab())
	}
	for id := range g.vocab.Size {
		if got, want := string(g.Decode(nil, core.TokenID(id))), string(double.Decode(nil, core.TokenID(id))); got != want {
			t.Errorf("token %d: fixture %q, test double %q", id, got, want)
		}
	}
}

// TestFixtureForcedToolUse runs the acceptance check on the vocabulary
// read from the fixture model file.
func TestFixtureForcedToolUse(t *testing.T) {
	g := loadFixtureVocab(t)
	p, err := NewProfile(ModelSpec{ID: "fx-llama-f32", Template: testmodel.Llama3{}, Tokenizer: g, ContextLength: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(10); seed < 14; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			pr := prepare(t, p, map[string]any{"max_tokens": 256, "tools": claudeCodeTools, "tool_choice": map[string]any{"type": "any"}})
			ch, _ := testmodel.Random{Tok: g, Seed: seed, Temperature: 1}.Generate(context.Background(), &pr.Request)
			m, err := Collect(context.Background(), ch, pr.NewStream(StreamOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			checkForcedCall(t, m, map[string]any{"type": "any"})
		})
	}
}

// loadLlama3Vocab reads the 128k-token Llama 3 vocabulary of the fixtures
// (for decoding only: its byte tokens encode any text).
func loadLlama3Vocab(tb testing.TB) *ggufTokenizer {
	md, err := fixtures.Metadata(fixtures.Path(tb, "models", "vocab-llama3.gguf"))
	if err != nil {
		tb.Fatal(err)
	}
	toks, _ := md["tokenizer.ggml.tokens"].([]any)
	types, _ := md["tokenizer.ggml.token_type"].([]any)
	tk := &ggufTokenizer{special: map[string]core.TokenID{}}
	back := gpt2Bytes()
	for i, v := range toks {
		s := v.(string)
		if types[i].(int64) != 1 {
			tk.special[s] = core.TokenID(i)
			tk.tokens = append(tk.tokens, []byte(s))
			continue
		}
		var b []byte
		for _, r := range s {
			b = append(b, back[r])
		}
		tk.tokens = append(tk.tokens, b)
	}
	eot := tk.special["<|eot_id|>"]
	tk.vocab = core.Vocab{Size: len(toks), BOS: tk.special["<|begin_of_text|>"], EOS: eot, EOG: []core.TokenID{eot}}
	return tk
}

// BenchmarkToolConstraintLlama3 measures one Mask call of a forced tool
// call over the 128k Llama 3 vocabulary, averaged over the steps of a
// whole call (structural positions and string contents).
func BenchmarkToolConstraintLlama3(b *testing.B) {
	g := loadLlama3Vocab(b)
	p, err := NewProfile(ModelSpec{ID: "llama3", Template: testmodel.Llama3{}, Tokenizer: g})
	if err != nil {
		b.Fatal(err)
	}
	req, err := DecodeRequest(body(b, map[string]any{"tools": claudeCodeTools, "tool_choice": map[string]any{"type": "tool", "name": "Bash"}}), Version20230601)
	if err != nil {
		b.Fatal(err)
	}
	out := "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"go test ./... -run TestX -count=1\", \"description\": \"Run the failing test\"}}\n</tool_call>"
	var ids []core.TokenID
	for i := 0; i < len(out); i++ {
		for id, t := range g.tokens {
			if len(t) == 1 && t[0] == out[i] {
				ids = append(ids, core.TokenID(id))
				break
			}
		}
	}
	pr, err := p.Prepare(req)
	if err != nil {
		b.Fatal(err)
	}
	p.vocabulary() // built once per model, not per request
	logits := make([]float32, g.vocab.Size)
	b.ReportAllocs()
	b.ResetTimer()
	steps := 0
	for b.Loop() {
		pr, _ = p.Prepare(req)
		for i := range ids {
			if err := pr.Request.Constraint.Mask(ids[:i], logits); err != nil {
				b.Fatal(err)
			}
			steps++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/mask")
}
