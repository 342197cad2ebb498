// Package metrics keeps counters, gauges and histograms in memory and writes
// them in the Prometheus text exposition format (version 0.0.4): "# HELP" and
// "# TYPE" lines, then one "name{label="value"} number" line per series.
//
// Every method is safe for concurrent use. Misuse (a name registered twice,
// unsorted buckets, the wrong number of label values, a counter decreased) is
// a programming error: the offending registration or sample is dropped and
// the first such error is kept for Registry.Err, which owners check after
// construction and tests check after exercising every call site.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ContentType is the media type of the exposition.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Registry holds metric families in registration order.
type Registry struct {
	mu       sync.Mutex // guards families, names and err
	families []family
	names    map[string]bool
	err      error // first misuse
}

// family is one metric name with its HELP and TYPE.
type family interface {
	write(w *bufio.Writer)
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

func (r *Registry) register(name string, f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		r.failLocked(fmt.Errorf("metrics: duplicate metric %s", name))
		return
	}
	r.names[name] = true
	r.families = append(r.families, f)
}

// fail records the first misuse.
func (r *Registry) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failLocked(err)
}

func (r *Registry) failLocked(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Err returns the first misuse seen: a duplicate name, unsorted buckets, a
// sample with the wrong number of label values or a negative counter delta.
func (r *Registry) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// WriteTo writes every family in the text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	fams := slices.Clone(r.families)
	r.mu.Unlock()
	cw := &countWriter{w: w}
	bw := bufio.NewWriter(cw)
	for _, f := range fams {
		f.write(bw)
	}
	err := bw.Flush()
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// meta is the shared header of a family.
type meta struct {
	reg             *Registry
	name, help, typ string
	labels          []string
}

func (m *meta) header(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.name, escapeHelp(m.help), m.name, m.typ)
}

// key joins label values into a map key; \xff cannot occur in valid UTF-8.
func key(values []string) string { return strings.Join(values, "\xff") }

// check reports whether values fit the family's labels, recording misuse.
func (m *meta) check(values []string) bool {
	if len(values) != len(m.labels) {
		m.reg.fail(fmt.Errorf("metrics: %s takes %d label values, got %d", m.name, len(m.labels), len(values)))
		return false
	}
	return true
}

// labelString renders {a="x",b="y"} plus optional extra pairs (e.g. le).
func (m *meta) labelString(values []string, extra ...string) string {
	if len(values) == 0 && len(extra) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteByte('{')
	pair := func(k, v string) {
		if sb.Len() > 1 {
			sb.WriteByte(',')
		}
		sb.WriteString(k)
		sb.WriteString(`="`)
		sb.WriteString(escapeValue(v))
		sb.WriteByte('"')
	}
	for i, v := range values {
		pair(m.labels[i], v)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		pair(extra[i], extra[i+1])
	}
	sb.WriteByte('}')
	return sb.String()
}

// Counter is a family of monotonically increasing values, one per label
// combination.
type Counter struct {
	meta
	mu     sync.Mutex // guards series
	series map[string]*series
}

type series struct {
	values []string
	v      float64
}

// NewCounter registers a counter family.
func (r *Registry) NewCounter(name, help string, labels ...string) *Counter {
	c := &Counter{meta: meta{reg: r, name: name, help: help, typ: "counter", labels: labels}, series: map[string]*series{}}
	r.register(name, c)
	return c
}

// Add adds delta (≥ 0) to the series with the given label values.
func (c *Counter) Add(delta float64, values ...string) {
	if !c.check(values) {
		return
	}
	if delta < 0 || math.IsNaN(delta) {
		c.reg.fail(fmt.Errorf("metrics: counter %s: bad delta %v", c.name, delta))
		return
	}
	k := key(values)
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.series[k]
	if !ok {
		s = &series{values: slices.Clone(values)}
		c.series[k] = s
	}
	s.v += delta
}

// Inc adds 1.
func (c *Counter) Inc(values ...string) { c.Add(1, values...) }

// Value returns the current value of one series (0 when absent).
func (c *Counter) Value(values ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.series[key(values)]; ok {
		return s.v
	}
	return 0
}

