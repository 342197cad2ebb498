package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

func TestStream(t *testing.T) {
	fx := mustNew(t, byteVocab())
	spm := load(t, "vocab-spm.gguf")
	tests := []struct {
		name  string
		tok   core.Tokenizer
		ids   []core.TokenID
		opts  []StreamOption
		want  []string // what each Add returns
		flush string
	}{
		{"ascii", fx, []core.TokenID{'h', 'i'}, nil, []string{"h", "i"}, ""},
		// "é" is C3 A9 and "🙂" F0 9F 99 82: held until complete.
		{"split rune", fx, []core.TokenID{0xC3, 0xA9, '!'}, nil, []string{"", "é", "!"}, ""},
		{"four bytes", fx, []core.TokenID{0xF0, 0x9F, 0x99, 0x82}, nil, []string{"", "", "", "🙂"}, ""},
		{"invalid byte", fx, []core.TokenID{0xFF, 'a'}, nil, []string{"\uFFFD", "a"}, ""},
		{"broken sequence", fx, []core.TokenID{0xE2, 0x96, 'a'}, nil, []string{"", "", "\uFFFDa"}, ""},
		{"unfinished at end", fx, []core.TokenID{'a', 0xE2}, nil, []string{"a", ""}, "\uFFFD"},
		{"control token", fx, []core.TokenID{260}, nil, []string{"<|eot_id|>"}, ""},
		{"spm continuation keeps space", spm, []core.TokenID{spmID(t, spm, "▁the")}, nil, []string{" the"}, ""},
		{"spm text start drops space", spm, []core.TokenID{spmID(t, spm, "▁the"), spmID(t, spm, "▁world")},
			[]StreamOption{AtTextStart()}, []string{"the", " world"}, ""},
		{"spm byte fallback", spm, []core.TokenID{3 + 0xC3, 3 + 0xA9}, nil, []string{"", "é"}, ""},
		{"text start ignored for bpe", fx, []core.TokenID{' ', 'a'}, []StreamOption{AtTextStart()}, []string{" ", "a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStream(tt.tok, tt.opts...)
			var got []string
			for _, id := range tt.ids {
				got = append(got, s.Add(id))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Add results (-want +got):\n%s", diff)
			}
			if f := s.Flush(); f != tt.flush {
				t.Errorf("Flush = %q, want %q", f, tt.flush)
			}
			if s.Pending() != 0 {
				t.Errorf("Pending after Flush = %d", s.Pending())
			}
		})
	}
}

func spmID(t *testing.T, tok *Tokenizer, text string) core.TokenID {
	t.Helper()
	id, ok := tok.ID(text)
	if !ok {
		t.Fatalf("no token %q", text)
	}
	return id
}

// FuzzRoundTrip checks encode → decode on the fixture byte vocabulary, the
// Llama 3 vocabulary and the SPM vocabulary, and that streaming the ids
// yields valid UTF-8 equal to the text when the text is valid UTF-8.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "Hello world", "It's 1234567 \n\n  ok!", "日本語のテキスト 🙂", "\xff\xfe\x00", "<|eot_id|> <s>", "a  \t b\r\n"} {
		f.Add(s)
	}
	toks := []*Tokenizer{mustNew(f, byteVocab()), load(f, "vocab-llama3.gguf"), load(f, "vocab-spm.gguf")}
	f.Fuzz(func(t *testing.T, text string) {
		for _, tok := range toks {
			if tok.Model() == ModelSPM && strings.Contains(text, "\u2581") {
				continue // SPM cannot tell U+2581 from an escaped space
			}
			for _, special := range []bool{false, true} {
				if special && tok.Model() == ModelSPM {
					continue // SPM adds a space after every special token
				}
				ids, err := tok.Encode(nil, text, special)
				if err != nil {
					t.Fatal(err)
				}
				if got := string(tok.Detokenize(ids)); got != text {
					t.Fatalf("%s special=%v: %q → %v → %q", tok.Model(), special, text, ids, got)
				}
			}
			ids, _ := tok.Encode(nil, text, false)
			s := NewStream(tok, AtTextStart())
			var out strings.Builder
			for _, id := range ids {
				chunk := s.Add(id)
				if !utf8.ValidString(chunk) {
					t.Fatalf("stream emitted invalid UTF-8 %q", chunk)
				}
				out.WriteString(chunk)
			}
			out.WriteString(s.Flush())
			if utf8.ValidString(text) && out.String() != text {
				t.Fatalf("stream of %q gave %q", text, out.String())
			}
		}
	})
}
