package quant

import (
	"encoding/binary"
	"testing"

	"github.com/pensieve-llm/pensieve/model/parallel"
)

func TestStreamReadSumsWords(t *testing.T) {
	p := parallel.New(2)
	defer p.Close()
	for _, n := range []int{0, 7, 8, 127, 128, 4096 + 136, 1 << 20} {
		buf := make([]byte, n)
		var want uint64
		for i := range buf {
			buf[i] = byte(i*131 + 7)
		}
		for i := 0; i+8 <= n; i += 8 {
			want += binary.LittleEndian.Uint64(buf[i:])
		}
		// Chunks split at multiples of 4096 bytes, so no word straddles two.
		if got := StreamRead(p, buf); got != want {
			t.Errorf("n=%d: sum %d, want %d", n, got, want)
		}
		if got := StreamRead(nil, buf); got != want {
			t.Errorf("n=%d, no pool: sum %d, want %d", n, got, want)
		}
	}
}
