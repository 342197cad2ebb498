package transformer

import "github.com/pensieve-llm/pensieve/core"

// The element-wise steps of a forward pass (norms, residual adds, the
// gate activation, biases, Q/K norms, RoPE and the cache writes) work row by
// row; for a batch of several tokens they run on the worker pool, a single
// token stays on the caller. rowTask holds one such step; it lives in the
// cache's state so that running it allocates nothing.

// rowOp selects what a rowTask does with each row.
type rowOp uint8

const (
	opNorm    rowOp = iota // out = rmsnorm(x)·w
	opAddNorm              // x += y, then out = rmsnorm(x)·w (w nil: only the add)
	opAct                  // out = act(gate, up) with gate and up halves of y (fused) or x and y
	opQKV                  // biases, Q/K norms, RoPE, Q scale, then the cache writes
)

type rowTask struct {
	op    rowOp
	width int // values per row of out/x
	out   []float32
	x, y  []float32
	w     []float32
	eps   float32
	fused bool                          // opAct: y holds gate|up rows of 2·width
	act   func(out, gate, up []float32) // opAct

	// opQKV
	m       *Model
	c       *Cache
	l       int
	b       *core.Batch
	q, k, v []float32
}

// Do processes rows [lo, hi).
func (t *rowTask) Do(_, lo, hi int) {
	d := t.width
	switch t.op {
	case opNorm:
		rmsnormRows(t.out[lo*d:hi*d], t.x[lo*d:hi*d], t.w, t.eps, hi-lo)
	case opAddNorm:
		add(t.x[lo*d:hi*d], t.y[lo*d:hi*d])
		if t.w != nil {
			rmsnormRows(t.out[lo*d:hi*d], t.x[lo*d:hi*d], t.w, t.eps, hi-lo)
		}
	case opAct:
		for i := lo; i < hi; i++ {
			if t.fused {
				t.act(t.out[i*d:(i+1)*d], t.y[i*2*d:i*2*d+d], t.y[i*2*d+d:(i+1)*2*d])
			} else {
				t.act(t.out[i*d:(i+1)*d], t.x[i*d:(i+1)*d], t.y[i*d:(i+1)*d])
			}
		}
	case opQKV:
		t.m.finishQKV(t.c, t.l, t.b, t.q, t.k, t.v, lo, hi)
	}
}

// runRows runs t over n rows: on the pool for a batch, inline for one or
// two tokens.
func (m *Model) runRows(t *rowTask, n int) {
	if n < 4 {
		t.Do(0, 0, n)
	} else {
		m.pool.Run(t, n, max(1, n/(4*m.pool.Workers())))
	}
	t.out, t.x, t.y, t.w, t.q, t.k, t.v, t.b, t.c, t.act = nil, nil, nil, nil, nil, nil, nil, nil, nil, nil
}

// normRows sets out = rmsnorm(x)·w for n rows of len(w).
func (m *Model) normRows(st *state, out, x, w []float32, n int) {
	t := &st.rowTask
	t.op, t.width, t.out, t.x, t.w, t.eps = opNorm, len(w), out, x, w, m.cfg.NormEps
	m.runRows(t, n)
}

// addNormRows adds y to the residual stream x (n rows of width) and, when
// w is not nil, sets out = rmsnorm(x)·w.
func (m *Model) addNormRows(st *state, out, x, y, w []float32, width, n int) {
	t := &st.rowTask
	t.op, t.width, t.out, t.x, t.y, t.w, t.eps = opAddNorm, width, out, x, y, w, m.cfg.NormEps
	m.runRows(t, n)
}

// finishQKV applies to rows [lo, hi) of the projections of layer l what
// comes between them and attention: biases, Q/K norms, RoPE and the Q
// scale; then it writes the keys and values to the cache.
func (m *Model) finishQKV(c *Cache, l int, b *core.Batch, q, k, v []float32, lo, hi int) {
	cfg, st := &m.cfg, &c.st
	L := &m.w.Layers[l]
	qd, kvd := cfg.QDim(), cfg.KVDim()
	qr, kr, vr := q[lo*qd:hi*qd], k[lo*kvd:hi*kvd], v[lo*kvd:hi*kvd]
	if L.Bq != nil {
		addBias(qr, L.Bq)
		addBias(kr, L.Bk)
		addBias(vr, L.Bv)
	}
	if L.QNorm != nil {
		rmsnormHeads(qr, L.QNorm, cfg.NormEps)
		rmsnormHeads(kr, L.KNorm, cfg.NormEps)
	}
	r, cs := cfg.rope(l), st.rope
	if r == &cfg.LocalRope {
		cs = st.ropeLocal
	}
	cs = cs[lo*r.Dims : hi*r.Dims]
	r.apply(qr, cs, hi-lo, cfg.HeadDim)
	r.apply(kr, cs, hi-lo, cfg.HeadDim)
	if cfg.QScale != 0 {
		scale(qr, cfg.QScale)
	}
	c.storeRows(l, b, k, v, lo, hi)
}
