package quant

import (
	"math"
	"testing"
)

func TestF16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			if got := F32ToF16(f); got&0x7FFF != 0x7E00 || got&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("NaN %#04x → %#04x, want sign|0x7e00", h, got)
			}
			continue
		}
		if got := F32ToF16(f); got != uint16(h) {
			t.Fatalf("%#04x → %v → %#04x", h, f, got)
		}
		// The widening is exact: compare with the value computed in float64.
		exp, man := h>>10&31, float64(h&1023)
		var want float64
		switch exp {
		case 31:
			want = math.Inf(1)
		case 0:
			want = man * math.Pow(2, -24)
		default:
			want = (1 + man/1024) * math.Pow(2, float64(exp)-15)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(f) != want {
			t.Fatalf("%#04x widened to %v, want %v", h, f, want)
		}
	}
}

// TestF32ToF16Rounding checks round-to-nearest-even at every midpoint between
// two consecutive finite halves, and one ulp on either side of it.
func TestF32ToF16Rounding(t *testing.T) {
	for h := uint16(0); h < 0x7C00; h++ {
		lo, hi := F16ToF32(h), F16ToF32(h+1)
		if h+1 == 0x7C00 {
			hi = 65536 // the virtual next value: midpoint 65520 overflows to Inf
		}
		mid := (lo + hi) / 2 // exact in float32
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		below := math.Nextafter32(mid, float32(math.Inf(-1)))
		above := math.Nextafter32(mid, float32(math.Inf(1)))
		for _, c := range []struct {
			in   float32
			want uint16
		}{{mid, even}, {below, h}, {above, h + 1}, {-mid, even | 0x8000}, {-below, h | 0x8000}} {
			if got := F32ToF16(c.in); got != c.want {
				t.Fatalf("F32ToF16(%g [%#08x]) = %#04x, want %#04x", c.in, math.Float32bits(c.in), got, c.want)
			}
		}
	}
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{float32(math.Inf(1)), 0x7C00}, {float32(math.Inf(-1)), 0xFC00},
		{1e10, 0x7C00}, {float32(math.NaN()), 0x7E00}, {float32(math.Copysign(0, -1)), 0x8000},
		{1e-30, 0}, {math.SmallestNonzeroFloat32, 0},
	} {
		if got := F32ToF16(c.in); got != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

func TestBF16(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
	}{
		{0x3F800000, 0x3F80},                       // 1
		{0x3F808000, 0x3F80},                       // tie, even stays
		{0x3F818000, 0x3F82},                       // tie, odd rounds up
		{0x3F808001, 0x3F81},                       // above the tie
		{0x7F7FFFFF, 0x7F80},                       // max float rounds to Inf
		{0x7FC00001, 0x7FC0}, {0x7F800001, 0x7FC0}, // NaN made quiet
		{0xFF800001, 0xFFC0},
		{0x00000001, 0x0000}, {0x00018000, 0x0002}, // subnormals round, no flush
	} {
		if got := F32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	for h := range 1 << 16 {
		f := BF16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := F32ToBF16(f); got != uint16(h) {
			t.Fatalf("bf16 %#04x round trip gave %#04x", h, got)
		}
	}
}
