//go:build unix

package mmap

import (
	"fmt"
	"math"
	"os"
	"syscall"
)

// File maps size bytes of fh read-only and shared. The returned function
// unmaps it.
func File(fh *os.File, size int64) ([]byte, func() error, error) {
	if size > math.MaxInt {
		return nil, nil, fmt.Errorf("file of %d bytes is too large to map", size)
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
