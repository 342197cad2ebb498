package soak

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Metrics are the series of one /metrics scrape, each summed over its label
// sets (histograms appear as their _bucket, _sum and _count series).
type Metrics map[string]float64

// Series names the load generator reads.
const (
	metricGoroutines = "go_goroutines"
	metricRSS        = "process_resident_memory_bytes"
	metricSys        = "go_memstats_sys_bytes" // stands in for RSS where the process series is absent
	metricHeap       = "go_memstats_heap_inuse_bytes"
	metricInflight   = "pensieve_inflight_requests"
	metricActive     = "pensieve_active_generations"
)

// ParseMetrics reads the Prometheus text exposition format: "# " lines are
// skipped, every other non-empty line is `name[{labels}] value [timestamp]`.
// Values of one name are summed across label sets.
func ParseMetrics(r io.Reader) (Metrics, error) {
	out := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			end := labelsEnd(rest)
			if end < 0 {
				return nil, core.Errorf(core.KindInvalid, "soak.ParseMetrics", "line %d: unterminated labels", n)
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if name == "" || len(fields) == 0 || len(fields) > 2 {
			return nil, core.Errorf(core.KindInvalid, "soak.ParseMetrics", "line %d: want `name value`, got %q", n, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, core.Errorf(core.KindInvalid, "soak.ParseMetrics", "line %d: value %q: %v", n, fields[0], err)
		}
		out[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, core.Errorf(core.KindInvalid, "soak.ParseMetrics", "reading: %w", err)
	}
	return out, nil
}

// labelsEnd returns the index of the "}" closing the label set that s
// starts with, skipping quoted values (which may hold "}" and escapes).
func labelsEnd(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == '}':
			return i
		}
	}
	return -1
}

// Sample is what the generator reads from /metrics between rounds.
type Sample struct {
	// Goroutines is go_goroutines.
	Goroutines int `json:"goroutines"`
	// RSSBytes is process_resident_memory_bytes, or go_memstats_sys_bytes
	// where the server does not report RSS.
	RSSBytes int64 `json:"rss_bytes"`
	// HeapBytes is go_memstats_heap_inuse_bytes, −1 when absent: unlike
	// RSS it shows a leak of Go objects without the runtime's slack.
	HeapBytes int64 `json:"heap_inuse_bytes"`
	// Inflight is pensieve_inflight_requests (the scrape itself included),
	// −1 when the server does not report it.
	Inflight int `json:"inflight"`
	// Active is pensieve_active_generations summed over models, −1 when
	// absent.
	Active int `json:"active_generations"`
}

// sampleOf extracts a Sample; go_goroutines and some memory series are
// required.
func sampleOf(m Metrics) (Sample, error) {
	g, ok := m[metricGoroutines]
	if !ok {
		return Sample{}, core.Errorf(core.KindInvalid, "soak.scrape", "/metrics has no %s", metricGoroutines)
	}
	rss, ok := m[metricRSS]
	if !ok {
		if rss, ok = m[metricSys]; !ok {
			return Sample{}, core.Errorf(core.KindInvalid, "soak.scrape", "/metrics has neither %s nor %s", metricRSS, metricSys)
		}
	}
	s := Sample{Goroutines: int(g), RSSBytes: int64(rss), HeapBytes: -1, Inflight: -1, Active: -1}
	if v, ok := m[metricHeap]; ok {
		s.HeapBytes = int64(v)
	}
	if v, ok := m[metricInflight]; ok {
		s.Inflight = int(v)
	}
	if v, ok := m[metricActive]; ok {
		s.Active = int(v)
	}
	return s, nil
}

// scrape fetches and parses baseURL/metrics.
func scrape(ctx context.Context, hc *http.Client, baseURL, apiKey string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return nil, core.Errorf(core.KindInvalid, "soak.scrape", "building request: %w", err)
	}
	if apiKey != "" {
		req.Header.Set("x-api-key", apiKey)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, core.Errorf(core.KindUnavailable, "soak.scrape", "GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, core.Errorf(core.KindUnavailable, "soak.scrape", "GET /metrics: status %d", resp.StatusCode)
	}
	return ParseMetrics(resp.Body)
}
