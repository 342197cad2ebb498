package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perf.md")
	if err := os.WriteFile(path, []byte("# Performance\n\nkept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"first\n", "second\n"} {
		if err := writeSection(path, body); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	doc := string(b)
	if !strings.Contains(doc, "kept") || !strings.Contains(doc, "second") || strings.Contains(doc, "first") {
		t.Errorf("document:\n%s", doc)
	}
	if strings.Count(doc, beginMarker) != 1 || strings.Count(doc, endMarker) != 1 {
		t.Errorf("markers appear more than once:\n%s", doc)
	}
}

func TestSpread(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want string
	}{{nil, "–"}, {[]float64{3}, "3.0"}, {[]float64{5, 1, 3}, "3.0 [1.0–5.0]"}, {[]float64{4, 2}, "3.0 [2.0–4.0]"}} {
		if got := spread(c.in); got != c.want {
			t.Errorf("spread(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
