package server

import (
	"encoding/binary"
	"syscall"
)

// physicalMemory is the hw.memsize sysctl: a little-endian uint64, which
// syscall.Sysctl returns as a string missing its last byte when that byte
// is zero.
func physicalMemory() (int64, bool) {
	s, err := syscall.Sysctl("hw.memsize")
	if err != nil || len(s) == 0 || len(s) > 8 {
		return 0, false
	}
	var b [8]byte
	copy(b[:], s)
	return int64(binary.LittleEndian.Uint64(b[:])), true
}
