package server

import (
	"math"
	"sync"
	"time"
)

// limiter is a set of token buckets, one per client: each holds up to burst
// tokens, refills at rate tokens per second, and every request takes one.
type limiter struct {
	rate  float64 // tokens per second, > 0
	burst float64 // bucket capacity, ≥ 1
	now   func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed
}

// maxBuckets bounds the memory of the limiter: past it, buckets that have
// refilled completely (indistinguishable from absent ones) are dropped.
const maxBuckets = 10000

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(max(1, burst)), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from client's bucket. When the bucket is empty it
// reports false and how long until a token is available.
func (l *limiter) allow(client string) (ok bool, wait time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[client]
	if !found {
		if len(l.buckets) >= maxBuckets {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[client] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	need := (1 - b.tokens) / l.rate
	return false, time.Duration(math.Ceil(need * float64(time.Second)))
}

func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
