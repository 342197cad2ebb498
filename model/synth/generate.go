package synth

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// Generation geometry. Chunks depend only on tensor shapes, never on the
// worker count, so a seed gives the same bytes on any machine.
const (
	chunkElems = 1 << 18 // elements per unit of parallel work
	// bankMinElems is the size from which a quantized matrix is assembled
	// from a bank of pre-quantized blocks instead of quantizing fresh
	// values: ggml's K-quant reference quantizers cost ~100 ns per weight,
	// which would make a 1B-parameter Q4_K_M model take minutes.
	bankMinElems = 1 << 20
	bankBlocks   = 1 << 14 // blocks per bank
	bankChunk    = 1 << 10 // blocks per unit of bank-building work
)

// generator fills tensors for one write. Its fill functions are called one
// at a time by gguf.Writer.WriteTo and spread each tensor over workers.
type generator struct {
	ctx     context.Context // the Write call's context; lives only as long as that call
	seed    uint64
	workers int
	banks   map[bankKey][]byte // touched only by fill, which runs sequentially
}

type bankKey struct {
	typ core.DType
	ne0 int
}

func newGenerator(ctx context.Context, o Options) *generator {
	n := o.Workers
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &generator{ctx: ctx, seed: o.Seed, workers: n, banks: map[bankKey][]byte{}}
}

// stream returns the random source for one chunk of one tensor; distinct
// (tensor, chunk) pairs get independent streams.
func (g *generator) stream(tensor, chunk uint64) *rand.PCG {
	return rand.NewPCG(g.seed, mix64(tensor<<32^chunk))
}

// mix64 is SplitMix64's finalizer: it spreads nearby integers over the
// whole 64-bit range.
func mix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// normal returns an approximately standard normal value: the Irwin–Hall sum
// of four 16-bit uniforms from one 64-bit draw, centred and scaled to unit
// variance. It is several times faster than rand.NormFloat64.
func normal(r *rand.PCG) float32 {
	u := r.Uint64()
	s := float32(u&0xFFFF+u>>16&0xFFFF+u>>32&0xFFFF+u>>48+2) * (1.0 / 65536)
	return (s - 2) * sqrt3
}

// sqrt3 scales the Irwin–Hall sum of four uniforms (variance 1/3) to unit
// variance.
const sqrt3 = 1.7320508075688772

// uniform returns a value in [-1, 1).
func uniform(r *rand.PCG) float32 {
	return float32(r.Uint64()>>40)*(2.0/(1<<24)) - 1
}

