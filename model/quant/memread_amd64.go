//go:build !purego

package quant

//go:noescape
func sumBytesAVX2(p *byte, n int) uint64

// sumBytes returns the sum of b's little-endian uint64 words (a trailing
// partial word is ignored).
func sumBytes(b []byte) uint64 {
	n := len(b) &^ 127
	var s uint64
	if n > 0 && hasAVX2 {
		s = sumBytesAVX2(&b[0], n)
	} else {
		n = 0
	}
	return s + sumBytesGo(b[n:])
}
