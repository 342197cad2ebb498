package engine

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// streamResult is what a textStream produced for a sequence of tokens.
type streamResult struct {
	Deltas []string // one per add, then the flush if no stop matched
	Stop   int      // index of the matched stop, or -1
}

func runStream(stops []string, tokens [][]byte) streamResult {
	s := newTextStream(stops)
	res := streamResult{Stop: -1}
	for _, tok := range tokens {
		out, which := s.add(tok)
		res.Deltas = append(res.Deltas, out)
		if which >= 0 {
			res.Stop = which
			return res
		}
	}
	res.Deltas = append(res.Deltas, s.flush())
	return res
}

func split(parts ...string) [][]byte {
	out := make([][]byte, len(parts))
	for i, p := range parts {
		out[i] = []byte(p)
	}
	return out
}

func TestTextStream(t *testing.T) {
	euro := "€" // e2 82 ac
	tests := []struct {
		name   string
		stops  []string
		tokens [][]byte
		want   streamResult
	}{
		{
			name:   "no stops streams at once",
			tokens: split("Hel", "lo", " world"),
			want:   streamResult{Deltas: []string{"Hel", "lo", " world", ""}, Stop: -1},
		},
		{
			name:   "stop split over three tokens",
			stops:  []string{"</answer>"},
			tokens: split("42", "</", "ans", "wer>", "tail"),
			want:   streamResult{Deltas: []string{"42", "", "", ""}, Stop: 0},
		},
		{
			name:   "stop inside one token keeps the text before it",
			stops:  []string{"STOP"},
			tokens: split("ab", "cSTOPde"),
			want:   streamResult{Deltas: []string{"ab", "c"}, Stop: 0},
		},
		{
			name:   "held prefix released when it stops matching",
			stops:  []string{"</answer>"},
			tokens: split("a</an", "d b"),
			want:   streamResult{Deltas: []string{"a", "</and b", ""}, Stop: -1},
		},
		{
			name:   "held prefix released at the end",
			stops:  []string{"###"},
			tokens: split("x#", "#"),
			want:   streamResult{Deltas: []string{"x", "", "##"}, Stop: -1},
		},
		{
			name:   "overlapping prefixes keep the earliest",
			stops:  []string{"aab"},
			tokens: split("a", "a", "a", "b"),
			want:   streamResult{Deltas: []string{"", "", "a", ""}, Stop: 0},
		},
		{
			name:   "earliest match wins over an earlier stop in the list",
			stops:  []string{"cd", "bc"},
			tokens: split("ab", "cd"),
			want:   streamResult{Deltas: []string{"a", ""}, Stop: 1},
		},
		{
			name:   "shortest wins at the same offset",
			stops:  []string{"abc", "ab"},
			tokens: split("xabc"),
			want:   streamResult{Deltas: []string{"x"}, Stop: 1},
		},
		{
			name:   "rune split over three tokens",
			tokens: [][]byte{[]byte("1"), []byte(euro[:1]), []byte(euro[1:2]), []byte(euro[2:] + "2")},
			want:   streamResult{Deltas: []string{"1", "", "", euro + "2", ""}, Stop: -1},
		},
		{
			name:   "truncated rune at the end becomes U+FFFD",
			tokens: [][]byte{[]byte("a" + euro[:2])},
			want:   streamResult{Deltas: []string{"a", "\uFFFD\uFFFD"}, Stop: -1},
		},
		{
			name:   "invalid bytes replaced at once",
			tokens: [][]byte{{'a', 0xff}, {0x82, 'b'}},
			want:   streamResult{Deltas: []string{"a\uFFFD", "\uFFFDb", ""}, Stop: -1},
		},
		{
			name:   "stop sequence with a multibyte rune split mid-rune",
			stops:  []string{"→end"},
			tokens: [][]byte{[]byte("x"), []byte("→")[:1], []byte("→")[1:], []byte("en"), []byte("d!")},
			want:   streamResult{Deltas: []string{"x", "", "", "", ""}, Stop: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runStream(tt.stops, tt.tokens)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("deltas (-want +got):\n%s", diff)
			}
		})
	}
}

// referenceStream computes what the stream must release in total: the
// text before the first stop match to complete (the earliest-starting one
// among those present when it completes), or all the text.
func referenceStream(stops []string, tokens [][]byte) (string, int) {
	var full []byte
	for _, tok := range tokens {
		full = append(full, tok...)
		at, which := len(full), -1
		for i, s := range stops {
			if j := bytes.Index(full, []byte(s)); j >= 0 && (j < at || j == at && len(s) < len(stops[which])) {
				at, which = j, i
			}
		}
		if which >= 0 {
			return validText(full[:at]), which
		}
	}
	return validText(full), -1
}

func FuzzTextStream(f *testing.F) {
	f.Add("</s>", "ab", []byte("x</s>y<</s"), []byte{1, 2, 3, 1, 2})
	f.Add("€", "end", []byte("a\xe2\x82\xac\xe2"), []byte{1, 1, 1, 1, 1})
	f.Add("aa", "ab", []byte("aaab"), []byte{1})
	f.Fuzz(func(t *testing.T, stop1, stop2 string, text, cuts []byte) {
		var stops []string
		for _, s := range []string{stop1, stop2} {
			if s != "" && utf8.ValidString(s) {
				stops = append(stops, s)
			}
		}
		var tokens [][]byte
		for _, c := range cuts {
			n := min(int(c%8), len(text))
			tokens, text = append(tokens, text[:n]), text[n:]
		}
		tokens = append(tokens, text)
		got := runStream(stops, tokens)
		wantText, wantStop := referenceStream(stops, tokens)
		for _, d := range got.Deltas {
			if !utf8.ValidString(d) {
				t.Fatalf("delta %q is not valid UTF-8", d)
			}
		}
		if gotText := strings.Join(got.Deltas, ""); gotText != wantText || got.Stop != wantStop {
			t.Fatalf("stops %q tokens %q: released %q stop %d, want %q stop %d", stops, tokens, gotText, got.Stop, wantText, wantStop)
		}
	})
}
