package spm

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

func TestEncode(t *testing.T) {
	texts := []string{"<unk>", "<0xC3>", "<0xA9>", "▁", "a", "b", "▁a", "ab", "▁ab", "ba", "x"}
	ids := map[string]core.TokenID{}
	for i, s := range texts {
		ids[s] = core.TokenID(i)
	}
	tests := []struct {
		name   string
		scores map[string]float32
		text   string
		want   []core.TokenID
	}{
		{"highest score first", map[string]float32{"▁a": -2, "ab": -1, "▁ab": -3}, "▁ab", []core.TokenID{8}},
		{"score decides the split", map[string]float32{"▁a": -1, "ab": -2, "▁ab": -3}, "▁ab", []core.TokenID{8}},
		{"later merges by score, ties left", map[string]float32{"▁a": -1, "ab": -2}, "▁aba", []core.TokenID{8, 4}},
		{"ab beats ba", map[string]float32{"ab": -1, "ba": -2}, "bab", []core.TokenID{5, 7}},
		{"ba beats ab", map[string]float32{"ab": -2, "ba": -1}, "bab", []core.TokenID{9, 5}},
		{"ties go left", map[string]float32{"ab": -1, "ba": -1}, "aba", []core.TokenID{7, 4}},
		{"byte fallback", nil, "é", []core.TokenID{1, 2}},
		{"missing byte token becomes unk", nil, "ü", []core.TokenID{1, 0}},
		{"empty", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores := make([]float32, len(texts))
			for i := range scores {
				scores[i] = -10
			}
			for s, v := range tt.scores {
				scores[ids[s]] = v
			}
			m, err := New(ids, scores, 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, m.Encode(nil, tt.text)); diff != "" {
				t.Errorf("Encode(%q) (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func TestNewRejectsShortScores(t *testing.T) {
	if _, err := New(map[string]core.TokenID{"a": 0, "b": 1}, []float32{0}, core.NoToken); err == nil {
		t.Error("New accepted fewer scores than tokens")
	}
}

// TestInvalidUTF8 checks that an invalid byte does not swallow the escaped
// space after it: every byte comes back.
func TestInvalidUTF8(t *testing.T) {
	ids := map[string]core.TokenID{"<unk>": 0, "▁": 1, "<0xE6>": 2, "0": 3}
	m, err := New(ids, make([]float32, 4), 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]core.TokenID{1, 2, 1, 3}, m.Encode(nil, "▁\xe6▁0")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
