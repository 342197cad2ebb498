//go:build !linux && !darwin

package server

// residentBytes is not implemented on this platform.
func residentBytes() (float64, bool) { return 0, false }

// cpuSeconds is not implemented on this platform.
func cpuSeconds() (float64, bool) { return 0, false }
