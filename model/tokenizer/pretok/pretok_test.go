package pretok

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

// The expected splits below are worked out by hand from each pattern's
// definition (regex alternation is leftmost-first; `\s+(?!\S)` leaves the
// last space of a run for the next word; later stages split the pieces of
// earlier ones and unmatched text stays a piece).
func TestSplit(t *testing.T) {
	tests := []struct {
		pre  string
		text string
		want []string
	}{
		// G (gpt-2): case-sensitive contractions, a literal space prefix only.
		{"gpt-2", "Hello world", []string{"Hello", " world"}},
		{"gpt-2", "I'm here, you're 42!", []string{"I", "'m", " here", ",", " you", "'re", " 42", "!"}},
		{"gpt-2", "'S", []string{"'", "S"}},
		{"gpt-2", "  x", []string{" ", " x"}},
		{"gpt-2", "a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"gpt-2", "x  ", []string{"x", "  "}},
		{"gpt-2", "2024年", []string{"2024", "年"}},
		{"gpt-2", "cafe\u0301", []string{"cafe", "\u0301"}},
		{"phi-2", "$$$ ...", []string{"$$$", " ..."}},

		// L3 (llama-bpe): case-insensitive contractions, any non-letter
		// prefix, digits in threes, punctuation keeps its newlines.
		{"llama-bpe", "I'M fine", []string{"I", "'M", " fine"}},
		{"llama-bpe", "don't", []string{"don", "'t"}},
		{"llama-bpe", "1234567", []string{"123", "456", "7"}},
		{"llama-bpe", "a\n\nb", []string{"a", "\n\n", "b"}},
		{"llama-bpe", "x  \n  y", []string{"x", "  \n", " ", " y"}},
		{"llama-bpe", "!!!\n\nok", []string{"!!!\n\n", "ok"}},
		{"llama-bpe", "\tword", []string{"\tword"}},
		{"llama-bpe", "(x)", []string{"(x", ")"}},
		{"llama-bpe", " 42", []string{" ", "42"}},
		{"llama-bpe", "Ελληνικά κείμενα", []string{"Ελληνικά", " κείμενα"}},
		{"llama3", "a\u00a0b", []string{"a", "\u00a0b"}},

		// Q2 (qwen2): L3 with one digit per piece.
		{"qwen2", "abc1234", []string{"abc", "1", "2", "3", "4"}},
		{"qwen2", "It's 3.14\n", []string{"It", "'s", " ", "3", ".", "1", "4", "\n"}},
		{"deepseek-r1-qwen", "x  1", []string{"x", " ", " ", "1"}},

		// StarCoder: every digit alone, then G.
		{"starcoder", "abc123 x", []string{"abc", "1", "2", "3", " x"}},
		{"starcoder", "v2.0", []string{"v", "2", ".", "0"}},

		// Falcon: punctuation runs, G, then complete digit triples.
		{"falcon", "a+b=c", []string{"a", "+", "b", "=", "c"}},
		{"falcon", "12345", []string{"123", "45"}},
		{"falcon", "it's", []string{"it", "'", "s"}},

		// DeepSeek Coder: newlines, letters, punctuation, CJK, single digits.
		{"deepseek-coder", "Hello, 世界123\n", []string{"Hello", ",", " ", "世界", "1", "2", "3", "\n"}},

		// DeepSeek V3: digit triples, kana/CJK, then the main pattern, in
		// which llama.cpp's symbol class lacks '~'.
		{"deepseek-v3", "Hello, 世界123 ~x", []string{"Hello", ",", " ", "世界", "123", " ", "~x"}},
		{"deepseek-v3", "a ~~", []string{"a", " ", "~~"}},

		// DeepSeek LLM: its literal letter class lacks CJK; `\s+$`.
		{"deepseek-llm", "Hi 你好", []string{"Hi", " ", "你好"}},
		{"deepseek-llm", "abc   ", []string{"abc", "   "}},

		// GPT-4o: case-aware words with contractions, digit triples.
		{"gpt-4o", "HelloWorld's CEO", []string{"Hello", "World's", " CEO"}},
		{"gpt-4o", "ÉCOLEpolytechnique", []string{"ÉCOLEpolytechnique"}},
		{"gpt-4o", "x1234", []string{"x", "123", "4"}},
		{"gpt-4o", "a/b", []string{"a", "/b"}},
		{"gpt-4o", "...//\n\nx", []string{"...//\n\n", "x"}},

		// Tekken: no contractions, single digits.
		{"tekken", "HelloWorld's 12", []string{"Hello", "World", "'s", " ", "1", "2"}},

		// BLOOM (FI): the negated class also excludes '(', '|' and ')'.
		{"bloom", "Hello, world. (x|y) 42?", []string{"Hello", ",", " world", ". (", "x", "|", "y", ")", " 42", "?"}},

		// Laguna: lines first, then Q2.
		{"laguna", "a b\n\nc", []string{"a", " b", "\n\n", "c"}},

		// The default (missing pre): punctuation runs, G, numbers, triples.
		{"", "x=12345;", []string{"x", "=", "123", "45", ";"}},
	}
	for _, tt := range tests {
		t.Run(tt.pre+"/"+tt.text, func(t *testing.T) {
			p, err := Lookup(tt.pre)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Split(tt.text)); diff != "" {
				t.Errorf("Split(%q) (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	_, err := Lookup("no-such-pre")
	if !errors.Is(err, core.KindInvalid) {
		t.Fatalf("unknown pre-tokenizer: err = %v, want KindInvalid", err)
	}
	p, err := Lookup("llama-bpe")
	if err != nil {
		t.Fatal(err)
	}
	if !p.IgnoreMerges() || !p.AddBOS() {
		t.Errorf("llama-bpe: IgnoreMerges %v AddBOS %v, want both true", p.IgnoreMerges(), p.AddBOS())
	}
	q, err := Lookup("qwen2")
	if err != nil {
		t.Fatal(err)
	}
	if q.IgnoreMerges() || q.AddBOS() {
		t.Errorf("qwen2: IgnoreMerges %v AddBOS %v, want both false", q.IgnoreMerges(), q.AddBOS())
	}
	if d, _ := Lookup(""); d.Name() != "default" {
		t.Errorf("empty name selects %q, want default", d.Name())
	}
}

// TestSplitCoversInput checks on random text from a mixed alphabet that
// every pre-tokenizer's words are non-empty and concatenate to the input.
func TestSplitCoversInput(t *testing.T) {
	alphabet := []rune("aZé\u0301 \t\n\r\u00a0\u3000'sSt1٣½.,!?~$<>/()|…。世界ひカ한🙂\x00\u200b\ufffd")
	rng := rand.New(rand.NewPCG(1, 2))
	var sp Splitter
	for _, name := range Names() {
		p, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			var b strings.Builder
			for range rng.IntN(40) {
				b.WriteRune(alphabet[rng.IntN(len(alphabet))])
			}
			if rng.IntN(4) == 0 {
				b.WriteString("\xff\xe2\x96") // invalid UTF-8 must survive too
			}
			text := b.String()
			words := sp.Split(p, nil, text)
			for _, w := range words {
				if w == "" {
					t.Fatalf("%s: Split(%q) has an empty word: %q", name, text, words)
				}
			}
			if got := strings.Join(words, ""); got != text {
				t.Fatalf("%s: Split(%q) joins to %q", name, text, got)
			}
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"Hello world", "I'm 1234 \n\n x", "日本語 ~~ (a|b)", "\xff\xfe"} {
		f.Add(s)
	}
	names := Names()
	f.Fuzz(func(t *testing.T, s string) {
		var sp Splitter
		for _, name := range names {
			p, _ := Lookup(name)
			words := sp.Split(p, nil, s)
			if strings.Join(words, "") != s {
				t.Fatalf("%s: words of %q do not join back", name, s)
			}
			for _, w := range words {
				if w == "" || (utf8.ValidString(s) && !utf8.ValidString(w)) {
					t.Fatalf("%s: bad word %q in split of %q", name, w, s)
				}
			}
		}
	})
}
