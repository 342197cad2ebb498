// Package sample draws the next token from a row of logits. Every step is a
// small pure function over a slice (temperature, top-k, softmax, top-p,
// min-p, draw) that takes its randomness as an argument, so the pipeline is
// reproducible and each step is testable on its own; Sampler chains them
// for one request with the request's own seeded random source.
package sample

import (
	"math"

	"github.com/pensieve-llm/pensieve/core"
)

// Candidate is one token still in the running. Logit is the (temperature
// scaled) logit; P is its probability once Softmax has run. Every function
// here orders candidates by Logit, which Softmax keeps monotonic with P.
type Candidate struct {
	ID    core.TokenID
	Logit float32
	P     float32
}

// Greedy returns the index of the largest logit (the lowest index on ties),
// skipping -Inf and NaN, or -1 when no logit is finite or +Inf.
func Greedy(logits []float32) int {
	// NaN compares false and -Inf is never above -Inf, so both are skipped
	// without a test of their own.
	best, max := -1, float32(math.Inf(-1))
	for i, l := range logits {
		if l > max {
			best, max = i, l
		}
	}
	return best
}

// Candidates appends to dst one candidate per token whose logit is neither
// -Inf (masked) nor NaN, in token order, and returns the extended slice.
// +Inf becomes the largest finite float32 so that Softmax stays finite.
func Candidates(dst []Candidate, logits []float32) []Candidate {
	negInf := float32(math.Inf(-1))
	for i, l := range logits {
		// One comparison drops both NaN and -Inf.
		if !(l > negInf) {
			continue
		}
		if l > math.MaxFloat32 {
			l = math.MaxFloat32
		}
		dst = append(dst, Candidate{ID: core.TokenID(i), Logit: l})
	}
	return dst
}

// Temperature divides every logit by t, which must be > 0: below 1 the
// distribution sharpens, above 1 it flattens.
func Temperature(c []Candidate, t float32) {
	inv := 1 / t
	for i := range c {
		c[i].Logit *= inv
	}
}

// Softmax sets each candidate's P to exp(Logit) normalised over c,
// subtracting the largest logit first so exp cannot overflow.
func Softmax(c []Candidate) {
	if len(c) == 0 {
		return
	}
	max := c[0].Logit
	for _, x := range c[1:] {
		if x.Logit > max {
			max = x.Logit
		}
	}
	var sum float64
	for i := range c {
		p := float32(math.Exp(float64(c[i].Logit - max)))
		c[i].P = p
		sum += float64(p)
	}
	inv := float32(1 / sum)
	for i := range c {
		c[i].P *= inv
	}
}

// TopK keeps the k candidates with the largest logits and returns them in
// descending order, reusing c's storage (c is reordered). k ≤ 0 or
// k ≥ len(c) keeps everything and returns c as it is.
//
// It keeps a min-heap of the best k seen so far in c[:k], so most of a
// 128k vocabulary costs one comparison against the heap's root.
func TopK(c []Candidate, k int) []Candidate {
	if k <= 0 || k >= len(c) {
		return c
	}
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDownMin(h, i)
	}
	for _, x := range c[k:] {
		if above(x, h[0]) {
			h[0] = x
			siftDownMin(h, 0)
		}
	}
	// Popping the min-heap to the back leaves h in descending order.
	for n := k - 1; n > 0; n-- {
		h[0], h[n] = h[n], h[0]
		siftDownMin(h[:n], 0)
	}
	return h
}

// TopP keeps the smallest set of most likely candidates whose probability
// mass reaches p of c's total mass (nucleus sampling) and returns it in
// descending order, reusing c's storage (c is reordered). P must be set
// (Softmax). p ≤ 0 or p ≥ 1 keeps everything and returns c as it is.
//
// It costs O(len(c) + m·log len(c)) for m kept candidates: a heap is built
// once and popped until the mass is reached, so a small nucleus in a 128k
// vocabulary is never fully sorted.
func TopP(c []Candidate, p float32) []Candidate {
	if p <= 0 || p >= 1 || len(c) == 0 {
		return c
	}
	var total float64
	for _, x := range c {
		total += float64(x.P)
	}
	want := float64(p) * total
	heapify(c)
	n := len(c)
	var mass float64
	m := 0
	for m < n && mass < want {
		popMax(c[:n-m])
		m++
		mass += float64(c[n-m].P)
	}
	return descending(c[n-m:])
}

// MinP drops the candidates whose probability is below p times the largest
// one and returns the rest in their original order, reusing c's storage.
// P must be set (Softmax). p ≤ 0 keeps everything; the most likely
// candidate always survives.
func MinP(c []Candidate, p float32) []Candidate {
	if p <= 0 || len(c) == 0 {
		return c
	}
	var max float32
	for _, x := range c {
		if x.P > max {
			max = x.P
		}
	}
	cut := p * max
	kept := c[:0]
	for _, x := range c {
		if x.P >= cut {
			kept = append(kept, x)
		}
	}
	return kept
}

// Draw picks a candidate with probability proportional to P using coin, a
// uniform number in [0, 1): it walks the cumulative mass until it passes
// coin times the total. The masses need not sum to 1. It returns
// core.NoToken when c is empty.
func Draw(c []Candidate, coin float32) core.TokenID {
	if len(c) == 0 {
		return core.NoToken
	}
	var total float64
	for _, x := range c {
		total += float64(x.P)
	}
	target := float64(coin) * total
	var cum float64
	for _, x := range c {
		cum += float64(x.P)
		if cum > target {
			return x.ID
		}
	}
	// Rounding can leave cum just under target when coin is close to 1.
	for i := len(c) - 1; i > 0; i-- {
		if c[i].P > 0 {
			return c[i].ID
		}
	}
	return c[0].ID
}

// heapify arranges c as a max-heap on Logit (ties: lower ID on top, so the
// order never depends on how c was arranged before).
func heapify(c []Candidate) {
	for i := len(c)/2 - 1; i >= 0; i-- {
		siftDown(c, i)
	}
}

// popMax moves the top of the max-heap h to its last element and restores
// the heap property on h[:len(h)-1].
func popMax(h []Candidate) {
	last := len(h) - 1
	h[0], h[last] = h[last], h[0]
	siftDown(h[:last], 0)
}

func siftDown(h []Candidate, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		big := l
		if r := l + 1; r < len(h) && above(h[r], h[l]) {
			big = r
		}
		if !above(h[big], h[i]) {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// siftDownMin restores a min-heap (the candidate that is above all others
// sinks to the leaves) below index i.
func siftDownMin(h []Candidate, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		small := l
		if r := l + 1; r < len(h) && above(h[l], h[r]) {
			small = r
		}
		if !above(h[i], h[small]) {
			return
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
}

// above orders candidates for the heap: larger logit first, then lower ID.
func above(a, b Candidate) bool {
	return a.Logit > b.Logit || (a.Logit == b.Logit && a.ID < b.ID)
}

// descending reverses s, whose elements were popped into it from the end
// (ascending), and returns it.
func descending(s []Candidate) []Candidate {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}
