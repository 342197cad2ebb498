package minheap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type num int

func (a num) Less(b num) bool { return a < b }

func TestPopsInOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h, all []num
	for range 1000 {
		x := num(r.IntN(100))
		Push(&h, x)
		all = append(all, x)
	}
	slices.Sort(all)
	for i, want := range all {
		if got := Pop(&h); got != want {
			t.Fatalf("pop %d = %d, want %d", i, got, want)
		}
	}
	if len(h) != 0 {
		t.Errorf("%d elements left", len(h))
	}
}