func (c *Counter) write(w *bufio.Writer) {
	c.header(w)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range sortedKeys(c.series) {
		s := c.series[k]
		fmt.Fprintf(w, "%s%s %s\n", c.name, c.labelString(s.values), formatFloat(s.v))
	}
}

// Func is a family whose values are computed at scrape time: gauges or
// counters kept elsewhere (by the engine, the Go runtime, the kernel).
type Func struct {
	meta
	collect func(emit func(v float64, values ...string))
}

// NewFunc registers a family of type typ ("gauge" or "counter") whose series
// collect emits at each scrape, one call of emit per label combination.
// collect must be safe for concurrent use.
func (r *Registry) NewFunc(name, help, typ string, labels []string, collect func(emit func(v float64, values ...string))) {
	if typ != "gauge" && typ != "counter" {
		r.fail(fmt.Errorf("metrics: %s: unsupported func type %q", name, typ))
		return
	}
	r.register(name, &Func{meta: meta{reg: r, name: name, help: help, typ: typ, labels: labels}, collect: collect})
}

// NewGaugeFunc registers an unlabelled gauge read from f at each scrape.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) {
	r.NewFunc(name, help, "gauge", nil, func(emit func(float64, ...string)) { emit(f()) })
}

// NewCounterFunc registers an unlabelled counter read from f at each scrape.
func (r *Registry) NewCounterFunc(name, help string, f func() float64) {
	r.NewFunc(name, help, "counter", nil, func(emit func(float64, ...string)) { emit(f()) })
}

func (g *Func) write(w *bufio.Writer) {
	g.header(w)
	g.collect(func(v float64, values ...string) {
		if g.check(values) {
			fmt.Fprintf(w, "%s%s %s\n", g.name, g.labelString(values), formatFloat(v))
		}
	})
}

// Histogram counts observations into cumulative buckets, per label
// combination.
type Histogram struct {
	meta
	bounds []float64 // upper bounds, ascending, without +Inf
	mu     sync.Mutex
	series map[string]*histSeries // guarded by mu
}

type histSeries struct {
	values []string
	counts []uint64 // per bucket (not cumulative); last is +Inf
	sum    float64
	n      uint64
}

// NewHistogram registers a histogram family with the given ascending
// bucket upper bounds (+Inf is implied).
func (r *Registry) NewHistogram(name, help string, bounds []float64, labels ...string) *Histogram {
	if !slices.IsSorted(bounds) {
		r.fail(fmt.Errorf("metrics: histogram %s: bounds not ascending", name))
		bounds = slices.Sorted(slices.Values(bounds))
	}
	h := &Histogram{meta: meta{reg: r, name: name, help: help, typ: "histogram", labels: labels},
		bounds: slices.Clone(bounds), series: map[string]*histSeries{}}
	r.register(name, h)
	return h
}

// Observe records v in the series with the given label values.
func (h *Histogram) Observe(v float64, values ...string) {
	if !h.check(values) {
		return
	}
	k := key(values)
	i, _ := slices.BinarySearch(h.bounds, v) // first bound ≥ v; len(bounds) = +Inf
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.series[k]
	if !ok {
		s = &histSeries{values: slices.Clone(values), counts: make([]uint64, len(h.bounds)+1)}
		h.series[k] = s
	}
	s.counts[i]++
	s.sum += v
	s.n++
}

// Count returns the number of observations of one series.
func (h *Histogram) Count(values ...string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.series[key(values)]; ok {
		return s.n
	}
	return 0
}

func (h *Histogram) write(w *bufio.Writer) {
	h.header(w)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range sortedKeys(h.series) {
		s := h.series[k]
		var cum uint64
		for i, c := range s.counts {
			cum += c
			le := "+Inf"
			if i < len(h.bounds) {
				le = formatFloat(h.bounds[i])
			}
			fmt.Fprintf(w, "%s_bucket%s %d\n", h.name, h.labelString(s.values, "le", le), cum)
		}
		fmt.Fprintf(w, "%s_sum%s %s\n", h.name, h.labelString(s.values), formatFloat(s.sum))
		fmt.Fprintf(w, "%s_count%s %d\n", h.name, h.labelString(s.values), s.n)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeValue(s string) string { return valueEscaper.Replace(s) }
