package server

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiterRefillAndSweep(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(2, 3, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d within burst refused", i)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok %v, wait %v; want refused, 500ms", ok, wait)
	}
	now = now.Add(wait)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("refused after the advertised wait")
	}

	// Past maxBuckets, buckets that refilled are dropped; "a" (empty) stays.
	for i := range maxBuckets {
		l.allow("client-" + strconv.Itoa(i))
	}
	now = now.Add(time.Hour)
	l.allow("a")
	l.allow("newcomer")
	if n := len(l.buckets); n != 2 {
		t.Errorf("buckets after sweep = %d, want 2 (a, newcomer)", n)
	}
}
