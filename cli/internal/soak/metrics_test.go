package soak

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 17
process_resident_memory_bytes 1.2345e+07
pensieve_active_generations{model="a"} 2
pensieve_active_generations{model="b } \" x"} 3 1700000000000

pensieve_http_requests_total{route="/v1/messages",method="POST",status="200"} 5
`
	got, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := Metrics{"go_goroutines": 17, "process_resident_memory_bytes": 12345000,
		"pensieve_active_generations": 5, "pensieve_http_requests_total": 5}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	s, err := sampleOf(got)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Sample{Goroutines: 17, RSSBytes: 12345000, HeapBytes: -1, Inflight: -1, Active: 5}); s != want {
		t.Errorf("sample %+v, want %+v", s, want)
	}
}

func TestParseMetricsRejects(t *testing.T) {
	for _, text := range []string{
		"go_goroutines\n",
		"go_goroutines x\n",
		`a{b="c" 1` + "\n",
		"a 1 2 3\n",
	} {
		if _, err := ParseMetrics(strings.NewReader(text)); err == nil {
			t.Errorf("ParseMetrics(%q) succeeded", text)
		}
	}
}

func TestSampleOf(t *testing.T) {
	if _, err := sampleOf(Metrics{"process_resident_memory_bytes": 1}); err == nil {
		t.Error("sampleOf without go_goroutines succeeded")
	}
	if _, err := sampleOf(Metrics{"go_goroutines": 1}); err == nil {
		t.Error("sampleOf without any memory series succeeded")
	}
	s, err := sampleOf(Metrics{"go_goroutines": 3, "go_memstats_sys_bytes": 42, "go_memstats_heap_inuse_bytes": 7, "pensieve_inflight_requests": 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Sample{Goroutines: 3, RSSBytes: 42, HeapBytes: 7, Inflight: 1, Active: -1}); s != want {
		t.Errorf("sample %+v, want %+v", s, want)
	}
}
