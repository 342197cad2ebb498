package engine

import (
	"sync"
	"time"
)

// meterWindow is how far back TokensPerSecond looks, in one-second buckets.
const meterWindow = 10

// meter counts events per second over the last meterWindow seconds.
type meter struct {
	start time.Time // when counting began; shortens the window at first

	mu     sync.Mutex // guards second and count
	second [meterWindow]int64
	count  [meterWindow]int64
}

// add records n events at now.
func (m *meter) add(now time.Time, n int) {
	if n == 0 {
		return
	}
	sec := now.Unix()
	i := sec % meterWindow
	m.mu.Lock()
	if m.second[i] != sec {
		m.second[i], m.count[i] = sec, 0
	}
	m.count[i] += int64(n)
	m.mu.Unlock()
}

// rate returns the events per second over the last meterWindow seconds,
// or over the time since start when that is shorter.
func (m *meter) rate(now time.Time) float64 {
	sec := now.Unix()
	var total int64
	m.mu.Lock()
	for i := range m.second {
		if d := sec - m.second[i]; d >= 0 && d < meterWindow {
			total += m.count[i]
		}
	}
	m.mu.Unlock()
	window := min(now.Sub(m.start).Seconds(), meterWindow)
	if window <= 0 {
		return 0
	}
	return float64(total) / max(window, 1e-3)
}