// parallel runs fn(0..n-1) on up to g.workers goroutines and returns the
// first error; it stops early when ctx is canceled.
func (g *generator) parallel(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards first
		next  int        // guarded by mu
		first error      // guarded by mu
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || next >= n {
			return 0, false
		}
		if err := g.ctx.Err(); err != nil {
			first = core.E(core.KindCanceled, "synth.Write", err)
			return 0, false
		}
		next++
		return next - 1, true
	}
	for range min(g.workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// fill returns the function that writes tensor idx's bytes.
func (g *generator) fill(idx int, s tensorSpec, p preset) func(dst []byte) error {
	return func(dst []byte) error {
		if err := g.ctx.Err(); err != nil {
			return core.E(core.KindCanceled, "synth.Write", err)
		}
		switch s.kind {
		case kindRopeFreqs:
			putF32s(dst, llama3RopeFreqs(p))
			return nil
		case kindMatrix:
			if dtype.Quantized(s.typ) && elems(s.shape) >= bankMinElems {
				return g.fromBank(idx, s, dst)
			}
		}
		return g.fresh(idx, s, dst)
	}
}

func elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// value draws one element of a tensor of kind k; std is the matrix scale.
func value(r *rand.PCG, k tensorKind, std float32) float32 {
	switch k {
	case kindNorm:
		return 1 + 0.1*uniform(r)
	case kindPostNorm:
		return 8 * (1 + 0.1*uniform(r))
	case kindBias:
		return 0.02 * normal(r)
	}
	return std * normal(r)
}

// fresh draws every value of the tensor and converts it to its type, rows
// split into chunks over the workers.
func (g *generator) fresh(idx int, s tensorSpec, dst []byte) error {
	ne0 := s.shape[0]
	rowBytes, err := dtype.RowSize(s.typ, ne0)
	if err != nil {
		return err
	}
	rows := elems(s.shape) / max(ne0, 1)
	per := max(1, chunkElems/max(ne0, 1))
	std := float32(1 / math.Sqrt(float64(ne0)))
	nChunks := (rows + per - 1) / per
	return g.parallel(nChunks, func(c int) error {
		r := g.stream(uint64(idx), uint64(c))
		lo, hi := c*per, min(rows, (c+1)*per)
		src := make([]float32, (hi-lo)*ne0)
		for i := range src {
			src[i] = value(r, s.kind, std)
		}
		return encode(dst[lo*rowBytes:hi*rowBytes], s.typ, src)
	})
}

// encode writes src as type t into out, which has exactly the right size.
func encode(out []byte, t core.DType, src []float32) error {
	got, err := quant.Quantize(out[:0:len(out)], t, src)
	if err != nil {
		return err
	}
	if len(got) != len(out) {
		return core.Errorf(core.KindInternal, "synth.Write", "%s encoding of %d values gave %d bytes, want %d", dtype.Name(t), len(src), len(got), len(out))
	}
	return nil
}

// fromBank assembles a large quantized matrix from random blocks of a bank
// of blocks quantized from the same distribution. Every ggml block carries
// its own scales, so any sequence of valid blocks is a valid row.
func (g *generator) fromBank(idx int, s tensorSpec, dst []byte) error {
	bank, err := g.bank(s.typ, s.shape[0])
	if err != nil {
		return err
	}
	size := dtype.TypeSize(s.typ)
	nBlocks := len(dst) / size
	per := max(1, chunkElems/dtype.BlockSize(s.typ))
	nChunks := (nBlocks + per - 1) / per
	return g.parallel(nChunks, func(c int) error {
		r := g.stream(uint64(idx), uint64(c))
		for b := c * per; b < min(nBlocks, (c+1)*per); b++ {
			k := int((r.Uint64() >> 32) * bankBlocks >> 32)
			copy(dst[b*size:(b+1)*size], bank[k*size:(k+1)*size])
		}
		return nil
	})
}

// bank returns (building once per write) bankBlocks blocks of type t
// quantized from N(0, 1/ne0) values.
func (g *generator) bank(t core.DType, ne0 int) ([]byte, error) {
	key := bankKey{t, ne0}
	if b, ok := g.banks[key]; ok {
		return b, nil
	}
	blck, size := dtype.BlockSize(t), dtype.TypeSize(t)
	bank := make([]byte, bankBlocks*size)
	std := float32(1 / math.Sqrt(float64(ne0)))
	// Bank streams live above every tensor index.
	base := uint64(1)<<31 | uint64(t)<<24 | uint64(ne0)
	err := g.parallel(bankBlocks/bankChunk, func(c int) error {
		r := g.stream(base, uint64(c))
		src := make([]float32, bankChunk*blck)
		for i := range src {
			src[i] = std * normal(r)
		}
		return encode(bank[c*bankChunk*size:(c+1)*bankChunk*size], t, src)
	})
	if err != nil {
		return nil, err
	}
	g.banks[key] = bank
	return bank, nil
}

func putF32s(dst []byte, v []float32) {
	for i, x := range v {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
	}
}

// llama3RopeFreqs computes Llama 3.x's RoPE frequency divisors (spec §3.5)
// with the published scaling: factor 32, low/high frequency factors 1 and
// 4, original context 8192.
func llama3RopeFreqs(p preset) []float32 {
	const (
		factor  = 32.0
		lowFF   = 1.0
		highFF  = 4.0
		origCtx = 8192.0
	)
	lowWave, highWave := origCtx/lowFF, origCtx/highFF
	n := p.headDim / 2
	out := make([]float32, n)
	for i := range n {
		inv := 1 / math.Pow(float64(p.ropeBase), float64(2*i)/float64(p.headDim))
		wave := 2 * math.Pi / inv
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = factor
		default:
			smooth := (origCtx/wave - lowFF) / (highFF - lowFF)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}
