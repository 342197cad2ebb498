package proxy

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the request duration
// histogram.
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// metrics collects the proxy's Prometheus series.
type metrics struct {
	mu          sync.Mutex         // guards every field below
	requests    map[[3]string]int  // (upstream, kind, code) → count
	rateLimited int                // requests refused with 429
	failovers   int                // retries on another upstream
	tokens      map[[2]string]int  // (upstream, direction) → tokens
	healthy     map[string]bool    // upstream → last health
	hist        map[string][]int64 // upstream → bucket counts (+Inf last)
	sum         map[string]float64 // upstream → total seconds
}

func newMetrics() *metrics {
	return &metrics{requests: map[[3]string]int{}, tokens: map[[2]string]int{}, healthy: map[string]bool{},
		hist: map[string][]int64{}, sum: map[string]float64{}}
}

func (m *metrics) request(upstream, kind string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[3]string{upstream, kind, fmt.Sprint(code)}]++
	h, ok := m.hist[upstream]
	if !ok {
		h = make([]int64, len(latencyBuckets)+1)
		m.hist[upstream] = h
	}
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, s)
	h[i]++
	m.sum[upstream] += s
}

func (m *metrics) addTokens(upstream string, in, out int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[[2]string{upstream, "input"}] += in
	m.tokens[[2]string{upstream, "output"}] += out
}

func (m *metrics) limited() {
	m.mu.Lock()
	m.rateLimited++
	m.mu.Unlock()
}

func (m *metrics) failover() {
	m.mu.Lock()
	m.failovers++
	m.mu.Unlock()
}

func (m *metrics) setHealthy(upstream string, ok bool) {
	m.mu.Lock()
	m.healthy[upstream] = ok
	m.mu.Unlock()
}

// write renders the Prometheus text exposition format.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	b.WriteString("# HELP pensieve_proxy_requests_total Requests answered, by upstream, upstream kind and status.\n# TYPE pensieve_proxy_requests_total counter\n")
	keys := make([][3]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return strings.Join(keys[i][:], ",") < strings.Join(keys[j][:], ",") })
	for _, k := range keys {
		fmt.Fprintf(&b, "pensieve_proxy_requests_total{upstream=%q,kind=%q,code=%q} %d\n", k[0], k[1], k[2], m.requests[k])
	}
	fmt.Fprintf(&b, "# HELP pensieve_proxy_rate_limited_total Requests refused by the rate limit.\n# TYPE pensieve_proxy_rate_limited_total counter\npensieve_proxy_rate_limited_total %d\n", m.rateLimited)
	fmt.Fprintf(&b, "# HELP pensieve_proxy_failovers_total Requests retried on another upstream.\n# TYPE pensieve_proxy_failovers_total counter\npensieve_proxy_failovers_total %d\n", m.failovers)
	b.WriteString("# HELP pensieve_proxy_tokens_total Tokens reported by upstreams.\n# TYPE pensieve_proxy_tokens_total counter\n")
	tk := make([][2]string, 0, len(m.tokens))
	for k := range m.tokens {
		tk = append(tk, k)
	}
	sort.Slice(tk, func(i, j int) bool { return tk[i][0]+tk[i][1] < tk[j][0]+tk[j][1] })
	for _, k := range tk {
		fmt.Fprintf(&b, "pensieve_proxy_tokens_total{upstream=%q,direction=%q} %d\n", k[0], k[1], m.tokens[k])
	}
	b.WriteString("# HELP pensieve_proxy_upstream_healthy Whether the last active health check passed.\n# TYPE pensieve_proxy_upstream_healthy gauge\n")
	names := make([]string, 0, len(m.healthy))
	for n := range m.healthy {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := 0
		if m.healthy[n] {
			v = 1
		}
		fmt.Fprintf(&b, "pensieve_proxy_upstream_healthy{upstream=%q} %d\n", n, v)
	}
	b.WriteString("# HELP pensieve_proxy_request_duration_seconds Time to answer a request, by upstream.\n# TYPE pensieve_proxy_request_duration_seconds histogram\n")
	names = names[:0]
	for n := range m.hist {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var cum int64
		for i, le := range latencyBuckets {
			cum += m.hist[n][i]
			fmt.Fprintf(&b, "pensieve_proxy_request_duration_seconds_bucket{upstream=%q,le=\"%g\"} %d\n", n, le, cum)
		}
		cum += m.hist[n][len(latencyBuckets)]
		fmt.Fprintf(&b, "pensieve_proxy_request_duration_seconds_bucket{upstream=%q,le=\"+Inf\"} %d\n", n, cum)
		fmt.Fprintf(&b, "pensieve_proxy_request_duration_seconds_sum{upstream=%q} %g\n", n, m.sum[n])
		fmt.Fprintf(&b, "pensieve_proxy_request_duration_seconds_count{upstream=%q} %d\n", n, cum)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(&b, "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(&b, "# HELP go_memstats_heap_alloc_bytes Heap bytes allocated and in use.\n# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n", ms.HeapAlloc)
	io.WriteString(w, b.String())
}
