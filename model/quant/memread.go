package quant

import (
	"encoding/binary"
	"sync"

	"github.com/pensieve-llm/pensieve/model/parallel"
)

// StreamRead reads every byte of buf once, split across p's workers (nil:
// the caller alone), with the widest loads the CPU has, and returns a
// checksum of the contents. It is the reference point for memory-bound
// kernels: time it on a buffer far larger than the caches to measure the
// read bandwidth a matrix-vector product can at best reach.
func StreamRead(p *parallel.Pool, buf []byte) uint64 {
	t := readTasks.Get().(*readTask)
	t.buf = buf
	grain := (len(buf) + p.Workers() - 1) / p.Workers()
	grain = (grain + 4095) &^ 4095
	clear(t.sums[:])
	p.Run(t, len(buf), grain)
	var s uint64
	for _, v := range t.sums {
		s += v.v
	}
	t.buf = nil
	readTasks.Put(t)
	return s
}

// readTask sums one chunk of the buffer per call, into its worker's slot.
type readTask struct {
	buf  []byte
	sums [64]struct {
		v uint64
		_ [56]byte
	}
}

var readTasks = sync.Pool{New: func() any { return new(readTask) }}

// Do sums buf[lo:hi].
func (t *readTask) Do(worker, lo, hi int) {
	t.sums[worker%len(t.sums)].v += sumBytes(t.buf[lo:hi])
}

// sumBytesGo is the portable sumWords.
func sumBytesGo(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	i := 0
	for ; i+32 <= len(b); i += 32 {
		s0 += binary.LittleEndian.Uint64(b[i:])
		s1 += binary.LittleEndian.Uint64(b[i+8:])
		s2 += binary.LittleEndian.Uint64(b[i+16:])
		s3 += binary.LittleEndian.Uint64(b[i+24:])
	}
	for ; i+8 <= len(b); i += 8 {
		s0 += binary.LittleEndian.Uint64(b[i:])
	}
	return s0 + s1 + s2 + s3
}
