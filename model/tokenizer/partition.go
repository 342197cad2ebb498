package tokenizer

import (
	"sort"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// fragment is a piece of the text being encoded: either a special token
// (tok != NoToken) or the raw bytes text[lo:hi].
type fragment struct {
	tok    core.TokenID
	lo, hi int
}

// specialIndex finds which special tokens occur in a text without scanning
// the text once per special token (vocabularies carry thousands of them).
type specialIndex struct {
	first    [256]bool                 // first bytes of special texts
	byPrefix map[string][]core.TokenID // first min(4, len) bytes → tokens
	keyLen   [5]bool                   // prefix lengths present in byPrefix
	rank     map[core.TokenID]int      // position in the partitioning order
	nUser    int                       // user-defined tokens among them
}

// prefixLen is the key length of specialIndex.byPrefix.
const prefixLen = 4

func newSpecialIndex(tokens []string, types []TokenType) specialIndex {
	var order []core.TokenID
	for i, ty := range types {
		if isSpecial(ty) {
			order = append(order, core.TokenID(i))
		}
	}
	// Longest text first (spec §4.3); llama.cpp leaves ties unordered, we
	// break them by id.
	sort.SliceStable(order, func(a, b int) bool { return len(tokens[order[a]]) > len(tokens[order[b]]) })
	ix := specialIndex{byPrefix: map[string][]core.TokenID{}, rank: make(map[core.TokenID]int, len(order))}
	for r, id := range order {
		text := tokens[id]
		k := min(prefixLen, len(text))
		ix.first[text[0]] = true
		ix.keyLen[k] = true
		ix.byPrefix[text[:k]] = append(ix.byPrefix[text[:k]], id)
		ix.rank[id] = r
		if types[id] == TypeUserDefined {
			ix.nUser++
		}
	}
	return ix
}

// present returns the special tokens that occur in text and may be split
// out (control and unknown tokens only with special), in partitioning order.
func (t *Tokenizer) present(text string, special bool) []core.TokenID {
	ix := &t.specials
	if !special && ix.nUser == 0 {
		return nil
	}
	var found []core.TokenID
	seen := map[core.TokenID]bool{}
	for i := 0; i < len(text); i++ {
		if !ix.first[text[i]] {
			continue
		}
		for k := 1; k <= prefixLen && i+k <= len(text); k++ {
			if !ix.keyLen[k] {
				continue
			}
			for _, id := range ix.byPrefix[text[i:i+k]] {
				if seen[id] || !strings.HasPrefix(text[i:], t.tokens[id]) {
					continue
				}
				if !special && t.types[id] != TypeUserDefined {
					continue
				}
				seen[id] = true
				found = append(found, id)
			}
		}
	}
	sort.Slice(found, func(a, b int) bool { return ix.rank[found[a]] < ix.rank[found[b]] })
	return found
}

// partition splits text at special tokens (spec §4.3): for each special
// token in turn, longest first, every raw fragment left is cut at each exact
// occurrence. Tokens flagged lstrip/rstrip absorb the ASCII whitespace
// beside them.
func (t *Tokenizer) partition(text string, special bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{tok: core.NoToken, lo: 0, hi: len(text)}}
	for _, id := range t.present(text, special) {
		tokText := t.tokens[id]
		next := make([]fragment, 0, len(frags)+2)
		for _, f := range frags {
			if f.tok != core.NoToken {
				next = append(next, f)
				continue
			}
			lo, hi := f.lo, f.hi
			for lo < hi {
				k := strings.Index(text[lo:hi], tokText)
				if k < 0 {
					next = append(next, fragment{tok: core.NoToken, lo: lo, hi: hi})
					break
				}
				m := lo + k
				left := m
				if t.lstrip[id] {
					for left > lo && isCSpace(text[left-1]) {
						left--
					}
				}
				if left > lo {
					next = append(next, fragment{tok: core.NoToken, lo: lo, hi: left})
				}
				next = append(next, fragment{tok: id})
				lo = m + len(tokText)
				if t.rstrip[id] {
					for lo < hi && isCSpace(text[lo]) {
						lo++
					}
				}
			}
		}
		frags = next
	}
	return frags
}

// isCSpace is C's isspace in the "C" locale, which llama.cpp uses for
// lstrip/rstrip.
func isCSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
