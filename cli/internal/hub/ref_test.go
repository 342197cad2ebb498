package hub

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		want    Ref
		wantURL string
		wantErr bool
	}{
		{"Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf",
			Ref{Repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF", File: "qwen2.5-0.5b-instruct-q4_k_m.gguf"},
			"https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf", false},
		{"hf://org/repo/Q4_K_M/model 1.gguf", Ref{Repo: "org/repo", File: "Q4_K_M/model 1.gguf"},
			"https://huggingface.co/org/repo/resolve/main/Q4_K_M/model%201.gguf", false},
		{"org/repo", Ref{}, "", true},
		{"org/repo/", Ref{}, "", true},
		{"org/re po/x.gguf", Ref{}, "", true},
		{"org/repo/../../etc/passwd", Ref{}, "", true},
		{"org/repo/a//b.gguf", Ref{}, "", true},
		{"../repo/x.gguf", Ref{}, "", true},
		{"org/repo/a\\b.gguf", Ref{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRef(tt.in)
			if tt.wantErr {
				if !errors.Is(err, core.KindInvalid) {
					t.Fatalf("ParseRef(%q) = %+v, %v; want an invalid error", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if u := got.resolveURL("https://huggingface.co/"); u != tt.wantURL {
				t.Errorf("url %q, want %q", u, tt.wantURL)
			}
		})
	}
	r := Ref{Repo: "o/r", File: "f.gguf", Revision: "refs/pr/1"}
	if u := r.resolveURL("http://h"); u != "http://h/o/r/resolve/refs%2Fpr%2F1/f.gguf" {
		t.Errorf("url %q", u)
	}
	if r.String() != "o/r/f.gguf@refs/pr/1" || r.Name() != "f.gguf" {
		t.Errorf("String %q Name %q", r.String(), r.Name())
	}
}

func TestExpectedSHA256(t *testing.T) {
	sha := "3a5f0e6c3bd3b2d5e4a8f0c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"
	tests := []struct {
		name   string
		linked string
		hdr    map[string]string
		want   string
	}{
		{"redirect's linked etag", `"` + sha + `"`, map[string]string{"ETag": `"d41d8cd98f00b204e9800998ecf8427e"`}, sha},
		{"response's linked etag", "", map[string]string{"X-Linked-Etag": `"` + sha + `"`}, sha},
		{"plain etag, weak, upper case", "", map[string]string{"ETag": `W/"` + "3A5F0E6C3BD3B2D5E4A8F0C1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5" + `"`}, sha},
		{"git sha1 is not a checksum", "", map[string]string{"ETag": `"0123456789abcdef0123456789abcdef01234567"`}, ""},
		{"64 chars of non-hex", "", map[string]string{"ETag": `"` + string(make([]byte, 0)) + "zz" + sha[2:] + `"`}, ""},
		{"nothing", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.hdr {
				h.Set(k, v)
			}
			if got := expectedSHA256(tt.linked, h); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 100-199/200", 100, 199, 200, true},
		{"bytes */200", -1, -1, 200, true},
		{"bytes 100-250/200", 0, 0, 0, false},
		{"bytes 5-1/200", 0, 0, 0, false},
		{"bytes 1-2", 0, 0, 0, false},
		{"items 1-2/3", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tt := range tests {
		s, e, n, ok := parseContentRange(tt.in)
		if s != tt.start || e != tt.end || n != tt.size || ok != tt.ok {
			t.Errorf("%q: %d %d %d %v", tt.in, s, e, n, ok)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"org/repo/file.gguf", "hf://a/b/c/d.gguf", "a/b/../c", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRef accepted an invalid ref %+v: %v", r, err)
		}
		if r.Name() == "." || r.Name() == ".." || r.Name() == "/" {
			t.Fatalf("unsafe local name %q from %q", r.Name(), s)
		}
		back, err := ParseRef(r.Repo + "/" + r.File)
		if err != nil || back != r {
			t.Fatalf("round trip %q → %+v → %+v, %v", s, r, back, err)
		}
	})
}
