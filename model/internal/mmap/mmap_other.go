//go:build !unix

package mmap

import "os"

// File does not map on this platform: it returns no data, and callers read
// the file through fh instead.
func File(*os.File, int64) ([]byte, func() error, error) { return nil, nil, nil }
