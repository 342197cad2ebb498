// Package minheap is the binary min-heap the BPE and SentencePiece
// tokenizers use to pick the next merge, over a plain slice the caller owns
// (so a scratch slice can be reused without allocating).
package minheap

// Ordered is an element that orders itself: Less reports whether it comes
// before other.
type Ordered[T any] interface {
	Less(other T) bool
}

// Push adds x to the heap *h.
func Push[T Ordered[T]](h *[]T, x T) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].Less(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

// Pop removes and returns the least element of the non-empty heap *h.
func Pop[T Ordered[T]](h *[]T) T {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, least := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].Less(s[least]) {
			least = l
		}
		if r < len(s) && s[r].Less(s[least]) {
			least = r
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	*h = s
	return top
}
