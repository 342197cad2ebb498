package server

import "testing"

func TestMemTotal(t *testing.T) {
	tests := []struct {
		name    string
		meminfo string
		want    int64
		ok      bool
	}{
		{"typical", "MemTotal:       16318480 kB\nMemFree:         1234 kB\n", 16318480 << 10, true},
		{"not first", "Foo: 1 kB\nMemTotal: 2 kB\n", 2 << 10, true},
		{"missing", "MemFree: 1 kB\n", 0, false},
		{"no unit", "MemTotal: 1024\n", 0, false},
		{"garbage", "MemTotal: lots kB\n", 0, false},
		{"zero", "MemTotal: 0 kB\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := memTotal([]byte(tt.meminfo))
			if got != tt.want || ok != tt.ok {
				t.Errorf("memTotal = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if b := defaultMemoryBudget(); b <= 0 {
		t.Errorf("defaultMemoryBudget() = %d on Linux, want a positive share of /proc/meminfo", b)
	}
}
