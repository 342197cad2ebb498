package transformer

import (
	"math"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// attnArgs describes the attention of one layer for one batch.
type attnArgs struct {
	c       *Cache
	layer   int
	headDim int
	group   int               // query heads per KV head
	scale   float32           // on Q·K (before the soft-cap)
	softcap float32           // c in c·tanh(s/c); 0 = none
	window  int               // sliding window; 0 = full causal attention
	half    *[1 << 16]float32 // fp16 → float32 table
}

// attnTask computes the attention of a batch on the worker pool: item
// i·heads + h is query head h of batch entry i. It lives in the cache's
// state so that running it allocates nothing.
type attnTask struct {
	a       attnArgs
	out, q  []float32 // (n, heads·headDim)
	b       *core.Batch
	heads   int
	scratch []attnScratch // (workers)
}

// attend computes softmax(Q·Kᵀ·scale + mask)·V for every entry and query
// head of the batch: out and q are (n, heads·headDim); keys and values come
// from the cache, which already holds the batch's own entries. Query head h
// reads KV head h/group (spec §3.4).
func attend(p *parallel.Pool, t *attnTask, out, q []float32, b *core.Batch) {
	t.out, t.q, t.b, t.heads = out, q, b, len(q)/b.Len()/t.a.headDim
	items := b.Len() * t.heads
	p.Run(t, items, max(1, items/(4*p.Workers())))
	t.out, t.q, t.b = nil, nil, nil
}

// Do computes items [lo, hi) (see attnTask).
func (t *attnTask) Do(worker, lo, hi int) {
	a, hd := &t.a, t.a.headDim
	sc := &t.scratch[worker]
	qDim := t.heads * hd
	for it := lo; it < hi; it++ {
		i, h := it/t.heads, it%t.heads
		pos := int(t.b.Pos[i])
		first := 0
		if a.window > 0 {
			first = max(0, pos-a.window+1) // hidden when p_q − p_k ≥ window
		}
		kb := a.c.row(a.c.k[a.layer], t.b.Seq[i], 0)
		vb := a.c.row(a.c.v[a.layer], t.b.Seq[i], 0)
		o := i*qDim + h*hd
		attendHead(t.out[o:o+hd], t.q[o:o+hd], kb, vb, first, pos, (h/a.group)*hd, a, sc)
	}
}

// attnBlock is how many cells attendHead scores at a time.
const attnBlock = 128

// attnScratch is one worker's scratch for attendHead.
type attnScratch struct {
	q, acc []float32 // (headDim,) fp16-rounded query, fp16-exact V accumulator
	w, ms  []float32 // (attnBlock,) a block's weights and rescale factors
	e      []float32 // (attnBlock,) exponents, then their exponentials
}

func newAttnScratch(headDim int) attnScratch {
	return attnScratch{
		q: make([]float32, headDim), acc: make([]float32, headDim),
		w: make([]float32, attnBlock), ms: make([]float32, attnBlock), e: make([]float32, attnBlock),
	}
}

// attendHead computes one query head's attention over cache positions
// [lo, hi] as llama.cpp's CPU flash attention does (the default for CPU,
// spec §6.1, §6.3): Q rounded to fp16, an online softmax in f32, the V
// accumulator rounded to fp16 after every update, and the division by the
// sum at the end. (Checked against the fixtures, this kernel matches
// llama.cpp's logits at every batch size; f32 accumulation or non-flash
// fp16 probabilities are 2–4× further off.) Cells go in blocks: the scores
// of a block, then the softmax bookkeeping in order, then the block's
// updates of the accumulator — the same operations in the same order as
// ggml's cell-by-cell loop.
func attendHead(out, q []float32, kb, vb []uint16, lo, hi, off int, a *attnArgs, sc *attnScratch) {
	d, hd := a.c.kvDim, len(q)
	qh, acc := sc.q[:hd], sc.acc[:hd]
	for j, x := range q {
		qh[j] = roundF16(x)
	}
	clear(acc)
	m := float32(math.Inf(-1))
	var sum float32
	for c0 := lo; c0 <= hi; c0 += attnBlock {
		n := min(hi+1-c0, attnBlock)
		w, ms := sc.w[:n], sc.ms[:n]
		attnScores(w, qh, kb[c0*d+off:], d, a.half)
		// ggml, cell by cell: a score above the running maximum m rescales
		// the accumulator by e^(m−s) and weighs 1; any other weighs e^(s−m).
		// The exponents are collected first and taken in one vector pass.
		e := sc.e[:n]
		for i, s := range w {
			s = a.scaled(s)
			if s > m {
				e[i], w[i] = m-s, 1 // w marks a new maximum
				m = s
			} else {
				e[i], w[i] = s-m, 0
			}
		}
		expRow(e, e)
		for i, x := range e {
			if w[i] == 1 {
				ms[i], w[i] = x, 1
			} else {
				ms[i], w[i] = 1, x
			}
			sum = sum*ms[i] + w[i]
		}
		attnAccum(acc, vb[c0*d+off:], d, w, ms, a.half)
	}
	inv := float32(0)
	if sum != 0 {
		inv = 1 / sum
	}
	for j, x := range acc {
		out[j] = x * inv
	}
}

// scaled returns the score s·scale, soft-capped (ggml folds 1/c into the
// scale and multiplies tanh by c).
func (a *attnArgs) scaled(s float32) float32 {
	if a.softcap != 0 {
		return a.softcap * tanh32(s*(a.scale/a.softcap))
	}
	return s * a.scale
}

// attnScoresGo is the portable attnScores: one dotF16 per cell.
func attnScoresGo(out, q []float32, k []uint16, stride int, half *[1 << 16]float32) {
	for c := range out {
		out[c] = dotF16(q, k[c*stride:c*stride+len(q)], half)
	}
}

// attnAccumGo is the portable attnAccum: for every cell c, as ggml's
// ggml_vec_scale_f16 and ggml_vec_mad_f16 on an fp16 accumulator,
// acc = fp16(acc·ms[c]) and then acc = fp16(v_c·w[c] + acc) (one FMA).
func attnAccumGo(acc []float32, v []uint16, stride int, w, ms []float32, half *[1 << 16]float32) {
	for c, wc := range w {
		if s := ms[c]; s != 1 {
			for j, x := range acc {
				acc[j] = roundF16(x * s)
			}
		}
		vc := v[c*stride : c*stride+len(acc)]
		for j, x := range acc {
			acc[j] = roundF16(fma32(half[vc[j]], wc, x))
		}
	}
}

// dotF16 returns q·k for fp16-valued q and fp16 keys k. The products are
// exact in f32, so only the order of the sums matters: it follows
// ggml_vec_dot_f16 on AVX2 (32 products per step into 4×8 lanes, the
// lanes reduced pairwise, leftovers added in double): a last-bit
// difference in a score can flip an fp16 rounding downstream, which a
// quantized model amplifies into a visible change of the logits.
func dotF16(q []float32, k []uint16, half *[1 << 16]float32) float32 {
	n := len(q)
	k = k[:n]
	var lanes [4][8]float32
	np := n &^ 31
	for i := 0; i < np; i += 32 {
		for j := range 4 {
			qs, ks := q[i+8*j:i+8*j+8], k[i+8*j:i+8*j+8]
			for l := range 8 {
				lanes[j][l] += qs[l] * half[ks[l]]
			}
		}
	}
	for l := range 8 {
		lanes[0][l] += lanes[2][l]
		lanes[1][l] += lanes[3][l]
	}
	for l := range 8 {
		lanes[0][l] += lanes[1][l]
	}
	var t [4]float32
	for l := range 4 {
		t[l] = lanes[0][l] + lanes[0][l+4]
	}
	sum := float64((t[0] + t[1]) + (t[2] + t[3]))
	for i := np; i < n; i++ {
		sum += float64(q[i] * half[k[i]])
	}
	return float32(sum)
}
