//go:build !linux && !darwin

package server

// physicalMemory is not implemented on this platform.
func physicalMemory() (int64, bool) { return 0, false }
