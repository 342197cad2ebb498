package proxy

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket refilled continuously at rate per second up to
// capacity.
type bucket struct {
	tokens float64
	last   time.Time
}

// limiter enforces per-key request and token budgets per minute. A token
// bucket of one minute's budget lets a burst of the whole budget through,
// then refills evenly, so "N per minute" holds over any window of a minute.
type limiter struct {
	rpm, tpm int
	now      func() time.Time

	mu       sync.Mutex         // guards requests and tokens
	requests map[string]*bucket // per key
	tokens   map[string]*bucket // per key
}

func newLimiter(rl RateLimit) *limiter {
	return &limiter{rpm: rl.RequestsPerMinute, tpm: rl.TokensPerMinute, now: time.Now,
		requests: map[string]*bucket{}, tokens: map[string]*bucket{}}
}

// take refills b and reports how long until it holds need tokens (0: now).
func take(b *bucket, perMinute int, need float64, now time.Time) time.Duration {
	rate := float64(perMinute) / 60
	b.tokens = math.Min(float64(perMinute), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens >= need {
		return 0
	}
	return time.Duration((need - b.tokens) / rate * float64(time.Second))
}

func (l *limiter) get(m map[string]*bucket, key string, perMinute int, now time.Time) *bucket {
	b, ok := m[key]
	if !ok {
		b = &bucket{tokens: float64(perMinute), last: now}
		m[key] = b
	}
	return b
}

// allow admits one request for key, or returns how long to wait. A key whose
// token budget is spent waits too.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.rpm == 0 && l.tpm == 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	if l.tpm > 0 {
		wait = take(l.get(l.tokens, key, l.tpm, now), l.tpm, 1, now)
	}
	if l.rpm > 0 {
		b := l.get(l.requests, key, l.rpm, now)
		if w := take(b, l.rpm, 1, now); w > wait {
			wait = w
		}
		if wait == 0 {
			b.tokens--
		}
	}
	return wait == 0, wait
}

// charge debits tokens used by a finished request from key's token budget;
// the budget may go negative, delaying the key's next requests.
func (l *limiter) charge(key string, n int) {
	if l.tpm == 0 || n <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(l.tokens, key, l.tpm, now)
	take(b, l.tpm, 0, now)
	b.tokens -= float64(n)
}
