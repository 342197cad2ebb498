//go:build unix

package quant

import "syscall"

// cpuSeconds returns the CPU time the process has used (user + system), for
// benchmarks that report CPU time per operation: on a shared machine it
// moves much less with load than the wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
