package metrics

import (
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExposition(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("req_total", "Requests served.", "route", "status")
	c.Inc("/a", "200")
	c.Add(2, "/a", "200")
	c.Inc("/b\"\n", "500")
	h := r.NewHistogram("lat_seconds", "Latency\nin seconds.", []float64{0.1, 1}, "route")
	h.Observe(0.05, "/a")
	h.Observe(0.1, "/a") // on a bound: counted in le="0.1"
	h.Observe(3, "/a")
	r.NewGaugeFunc("up", "Always 1.", func() float64 { return 1 })
	r.NewFunc("queue", "Per model.", "gauge", []string{"model"}, func(emit func(float64, ...string)) {
		emit(2, "m1")
		emit(0.5, "m2")
	})
	var sb strings.Builder
	if _, err := r.WriteTo(&sb); err != nil {
		t.Fatal(err)
	}
	want := `# HELP req_total Requests served.
# TYPE req_total counter
req_total{route="/a",status="200"} 3
req_total{route="/b\"\n",status="500"} 1
# HELP lat_seconds Latency\nin seconds.
# TYPE lat_seconds histogram
lat_seconds_bucket{route="/a",le="0.1"} 2
lat_seconds_bucket{route="/a",le="1"} 2
lat_seconds_bucket{route="/a",le="+Inf"} 3
lat_seconds_sum{route="/a"} 3.15
lat_seconds_count{route="/a"} 3
# HELP up Always 1.
# TYPE up gauge
up 1
# HELP queue Per model.
# TYPE queue gauge
queue{model="m1"} 2
queue{model="m2"} 0.5
`
	if diff := cmp.Diff(want, sb.String()); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	if got := c.Value("/a", "200"); got != 3 {
		t.Errorf("Value = %v, want 3", got)
	}
	if got := h.Count("/a"); got != 3 {
		t.Errorf("Count = %v, want 3", got)
	}
}

func TestMisuseIsRecorded(t *testing.T) {
	tests := []struct {
		name string
		use  func(r *Registry)
	}{
		{"duplicate", func(r *Registry) { r.NewCounter("x", ""); r.NewGaugeFunc("x", "", func() float64 { return 0 }) }},
		{"label arity", func(r *Registry) { r.NewCounter("x", "", "a").Inc() }},
		{"negative", func(r *Registry) { r.NewCounter("x", "").Add(-1) }},
		{"unsorted", func(r *Registry) { r.NewHistogram("x", "", []float64{2, 1}) }},
		{"histogram arity", func(r *Registry) { r.NewHistogram("x", "", nil).Observe(1, "extra") }},
		{"func type", func(r *Registry) { r.NewFunc("x", "", "summary", nil, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			tt.use(r)
			if r.Err() == nil {
				t.Error("Err = nil, want the misuse recorded")
			}
			var sb strings.Builder
			if _, err := r.WriteTo(&sb); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("n", "", "k")
	h := r.NewHistogram("h", "", []float64{1})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc("a")
				h.Observe(0.5)
			}
			var sb strings.Builder
			_, _ = r.WriteTo(&sb)
		})
	}
	wg.Wait()
	if got := c.Value("a"); got != 8000 {
		t.Errorf("counter = %v, want 8000", got)
	}
	if got := h.Count(); got != 8000 {
		t.Errorf("histogram count = %v, want 8000", got)
	}
}
