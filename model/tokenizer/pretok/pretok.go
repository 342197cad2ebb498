// Package pretok splits text into the words that byte-level BPE merges
// within, emulating the pre-tokenizer regexes named by a GGUF file's
// tokenizer.ggml.pre (spec §4.6, llama.cpp/src/llama-vocab.cpp).
//
// Go's regexp (RE2) has no lookahead, and the patterns' `\s+(?!\S)` and
// `(?=[\p{L}])` depend on it, so every pattern is a hand-written scanner over
// Unicode categories that reproduces the regex's leftmost-first,
// backtracking result. A pre-tokenizer is a sequence of stages; each stage
// splits the pieces of the previous one, and text no pattern matches still
// becomes a piece, so the words always concatenate back to the input.
package pretok

import (
	"sort"
	"sync"

	"github.com/pensieve-llm/pensieve/core"
)

// Pretokenizer splits text into words for one tokenizer.ggml.pre value. It
// is immutable and safe for concurrent use.
type Pretokenizer struct {
	name string
	fam  family
}

var (
	tableOnce sync.Once
	table     map[string]family
)

func lookup(name string) (family, bool) {
	tableOnce.Do(func() { table = families() })
	f, ok := table[name]
	return f, ok
}

// Lookup returns the pre-tokenizer named by tokenizer.ggml.pre. The empty
// name selects "default", as llama.cpp does (with a warning there). An
// unknown name is a core.KindInvalid error, as upstream rejects it.
func Lookup(name string) (*Pretokenizer, error) {
	key := name
	if key == "" {
		key = "default"
	}
	f, ok := lookup(key)
	if !ok {
		return nil, core.Errorf(core.KindInvalid, "pretok.Lookup", "unsupported pre-tokenizer %q", name)
	}
	return &Pretokenizer{name: key, fam: f}, nil
}

// Names returns every supported tokenizer.ggml.pre value, sorted.
func Names() []string {
	lookup("")
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Name returns the pre-tokenizer's name.
func (p *Pretokenizer) Name() string { return p.name }

// IgnoreMerges reports whether a word that is itself a vocabulary token is
// emitted whole without merging (the Llama 3 family and Tekken).
func (p *Pretokenizer) IgnoreMerges() bool { return p.fam.ignoreMerges }

// AddBOS reports whether vocabularies with this pre-tokenizer add BOS by
// default when the GGUF file does not say.
func (p *Pretokenizer) AddBOS() bool { return p.fam.addBOS }

// Splitter holds the scratch buffers of one Split at a time; reuse one per
// goroutine to avoid allocations. The zero value is ready to use.
type Splitter struct {
	t          text
	ends, next []int
}

// Split appends the words of s to dst and returns it. The words are
// substrings of s, in order, and concatenate to s.
func (sp *Splitter) Split(p *Pretokenizer, dst []string, s string) []string {
	if s == "" {
		return dst
	}
	t := &sp.t
	t.reset(s)
	sp.ends = append(sp.ends[:0], t.len())
	for _, st := range p.fam.stages {
		sp.next = sp.next[:0]
		lo := 0
		for _, hi := range sp.ends {
			sp.next = st(span{t: t, lo: lo, hi: hi}, sp.next)
			lo = hi
		}
		sp.ends, sp.next = sp.next, sp.ends
	}
	lo := 0
	for _, hi := range sp.ends {
		dst = append(dst, s[t.off[lo]:t.off[hi]])
		lo = hi
	}
	return dst
}

// Split is a convenience wrapper that splits s with a fresh Splitter.
func (p *Pretokenizer) Split(s string) []string {
	var sp Splitter
	return sp.Split(p, nil, s)
}
