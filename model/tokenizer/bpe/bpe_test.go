package bpe

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

func TestByteMapping(t *testing.T) {
	seen := map[rune]bool{}
	for b := range 256 {
		r := ByteRune(byte(b))
		if seen[r] {
			t.Fatalf("byte %#x maps to %U twice", b, r)
		}
		seen[r] = true
	}
	for _, tc := range []struct {
		b    byte
		want rune
	}{{'a', 'a'}, {'!', '!'}, {'~', '~'}, {0xA1, 0xA1}, {0xFF, 0xFF}, {0x00, 0x100}, {'\n', 0x10A}, {' ', 0x120}, {0x7F, 0x121}, {0xAD, 0x143}} {
		if got := ByteRune(tc.b); got != tc.want {
			t.Errorf("ByteRune(%#x) = %U, want %U", tc.b, got, tc.want)
		}
	}
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	enc := AppendEncoded(nil, string(all))
	if got := AppendDecoded(nil, string(enc)); string(got) != string(all) {
		t.Errorf("decode(encode(all bytes)) = %q", got)
	}
	if got := string(AppendDecoded(nil, "Ġhello")); got != " hello" {
		t.Errorf("AppendDecoded(Ġhello) = %q", got)
	}
}

// vocab builds the token → id map for the given byte-level texts.
func vocab(tokens ...string) ([]string, map[string]core.TokenID) {
	ids := map[string]core.TokenID{}
	for i, t := range tokens {
		ids[t] = core.TokenID(i)
	}
	return tokens, ids
}

func TestEncode(t *testing.T) {
	tokens, ids := vocab("a", "b", "c", "Ġ", "ab", "bc", "abc", "Ġa", "aa", "aaaa", "x")
	tests := []struct {
		name   string
		merges []string
		ignore bool
		word   string
		want   []core.TokenID
	}{
		{"lowest rank first", []string{"b c", "a b"}, false, "abc", []core.TokenID{0, 5}},
		{"other order", []string{"a b", "b c"}, false, "abc", []core.TokenID{4, 2}},
		{"chained", []string{"a b", "ab c"}, false, "abc", []core.TokenID{6}},
		{"leftmost on ties", []string{"a a"}, false, "aaa", []core.TokenID{8, 0}},
		{"repeated merges", []string{"a a", "aa aa"}, false, "aaaa", []core.TokenID{9}},
		{"space byte", []string{"Ġ a"}, false, " a", []core.TokenID{7}},
		{"ignore merges", []string{"a b"}, true, "abc", []core.TokenID{6}},
		{"no ignore", []string{"a b"}, false, "abc", []core.TokenID{4, 2}},
		{"merge result not a token falls back to bytes", []string{"x a"}, false, "xa", []core.TokenID{10, 0}},
		{"unknown bytes are dropped", nil, false, "a\x01b", []core.TokenID{0, 1}},
		{"duplicate merge keeps first rank", []string{"b c", "a b", "b c"}, false, "abc", []core.TokenID{0, 5}},
		{"malformed merges are skipped", []string{"abc", " ", "a ", "a b"}, false, "ab", []core.TokenID{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tokens, ids, tt.merges, tt.ignore)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, m.Encode(nil, tt.word)); diff != "" {
				t.Errorf("Encode(%q) (-want +got):\n%s", tt.word, diff)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(nil, nil, nil, false); err == nil {
		t.Error("empty vocabulary accepted")
	}
	if _, err := New([]string{"a", "a"}, map[string]core.TokenID{"a": 1}, nil, false); err == nil {
		t.Error("duplicate texts accepted")
	}
}
