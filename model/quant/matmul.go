package quant

import (
	"sync"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// tokenTile is how many activation rows one pass over a weight row serves:
// the weight row stays in L1 while the tile's activations stream past, and
// the tile (≤ 64 × k int8) stays in L2.
const tokenTile = 64

// MatMul computes out = x · wᵀ: x is (n, w.Shape[0]) row-major float32, w is
// (w.Rows(), w.Shape[0]) of any supported type and out is (n, w.Rows()).
// The activations are first converted to the type llama.cpp pairs with w's
// type (spec §2.5), once for all rows; then every output is a dot product of
// a weight row, read in place, with a converted activation row. Rows are
// split across p's workers (p may be nil: single-threaded). MatMul allocates
// nothing in steady state. Unsupported types and inconsistent sizes fail
// with core.KindInvalid.
func MatMul(out []float32, w *core.Tensor, x []float32, n int, p *parallel.Pool) error {
	return matMul(out, w, x, n, p, kernels)
}

func matMul(out []float32, w *core.Tensor, x []float32, n int, p *parallel.Pool, ks *kernelSet) error {
	return matMulMulti([][]float32{out}, []*core.Tensor{w}, x, n, p, ks)
}

// MatMulMulti computes outs[i] = x · ws[i]ᵀ for weights of the same row
// length whose types pair with the same activation type (for example the
// Q, K and V projections of a layer): the activations are converted once
// and all rows go through the pool in one pass. Weights whose activation
// types differ are computed one after the other. Each product is exactly
// what MatMul computes.
func MatMulMulti(outs [][]float32, ws []*core.Tensor, x []float32, n int, p *parallel.Pool) error {
	if len(outs) != len(ws) {
		return core.Errorf(core.KindInvalid, "quant.MatMulMulti", "%d outputs for %d weights", len(outs), len(ws))
	}
	if len(ws) > maxSegs || !sameActs(ws) {
		for i, w := range ws {
			if err := matMul(outs[i], w, x, n, p, kernels); err != nil {
				return err
			}
		}
		return nil
	}
	return matMulMulti(outs, ws, x, n, p, kernels)
}

// maxSegs bounds the weights of one MatMulMulti pass.
const maxSegs = 4

// sameActs reports whether the weights share the row length and the
// activation type.
func sameActs(ws []*core.Tensor) bool {
	for _, w := range ws {
		if w == nil || len(w.Shape) == 0 || len(ws[0].Shape) == 0 {
			return false
		}
		k0, ok0 := actKindOf(ws[0].Type)
		k, ok := actKindOf(w.Type)
		if !ok || !ok0 || k != k0 || w.Shape[0] != ws[0].Shape[0] {
			return false
		}
	}
	return true
}

func matMulMulti(outs [][]float32, ws []*core.Tensor, x []float32, n int, p *parallel.Pool, ks *kernelSet) error {
	const op = "quant.MatMul"
	var segs [maxSegs]mmSeg
	total, k, kind, any4 := 0, 0, actKind(0), false
	for i, w := range ws {
		if w == nil || len(w.Shape) == 0 {
			return core.Errorf(core.KindInvalid, op, "weight tensor without a shape")
		}
		wk, ok := actKindOf(w.Type)
		dot := ks.dot[w.Type]
		if !ok || dot == nil {
			return core.Errorf(core.KindInvalid, op, "tensor %q: matrix products of type %s are not supported", w.Name, dtype.Name(w.Type))
		}
		kw, rows := w.Shape[0], w.Rows()
		rowSize, err := dtype.RowSize(w.Type, kw)
		switch {
		case err != nil:
			return core.Errorf(core.KindInvalid, op, "tensor %q: %w", w.Name, err)
		case kw%wk.block() != 0:
			return core.Errorf(core.KindInvalid, op, "tensor %q: row length %d is not a multiple of %d", w.Name, kw, wk.block())
		case n < 0 || rows < 0:
			return core.Errorf(core.KindInvalid, op, "tensor %q: negative size", w.Name)
		case len(w.Data) < rows*rowSize:
			return core.Errorf(core.KindInvalid, op, "tensor %q: %d data bytes, need %d", w.Name, len(w.Data), rows*rowSize)
		case len(x) < n*kw:
			return core.Errorf(core.KindInvalid, op, "tensor %q: x holds %d values, need %d×%d", w.Name, len(x), n, kw)
		case len(outs[i]) < n*rows:
			return core.Errorf(core.KindInvalid, op, "tensor %q: out holds %d values, need %d×%d", w.Name, len(outs[i]), n, rows)
		case i > 0 && (wk != kind || kw != k):
			return core.Errorf(core.KindInvalid, op, "tensor %q: activations differ from tensor %q's", w.Name, ws[0].Name)
		}
		kind, k = wk, kw
		segs[i] = mmSeg{out: outs[i], w: w.Data, rowSize: rowSize, rows: rows, start: total, dot: dot, dot4: ks.dot4[w.Type], dotRows: ks.rows[w.Type]}
		any4 = any4 || segs[i].dot4 != nil
		total += rows
	}
	if n == 0 || total == 0 {
		return nil
	}
	j := jobs.Get().(*mmJob)
	j.segs = append(j.segs[:0], segs[:len(ws)]...)
	j.prepareActs(kind, x, n, k, any4, ks, p)
	if any4 {
		j.fours = grow(j.fours, p.Workers())
	}
	if n == 1 && p.Workers() > 1 {
		// Decoding: chunks shrinking towards the end, so that the workers
		// finish together (see guidedChunks).
		bytes := 0
		for _, sg := range j.segs {
			bytes += sg.rows * sg.rowSize
		}
		j.bounds = guidedChunks(j.bounds[:0], total, max(1, minChunkBytes*total/bytes), p.Workers())
		p.Run(j, len(j.bounds)-1, 1)
		j.bounds = j.bounds[:0]
	} else {
		p.Run(j, total, grainFor(total, n, p.Workers()))
	}
	clear(j.segs) // drop references to the caller's memory
	j.a.f = nil
	jobs.Put(j)
	return nil
}

// prepareActs converts the activations (and interleaves the four-token
// groups when there is a four-token kernel), in parallel on p for batches
// of several groups: rows are independent.
func (j *mmJob) prepareActs(kind actKind, x []float32, n, k int, groups bool, ks *kernelSet, p *parallel.Pool) {
	a := &j.a
	a.setup(kind, x, n, k)
	if groups {
		a.setupGroups(ks.corr, ks.dx)
	} else {
		a.groups = 0
	}
	if n < 8 || p.Workers() == 1 || kind == actF32 {
		a.convert(x, 0, n)
		a.fillGroups(0, a.groups)
		return
	}
	j.prep.a, j.prep.x = a, x
	p.Run(&j.prep, (n+3)/4, max(1, n/4/(4*p.Workers())))
	j.prep.a, j.prep.x = nil, nil
}

// prepTask converts groups of four activation rows: item g is rows
// [4g, 4g+4) and, when it is whole and grouped, group g.
type prepTask struct {
	a *acts
	x []float32
}

// Do converts groups [lo, hi).
func (t *prepTask) Do(_, lo, hi int) {
	t.a.convert(t.x, 4*lo, min(4*hi, t.a.n))
	t.a.fillGroups(min(lo, t.a.groups), min(hi, t.a.groups))
}

// minChunkBytes is the least weight data guidedChunks puts in a chunk:
// claiming a chunk costs a contended atomic operation (~0.1 µs), a chunk
// of 32 KiB takes a few µs to stream.
const minChunkBytes = 32 << 10

// guidedChunks appends to b the row boundaries of a guided split of rows
// over workers (b[0] = 0, …, rows): each chunk takes 1/(8·workers) of the
// rows still unassigned, at least minRows, rounded up to 16 rows (whole
// cache lines of a token's outputs). The first chunk is as large as the
// uniform chunks of grainFor (so a worker descheduled while it holds one
// delays the product no more than before), the last are small, so a worker
// that finishes early waits for at most a small one — with uniform chunks
// the last one keeps a worker idle for half a chunk on average, about
// 1/32 of a one-token product's time.
func guidedChunks(b []int, rows, minRows, workers int) []int {
	b = append(b, 0)
	for lo := 0; lo < rows; {
		size := max(minRows, (rows-lo)/(8*workers))
		lo = min(rows, lo+(size+15)&^15)
		b = append(b, lo)
	}
	return b
}

// grainFor picks the rows per chunk: about eight chunks per worker so that a
// slow worker is balanced out, at least 4 rows, fewer when n is large.
func grainFor(rows, n, workers int) int {
	g := rows / (8 * workers)
	if n > 1 {
		g = rows / (4 * workers)
	}
	return max(4, g)
}

// mmJob is one MatMul call's state, recycled through jobs so that steady
// state allocates nothing. Its rows are those of its segments, one after
// the other.
type mmJob struct {
	a      acts
	segs   []mmSeg
	bounds []int    // guidedChunks while a one-token product runs: item i is rows [bounds[i], bounds[i+1])
	fours  []four   // per-worker results of dot4
	prep   prepTask // converts the activations on the pool
}

// mmSeg is one weight matrix of a job and its output.
type mmSeg struct {
	out     []float32 // (n, rows)
	w       []byte    // (rows, rowSize)
	rowSize int
	rows    int
	start   int // the job's row index of its first row
	dot     dotFunc
	dot4    dot4Func // nil: no four-token kernel for this type
	dotRows rowsFunc // nil: no kernel over several rows for this type
}

// four holds one worker's four-token results, padded to a cache line.
type four struct {
	v [4]float32
	_ [48]byte
}

var jobs = sync.Pool{New: func() any { return new(mmJob) }}

// Do computes out[i][r] for the job's rows [lo, hi) and every activation
// row i.
func (j *mmJob) Do(worker, lo, hi int) {
	if len(j.bounds) > 0 {
		lo, hi = j.bounds[lo], j.bounds[hi]
	}
	for s := range j.segs {
		sg := &j.segs[s]
		if l, h := max(lo, sg.start), min(hi, sg.start+sg.rows); l < h {
			j.doSeg(sg, worker, l-sg.start, h-sg.start)
		}
	}
}

// doSeg computes rows [lo, hi) of one segment, visiting activations in
// tiles so each weight row is read from memory once per tile.
func (j *mmJob) doSeg(sg *mmSeg, worker, lo, hi int) {
	n := j.a.n
	if n == 1 && sg.dotRows != nil {
		// One token (decoding): the whole range in one kernel call, which
		// saves a call chain per row; each row is the same computation.
		sg.dotRows(sg.w[lo*sg.rowSize:hi*sg.rowSize], &j.a, 0, sg.out[lo:hi])
		return
	}
	for t0 := 0; t0 < n; t0 += tokenTile {
		t1 := min(n, t0+tokenTile)
		for r := lo; r < hi; r++ {
			w := sg.w[r*sg.rowSize : (r+1)*sg.rowSize]
			i := t0
			if sg.dot4 != nil {
				// Tiles start at multiples of 4, so groups align with them.
				res := &j.fours[worker].v
				for ; i+4 <= t1 && i/4 < j.a.groups; i += 4 {
					sg.dot4(w, &j.a, i/4, res)
					for t, v := range res {
						sg.out[(i+t)*sg.rows+r] = v
					}
				}
			}
			for ; i < t1; i++ {
				sg.out[i*sg.rows+r] = sg.dot(w, &j.a, i)
			}
		}
	}
}

// rowsFunc computes the dot products of len(out) ≥ 1 consecutive weight
// rows starting at w with activation row i of a into out, each exactly as
// the type's dotFunc would.
type rowsFunc func(w []byte, a *acts, i int, out []float32)

// dot4Func computes the dot products of weight row w with the four
// activation rows of group g of a.
type dot4Func func(w []byte, a *acts, g int, out *[4]float32)

// kernelSet is the dot product per weight type chosen for this CPU.
type kernelSet struct {
	name  string
	dot   map[core.DType]dotFunc
	dot4  map[core.DType]dot4Func // four-token kernels, where there are any
	rows  map[core.DType]rowsFunc // kernels over several rows, where there are any
	accel map[core.DType]bool     // types whose kernel is not the portable one
	corr  bool                    // the Q8_0 four-token kernels need acts.gcorr
	dx    bool                    // and acts.gdx
}

// genericKernels uses only the portable Go kernels.
var genericKernels = &kernelSet{name: "generic", dot: genericDots}

// kernels is the best set for the running CPU (see the per-architecture
// files); it falls back to the generic kernels per type.
var kernels = bestKernels()

// mergeKernels returns generic overlaid with fast, keyed by type, plus the
// four-token kernels fast4.
func mergeKernels(name string, fast map[core.DType]dotFunc, fast4 map[core.DType]dot4Func) *kernelSet {
	m := make(map[core.DType]dotFunc, len(genericDots))
	for t, f := range genericDots {
		m[t] = f
	}
	accel := make(map[core.DType]bool, len(fast))
	for t, f := range fast {
		m[t], accel[t] = f, true
	}
	return &kernelSet{name: name, dot: m, dot4: fast4, accel: accel}
}
