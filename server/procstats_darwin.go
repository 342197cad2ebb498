package server

import "syscall"

// residentBytes is unavailable without cgo on darwin: the resident size
// needs task_info. The series is then left without samples.
func residentBytes() (float64, bool) { return 0, false }

// cpuSeconds returns the user plus system CPU time of the process.
func cpuSeconds() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime), true
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
