//go:build darwin

package metal

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

// These tests run only on macOS with a Metal device; each compares a kernel
// with a naive float64 reference on random inputs, within F16-math tolerance.

func openDevice(t *testing.T) *Device {
	t.Helper()
	b, err := Open()
	if errors.Is(err, core.KindUnavailable) {
		t.Skipf("no Metal device: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*Device)
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h) & 0x3FF
	switch {
	case exp == 0:
		f := float32(mant) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			return -f
		}
		return f
	case exp == 31:
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// randHalf returns a random normal half in [2^-8, 2^-3) with random sign.
func randHalf(r *rand.Rand) uint16 {
	h := uint16(7+r.IntN(5))<<10 | uint16(r.IntN(1024))
	if r.IntN(2) == 1 {
		h |= 0x8000
	}
	return h
}

func randFloats(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

// makeWeights returns random blocks of typ for rows×k values and their
// dequantization by the reference formulas of the GGUF spec §2.3.
func makeWeights(t *testing.T, r *rand.Rand, typ core.DType, rows, k int) ([]byte, []float32) {
	bs := blockShape[typ]
	nb := rows * k / bs[0]
	data := make([]byte, nb*bs[1])
	for i := range data {
		data[i] = byte(r.IntN(256))
	}
	deq := make([]float32, rows*k)
	for b := 0; b < nb; b++ {
		blk := data[b*bs[1] : (b+1)*bs[1]]
		y := deq[b*bs[0] : (b+1)*bs[0]]
		switch typ {
		case core.F32:
			v := float32(r.NormFloat64())
			binary.LittleEndian.PutUint32(blk, math.Float32bits(v))
			y[0] = v
		case core.F16:
			h := randHalf(r)
			binary.LittleEndian.PutUint16(blk, h)
			y[0] = halfToFloat(h)
		case core.Q8_0:
			binary.LittleEndian.PutUint16(blk, randHalf(r))
			d := halfToFloat(binary.LittleEndian.Uint16(blk))
			for i := 0; i < 32; i++ {
				y[i] = d * float32(int8(blk[2+i]))
			}
		case core.Q4_0:
			binary.LittleEndian.PutUint16(blk, randHalf(r))
			d := halfToFloat(binary.LittleEndian.Uint16(blk))
			for j := 0; j < 16; j++ {
				y[j] = d * float32(int(blk[2+j]&0xF)-8)
				y[j+16] = d * float32(int(blk[2+j]>>4)-8)
			}
		case core.Q4_K:
			binary.LittleEndian.PutUint16(blk, randHalf(r))
			binary.LittleEndian.PutUint16(blk[2:], randHalf(r))
			d := halfToFloat(binary.LittleEndian.Uint16(blk))
			dmin := halfToFloat(binary.LittleEndian.Uint16(blk[2:]))
			sc, q := blk[4:16], blk[16:]
			scaleMin := func(j int) (float32, float32) {
				if j < 4 {
					return float32(sc[j] & 63), float32(sc[j+4] & 63)
				}
				return float32(sc[j+4]&0xF | (sc[j-4]>>6)<<4), float32(sc[j+4]>>4 | (sc[j]>>6)<<4)
			}
			for j, is := 0, 0; j < 256; j, is = j+64, is+2 {
				s1, m1 := scaleMin(is)
				s2, m2 := scaleMin(is + 1)
				for l := 0; l < 32; l++ {
					y[j+l] = d*s1*float32(q[l]&0xF) - dmin*m1
					y[j+32+l] = d*s2*float32(q[l]>>4) - dmin*m2
				}
				q = q[32:]
			}
		case core.Q6_K:
			binary.LittleEndian.PutUint16(blk[208:], randHalf(r))
			d := halfToFloat(binary.LittleEndian.Uint16(blk[208:]))
			ql, qh, sc := blk[:128], blk[128:192], blk[192:208]
			for n := 0; n < 256; n += 128 {
				for l := 0; l < 32; l++ {
					is := l / 16
					q1 := int(ql[l]&0xF|((qh[l]>>0)&3)<<4) - 32
					q2 := int(ql[l+32]&0xF|((qh[l]>>2)&3)<<4) - 32
					q3 := int(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
					q4 := int(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
					y[n+l] = d * float32(int8(sc[is])) * float32(q1)
					y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
					y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
					y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
				}
				ql, qh, sc = ql[64:], qh[32:], sc[8:]
			}
		default:
			t.Fatalf("no generator for type %d", typ)
		}
	}
	return data, deq
}

func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / math.Max(den, 1e-30))
}

const tol = 2e-3 // F16-math tolerance on relative L2 error

func TestMatMul(t *testing.T) {
	d := openDevice(t)
	r := rand.New(rand.NewPCG(1, 2))
	for typ := range matmulKernels {
		t.Run(fmtType(typ), func(t *testing.T) {
			const rows, k, n = 64, 512, 3
			data, deq := makeWeights(t, r, typ, rows, k)
			x := randFloats(r, n*k)
			want := make([]float32, n*rows)
			for i := 0; i < n; i++ {
				for row := 0; row < rows; row++ {
					var s float64
					for j := 0; j < k; j++ {
						s += float64(deq[row*k+j]) * float64(x[i*k+j])
					}
					want[i*rows+row] = float32(s)
				}
			}
			got := make([]float32, n*rows)
			w := &core.Tensor{Name: "w", Type: typ, Shape: []int{k, rows}, Data: data}
			if err := d.MatMul(got, w, x, n); err != nil {
				t.Fatal(err)
			}
			if e := relErr(got, want); e > tol {
				t.Errorf("relative error %.2e > %.0e", e, tol)
			}
		})
	}
}

func fmtType(t core.DType) string {
	return map[core.DType]string{core.F32: "f32", core.F16: "f16", core.Q8_0: "q8_0", core.Q4_0: "q4_0", core.Q4_K: "q4_k", core.Q6_K: "q6_k"}[t]
}

func TestRMSNorm(t *testing.T) {
	d := openDevice(t)
	r := rand.New(rand.NewPCG(3, 4))
	const rows, n = 4, 300
	x, w := randFloats(r, rows*n), randFloats(r, n)
	want := make([]float32, rows*n)
	for i := 0; i < rows; i++ {
		var ss float64
		for _, v := range x[i*n : (i+1)*n] {
			ss += float64(v) * float64(v)
		}
		s := 1 / math.Sqrt(ss/n+1e-5)
		for j := 0; j < n; j++ {
			want[i*n+j] = float32(float64(x[i*n+j]) * s * float64(w[j]))
		}
	}
	got := make([]float32, rows*n)
	if err := d.RMSNorm(got, x, w, 1e-5); err != nil {
		t.Fatal(err)
	}
	if e := relErr(got, want); e > tol {
		t.Errorf("relative error %.2e", e)
	}
}

func TestRoPE(t *testing.T) {
	d := openDevice(t)
	r := rand.New(rand.NewPCG(5, 6))
	const heads, dim = 3, 64
	pos := []int32{0, 7, 100}
	for _, neox := range []bool{false, true} {
		x := randFloats(r, len(pos)*heads*dim)
		want := append([]float32(nil), x...)
		for ti, p := range pos {
			for h := 0; h < heads; h++ {
				v := want[(ti*heads+h)*dim:]
				for i := 0; i < dim/2; i++ {
					theta := float64(p) * math.Pow(10000, -2*float64(i)/dim)
					i0, i1 := 2*i, 2*i+1
					if neox {
						i0, i1 = i, i+dim/2
					}
					x0, x1 := float64(v[i0]), float64(v[i1])
					v[i0] = float32(x0*math.Cos(theta) - x1*math.Sin(theta))
					v[i1] = float32(x0*math.Sin(theta) + x1*math.Cos(theta))
				}
			}
		}
		if err := d.RoPE(x, pos, heads, dim, 10000, neox); err != nil {
			t.Fatal(err)
		}
		if e := relErr(x, want); e > tol {
			t.Errorf("neox=%v: relative error %.2e", neox, e)
		}
	}
}

func softmaxRef(x []float64) {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	var sum float64
	for i, v := range x {
		x[i] = math.Exp(v - mx)
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

func TestSoftmax(t *testing.T) {
	d := openDevice(t)
	r := rand.New(rand.NewPCG(7, 8))
	const rows, n = 3, 1000
	x := randFloats(r, rows*n)
	want := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		row := make([]float64, n)
		for j := range row {
			row[j] = float64(x[i*n+j])
		}
		softmaxRef(row)
		for j := range row {
			want[i*n+j] = float32(row[j])
		}
	}
	if err := d.Softmax(x, n); err != nil {
		t.Fatal(err)
	}
	if e := relErr(x, want); e > tol {
		t.Errorf("relative error %.2e", e)
	}
}

func TestAttention(t *testing.T) {
	d := openDevice(t)
	r := rand.New(rand.NewPCG(9, 10))
	const heads, kvHeads, dim, kvLen, pos0 = 4, 2, 64, 20, 16
	tokens := kvLen - pos0
	q, k, v := randFloats(r, tokens*heads*dim), randFloats(r, kvLen*kvHeads*dim), randFloats(r, kvLen*kvHeads*dim)
	scale := float32(1 / math.Sqrt(dim))
	want := make([]float32, len(q))
	for tk := 0; tk < tokens; tk++ {
		for h := 0; h < heads; h++ {
			kvh := h / (heads / kvHeads)
			last := pos0 + tk
			sc := make([]float64, last+1)
			for p := 0; p <= last; p++ {
				var s float64
				for j := 0; j < dim; j++ {
					s += float64(q[(tk*heads+h)*dim+j]) * float64(k[(p*kvHeads+kvh)*dim+j])
				}
				sc[p] = s * float64(scale)
			}
			softmaxRef(sc)
			for j := 0; j < dim; j++ {
				var acc float64
				for p := 0; p <= last; p++ {
					acc += sc[p] * float64(v[(p*kvHeads+kvh)*dim+j])
				}
				want[(tk*heads+h)*dim+j] = float32(acc)
			}
		}
	}
	got := make([]float32, len(q))
	if err := d.Attention(got, q, k, v, heads, kvHeads, dim, kvLen, pos0, scale); err != nil {
		t.Fatal(err)
	}
	if e := relErr(got, want); e > tol {
		t.Errorf("relative error %.2e", e)
	}
}

func TestElementwise(t *testing.T) {
	d := openDevice(t)
	r := rand.New(rand.NewPCG(11, 12))
	a, b := randFloats(r, 1000), randFloats(r, 1000)
	tests := []struct {
		name string
		run  func(out []float32) error
		ref  func(i int) float64
	}{
		{"silu", func(o []float32) error { return d.SiLU(o, a) }, func(i int) float64 { x := float64(a[i]); return x / (1 + math.Exp(-x)) }},
		{"gelu", func(o []float32) error { return d.GELU(o, a) }, func(i int) float64 {
			x := float64(a[i])
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*x*(1+0.044715*x*x)))
		}},
		{"add", func(o []float32) error { return d.Add(o, a, b) }, func(i int) float64 { return float64(a[i]) + float64(b[i]) }},
		{"mul", func(o []float32) error { return d.Mul(o, a, b) }, func(i int) float64 { return float64(a[i]) * float64(b[i]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]float32, len(a))
			if err := tt.run(got); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, len(a))
			for i := range want {
				want[i] = float32(tt.ref(i))
			}
			if e := relErr(got, want); e > tol {
				t.Errorf("relative error %.2e", e)
			}
		})
	}
}
