package quant

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// Benchmark geometry: a 2048×8192 weight matrix (rows of 8192), the size of
// a small model's FFN projection. Throughput is reported as weight bytes
// per second (SetBytes), to compare with BenchmarkMemRead.
const benchRows, benchK = 2048, 8192

// BenchmarkMatVec measures one-token matrix-vector products per weight type
// at 1 and 2 threads.
func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randNormal(3, benchK)
	out := make([]float32, benchRows)
	for _, typ := range matmulTypes {
		w := &core.Tensor{Name: "bench", Type: typ, Shape: []int{benchK, benchRows}, Data: randomBlocks(r, typ, benchK*benchRows)}
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", typeNameForTest(typ), threads), func(b *testing.B) {
				p := parallel.New(threads)
				defer p.Close()
				b.SetBytes(int64(len(w.Data)))
				b.ReportAllocs()
				for b.Loop() {
					if err := MatMul(out, w, x, 1, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMatMulPrefill measures a 64-token product (prompt processing).
func BenchmarkMatMulPrefill(b *testing.B) {
	const n = 64
	r := rand.New(rand.NewPCG(1, 2))
	x := randNormal(3, n*benchK)
	out := make([]float32, n*benchRows)
	for _, typ := range []core.DType{core.Q4_K, core.Q8_0, core.Q6_K, core.F16} {
		w := &core.Tensor{Name: "bench", Type: typ, Shape: []int{benchK, benchRows}, Data: randomBlocks(r, typ, benchK*benchRows)}
		// "single" uses only the one-token kernels, for comparison.
		sets := []*kernelSet{{name: "single", dot: kernels.dot}}
		for _, ks := range runnableKernels() {
			if ks != genericKernels {
				sets = append(sets, ks)
			}
		}
		for _, ks := range sets {
			b.Run(typeNameForTest(typ)+"/"+ks.name, func(b *testing.B) {
				p := parallel.New(2)
				defer p.Close()
				b.ReportAllocs()
				for b.Loop() {
					if err := matMul(out, w, x, n, p, ks); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*2*n*benchK*benchRows/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// memBuf is a 1 GiB buffer, larger than any cache, for BenchmarkMemRead.
var memBuf = sync.OnceValue(func() []byte {
	buf := make([]byte, 1<<30)
	for i := range buf {
		buf[i] = byte(i)
	}
	return buf
})

// BenchmarkMemRead measures the machine's read bandwidth at 1 and 2
// threads: the ceiling for a memory-bound matrix-vector product.
func BenchmarkMemRead(b *testing.B) {
	buf := memBuf()
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			p := parallel.New(threads)
			defer p.Close()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				StreamRead(p, buf)
			}
		})
	}
}

// BenchmarkMatVecDRAM streams a 1 GiB weight matrix (rows of 8192), far
// larger than any cache, so its throughput compares directly with
// BenchmarkMemRead; the 2048×8192 matrices of BenchmarkMatVec fit in the
// last-level cache of large server CPUs.
func BenchmarkMatVecDRAM(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randNormal(3, benchK)
	for _, typ := range []core.DType{core.Q4_K, core.Q8_0, core.Q6_K, core.Q4_0, core.F16} {
		w := gibMatrix(r, typ)
		out := make([]float32, w.Shape[1])
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", typeNameForTest(typ), threads), func(b *testing.B) {
				p := parallel.New(threads)
				defer p.Close()
				b.SetBytes(int64(len(w.Data)))
				for b.Loop() {
					if err := MatMul(out, w, x, 1, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// gibMatrix returns a benchK-wide matrix of typ of about 1 GiB (whole
// rows), a random benchK×benchRows tile repeated: larger than any cache.
func gibMatrix(r *rand.Rand, typ core.DType) *core.Tensor {
	tile := randomBlocks(r, typ, benchK*benchRows)
	rowBytes := len(tile) / benchRows
	rows := (1 << 30) / rowBytes
	data := make([]byte, rows*rowBytes)
	for off := 0; off < len(data); off += len(tile) {
		copy(data[off:], tile)
	}
	return &core.Tensor{Name: "bench", Type: typ, Shape: []int{benchK, rows}, Data: data}
}

// BenchmarkBandwidthRatio alternates a 1 GiB memory read and a 1 GiB
// matrix-vector product inside each iteration and reports both rates and
// matvec/memread, so that load from other processes on a shared machine
// hits both sides of the ratio alike.
func BenchmarkBandwidthRatio(b *testing.B) {
	buf := memBuf()
	r := rand.New(rand.NewPCG(1, 2))
	x := randNormal(3, benchK)
	for _, typ := range []core.DType{core.Q4_K, core.Q8_0} {
		w := gibMatrix(r, typ)
		out := make([]float32, w.Shape[1])
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", typeNameForTest(typ), threads), func(b *testing.B) {
				p := parallel.New(threads)
				defer p.Close()
				var memNS, mvNS int64
				for b.Loop() {
					t0 := time.Now()
					StreamRead(p, buf)
					t1 := time.Now()
					if err := MatMul(out, w, x, 1, p); err != nil {
						b.Fatal(err)
					}
					memNS += t1.Sub(t0).Nanoseconds()
					mvNS += time.Since(t1).Nanoseconds()
				}
				memGBs := float64(b.N) * float64(len(buf)) / float64(memNS)
				mvGBs := float64(b.N) * float64(len(w.Data)) / float64(mvNS)
				b.ReportMetric(memGBs, "read-GB/s")
				b.ReportMetric(mvGBs, "matvec-GB/s")
				b.ReportMetric(mvGBs/memGBs, "ratio")
			})
		}
	}
}
