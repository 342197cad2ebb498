package mmap

import (
	"errors"
	"os"

	"github.com/pensieve-llm/pensieve/core"
)

// Open opens path for reading and returns it with its size, classified for
// op: a missing file is core.KindNotFound, any other failure to open it
// core.KindInvalid, a failed stat core.KindInternal. The caller closes the
// file.
func Open(op, path string) (*os.File, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, core.E(core.KindNotFound, op, err)
		}
		return nil, 0, core.E(core.KindInvalid, op, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, core.E(core.KindInternal, op, err)
	}
	return fh, fi.Size(), nil
}
