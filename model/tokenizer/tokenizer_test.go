package tokenizer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// byteVocab is the fx-*.gguf fixtures' vocabulary built by hand: token i is
// byte i in GPT-2's byte-level mapping, then five Llama 3 control tokens.
func byteVocab() Vocab {
	tokens := make([]string, 0, 261)
	for b := range 256 {
		tokens = append(tokens, string(rune(byteRuneForTest(byte(b)))))
	}
	tokens = append(tokens, "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
	types := make([]TokenType, len(tokens))
	for i := range types {
		types[i] = TypeNormal
		if i >= 256 {
			types[i] = TypeControl
		}
	}
	return Vocab{Model: ModelBPE, Pre: "llama-bpe", Tokens: tokens, Types: types, BOS: 256, EOS: 260,
		EOT: core.NoToken, EOM: core.NoToken, UNK: core.NoToken, AddBOS: true}
}

// byteRuneForTest restates spec §4.5's byte-to-code-point table.
func byteRuneForTest(b byte) rune {
	if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE {
		return rune(b)
	}
	n := 0
	for c := 0; c < int(b); c++ {
		cb := byte(c)
		if !((cb >= 0x21 && cb <= 0x7E) || (cb >= 0xA1 && cb <= 0xAC) || cb >= 0xAE) {
			n++
		}
	}
	return rune(256 + n)
}

func mustNew(t testing.TB, v Vocab) *Tokenizer {
	t.Helper()
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func encode(t testing.TB, tok *Tokenizer, text string, special bool) []core.TokenID {
	t.Helper()
	ids, err := tok.Encode(nil, text, special)
	if err != nil {
		t.Fatalf("Encode(%q): %v", text, err)
	}
	return ids
}

func decodeAll(tok core.Tokenizer, ids []core.TokenID) []byte {
	var out []byte
	for _, id := range ids {
		out = tok.Decode(out, id)
	}
	return out
}

// TestFixtureByteVocab checks that the fixtures' vocabulary loads from the
// file exactly as spec'd in fixtures/README.md.
func TestFixtureByteVocab(t *testing.T) {
	tok := load(t, "fx-llama-f32.gguf")
	want := mustNew(t, byteVocab())
	if diff := cmp.Diff(want.Vocab(), tok.Vocab()); diff != "" {
		t.Errorf("Vocab() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.tokens, tok.tokens); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	got := encode(t, tok, "Hi!", false)
	if diff := cmp.Diff([]core.TokenID{'H', 'i', '!'}, got); diff != "" {
		t.Errorf("Encode(Hi!) (-want +got):\n%s", diff)
	}
}

// TestAllBytesRoundTrip encodes every single byte (most are not valid UTF-8
// alone) and all 256 together, and decodes them back.
func TestAllBytesRoundTrip(t *testing.T) {
	for _, name := range []string{"fx-llama-f32.gguf", "vocab-llama3.gguf", "vocab-spm.gguf"} {
		t.Run(name, func(t *testing.T) {
			tok := load(t, name)
			var all []byte
			for b := range 256 {
				all = append(all, byte(b))
				ids := encode(t, tok, string([]byte{byte(b)}), false)
				if got := tok.Detokenize(ids); !bytes.Equal(got, []byte{byte(b)}) {
					t.Errorf("byte %#02x: ids %v decode to %q", b, ids, got)
				}
			}
			ids := encode(t, tok, string(all), false)
			if got := tok.Detokenize(ids); !bytes.Equal(got, all) {
				t.Errorf("all bytes decode to %q", got)
			}
		})
	}
}

func TestSpecialParsing(t *testing.T) {
	fx := load(t, "fx-llama-f32.gguf")
	text := "<|begin_of_text|>Hi<|eot_id|>"
	if diff := cmp.Diff([]core.TokenID{256, 'H', 'i', 260}, encode(t, fx, text, true)); diff != "" {
		t.Errorf("special=true (-want +got):\n%s", diff)
	}
	plain := encode(t, fx, text, false)
	if len(plain) != len(text) || string(decodeAll(fx, plain)) != text {
		t.Errorf("special=false: %v, want the %d bytes of %q", plain, len(text), text)
	}

	l3 := load(t, "vocab-llama3.gguf")
	prompt := "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	var want []core.TokenID
	want = append(want, 128006)
	want = append(want, encode(t, l3, "user", false)...)
	want = append(want, 128007)
	want = append(want, encode(t, l3, "\n\nHi there", false)...)
	want = append(want, 128009, 128006)
	want = append(want, encode(t, l3, "assistant", false)...)
	want = append(want, 128007)
	want = append(want, encode(t, l3, "\n\n", false)...)
	if diff := cmp.Diff(want, encode(t, l3, prompt, true)); diff != "" {
		t.Errorf("llama3 prompt (-want +got):\n%s", diff)
	}

	spm := load(t, "vocab-spm.gguf")
	// After a special token, SPM prefixes the next raw fragment with a space.
	if diff := cmp.Diff(append([]core.TokenID{1}, encode(t, spm, "Hi", false)...), encode(t, spm, "<s>Hi", true)); diff != "" {
		t.Errorf("spm <s>Hi (-want +got):\n%s", diff)
	}
	if got := string(spm.Detokenize(encode(t, spm, "<s>Hi", false))); got != "<s>Hi" {
		t.Errorf("spm special=false round trip = %q", got)
	}
}

func TestUserDefinedAndStrip(t *testing.T) {
	v := byteVocab()
	v.Tokens = append(v.Tokens, "<tool>", "[L]", "[R]")
	v.Types = append(v.Types, TypeUserDefined, TypeControl, TypeControl)
	v.LStrip = []core.TokenID{262}
	v.RStrip = []core.TokenID{263}
	tok := mustNew(t, v)
	tests := []struct {
		text    string
		special bool
		want    []core.TokenID
	}{
		{"a<tool>b", false, []core.TokenID{'a', 261, 'b'}}, // user-defined: always split out
		{"a<tool>b", true, []core.TokenID{'a', 261, 'b'}},
		{"a \t[L] b", true, []core.TokenID{'a', 262, ' ', 'b'}},
		{"a [R] \n b", true, []core.TokenID{'a', ' ', 263, 'b'}},
		{"[L]", false, []core.TokenID{'[', 'L', ']'}},
		{"<|eot_id|><|eot_id|>", true, []core.TokenID{260, 260}},
		{"", true, nil},
	}
	for _, tt := range tests {
		got := encode(t, tok, tt.text, tt.special)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Encode(%q, %v) (-want +got):\n%s", tt.text, tt.special, diff)
		}
	}
}

// TestLongestSpecialFirst: when special texts overlap, the longer one wins
// wherever it occurs (spec §4.3).
func TestLongestSpecialFirst(t *testing.T) {
	v := byteVocab()
	v.Tokens = append(v.Tokens, "<a>", "<a><b>")
	v.Types = append(v.Types, TypeControl, TypeControl)
	tok := mustNew(t, v)
	got := encode(t, tok, "<a><a><b>", true)
	if diff := cmp.Diff([]core.TokenID{261, 262}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVocabSets(t *testing.T) {
	tests := []struct {
		file string
		want core.Vocab
	}{
		{"vocab-llama3.gguf", core.Vocab{Size: 128256, BOS: 128000, EOS: 128009, EOG: []core.TokenID{128001, 128008, 128009}, AddBOS: true}},
		{"fx-llama-f32.gguf", core.Vocab{Size: 261, BOS: 256, EOS: 260, EOG: []core.TokenID{257, 260}, AddBOS: true}},
		{"vocab-spm.gguf", core.Vocab{Size: 23181, BOS: 1, EOS: 2, EOG: []core.TokenID{2}, AddBOS: true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tok := load(t, tt.file)
			if diff := cmp.Diff(tt.want, tok.Vocab()); diff != "" {
				t.Errorf("Vocab() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEOGFromTexts(t *testing.T) {
	v := byteVocab()
	v.Tokens = append(v.Tokens, "<|im_end|>", "<end_of_turn>", "<|fim_pad|>", "<|return|>", "<|call|>", "<|end|>")
	v.Types = append(v.Types, TypeNormal, TypeUserDefined, TypeNormal, TypeControl, TypeControl, TypeControl)
	v.ExtraEOG = []core.TokenID{258}
	tok := mustNew(t, v)
	// <|end|> leaves the set because <|return|> and <|call|> are present
	// (gpt-oss); 257 is <|end_of_text|>, 258 comes from ExtraEOG.
	want := []core.TokenID{257, 258, 260, 261, 262, 263, 264, 265}
	if diff := cmp.Diff(want, tok.Vocab().EOG); diff != "" {
		t.Errorf("EOG (-want +got):\n%s", diff)
	}
	if tok.Type(261) != TypeControl || tok.Type(266) != TypeUserDefined {
		t.Errorf("types after fix-up: %v %v", tok.Type(261), tok.Type(266))
	}
}

func TestDecode(t *testing.T) {
	l3 := load(t, "vocab-llama3.gguf")
	spm := load(t, "vocab-spm.gguf")
	world, _ := l3.ID("Ġworld")
	sw, _ := spm.ID("▁world")
	tests := []struct {
		name string
		tok  *Tokenizer
		id   core.TokenID
		want string
	}{
		{"bpe normal", l3, world, " world"},
		{"bpe control", l3, 128009, "<|eot_id|>"},
		{"out of range", l3, 1 << 20, ""},
		{"negative", l3, -1, ""},
		{"spm normal", spm, sw, " world"},
		{"spm byte", spm, 3 + 0x0A, "\n"},
		{"spm control", spm, 1, "<s>"},
		{"spm unknown", spm, 0, "<unk>"},
	}
	for _, tt := range tests {
		if got := string(tt.tok.Decode(nil, tt.id)); got != tt.want {
			t.Errorf("%s: Decode(%d) = %q, want %q", tt.name, tt.id, got, tt.want)
		}
	}
	ids := encode(t, spm, "Hello world", false)
	if got := string(spm.Detokenize(ids)); got != "Hello world" {
		t.Errorf("spm Detokenize = %q", got)
	}
	if got := string(decodeAll(spm, ids)); got != " Hello world" {
		t.Errorf("spm token-by-token decode = %q, want the encoder's leading space", got)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Vocab)
	}{
		{"empty", func(v *Vocab) { v.Tokens = nil; v.Types = nil }},
		{"duplicate", func(v *Vocab) { v.Tokens[1] = v.Tokens[0] }},
		{"empty text", func(v *Vocab) { v.Tokens[5] = "" }},
		{"unknown model", func(v *Vocab) { v.Model = "bert" }},
		{"unknown pre", func(v *Vocab) { v.Pre = "no-such-pre" }},
		{"types length", func(v *Vocab) { v.Types = v.Types[:3] }},
		{"scores length", func(v *Vocab) { v.Scores = []float32{1} }},
		{"add_bos without bos", func(v *Vocab) { v.BOS = core.NoToken }},
		{"add_eos without eos", func(v *Vocab) { v.AddEOS, v.EOS = true, 9999 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := byteVocab()
			v.Tokens = append([]string(nil), v.Tokens...)
			tt.edit(&v)
			if _, err := New(v); !errors.Is(err, core.KindInvalid) {
				t.Errorf("New: err = %v, want KindInvalid", err)
			}
		})
	}
}

// ggufFile writes kv into an in-memory GGUF file and opens it.
func ggufFile(t *testing.T, kv map[string]any) *gguf.File {
	t.Helper()
	w := gguf.NewWriter()
	for k, v := range kv {
		if err := w.SetKV(k, v); err != nil {
			t.Fatalf("SetKV(%s): %v", k, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromGGUFDefaults(t *testing.T) {
	spmTokens := []string{"<unk>", "<s>", "</s>", "▁", "a"}
	tests := []struct {
		name    string
		kv      map[string]any
		want    core.Vocab
		wantErr bool
	}{
		{"spm defaults", map[string]any{KeyModel: "llama", KeyTokens: spmTokens},
			core.Vocab{Size: 5, BOS: 1, EOS: 2, EOG: []core.TokenID{2}, AddBOS: true}, false},
		{"overrides", map[string]any{KeyModel: "llama", KeyTokens: spmTokens, KeyBOS: uint32(4), KeyEOS: uint32(3),
			KeyAddBOS: false, KeyAddEOS: true, KeyEOT: uint32(2)},
			core.Vocab{Size: 5, BOS: 4, EOS: 3, EOG: []core.TokenID{2, 3}, AddEOS: true}, false},
		{"out of range id keeps default", map[string]any{KeyModel: "llama", KeyTokens: spmTokens, KeyEOS: uint32(99)},
			core.Vocab{Size: 5, BOS: 1, EOS: 2, EOG: []core.TokenID{2}, AddBOS: true}, false},
		{"gpt2 defaults out of range", map[string]any{KeyModel: "gpt2", KeyPre: "qwen2", KeyTokens: []string{"a", "b"},
			KeyMerges: []string{"a b"}}, core.Vocab{Size: 2, BOS: core.NoToken, EOS: core.NoToken, EOG: []core.TokenID{}}, false},
		{"bert unsupported", map[string]any{KeyModel: "bert", KeyTokens: spmTokens}, core.Vocab{}, true},
		{"gpt2 without merges", map[string]any{KeyModel: "gpt2", KeyPre: "gpt-2", KeyTokens: spmTokens}, core.Vocab{}, true},
		{"missing tokens", map[string]any{KeyModel: "llama"}, core.Vocab{}, true},
		{"short types", map[string]any{KeyModel: "llama", KeyTokens: spmTokens, KeyTokenType: []int32{1}}, core.Vocab{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := FromGGUF(ggufFile(t, tt.kv))
			if tt.wantErr {
				if !errors.Is(err, core.KindInvalid) {
					t.Fatalf("err = %v, want KindInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tok.Vocab(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Vocab() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPhi3RStrip(t *testing.T) {
	tokens := []string{"<unk>", "<s>", "</s>", "▁", "a", "<|user|>", "<|end|>"}
	types := []int32{2, 3, 3, 1, 1, 3, 3}
	f := ggufFile(t, map[string]any{KeyModel: "llama", KeyTokens: tokens, KeyTokenType: types, "general.name": "Phi-3 mini"})
	v, err := ReadVocab(f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]core.TokenID{2, 5, 6}, v.RStrip); diff != "" {
		t.Errorf("RStrip (-want +got):\n%s", diff)
	}
	tok := mustNew(t, v)
	got := encode(t, tok, "<|user|>\na", true)
	if diff := cmp.Diff([]core.TokenID{5, 3, 4}, got); diff != "" {
		t.Errorf("rstrip drops the newline (-want +got):\n%s", diff)
	}
}

func TestEncodeAppends(t *testing.T) {
	tok := mustNew(t, byteVocab())
	dst := []core.TokenID{7}
	got, err := tok.Encode(dst, strings.Repeat("ab", 3), false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]core.TokenID{7, 'a', 'b', 'a', 'b', 'a', 'b'}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
