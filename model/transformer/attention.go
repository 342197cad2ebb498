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
	scratch [][]float32 // (workers) × (2·headDim): fp16 query and V accumulator
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
	qh, acc := t.scratch[worker][:hd], t.scratch[worker][hd:2*hd]
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
		attendHead(t.out[o:o+hd], t.q[o:o+hd], kb, vb, first, pos, (h/a.group)*hd, a, qh, acc)
	}
}

// score returns the scaled, soft-capped score of query q against key k.
func (a *attnArgs) score(q []float32, k []uint16) float32 {
	s := dotF16(q, k, a.half)
	if a.softcap != 0 {
		// ggml folds 1/c into the scale and multiplies tanh by c.
		return a.softcap * tanh32(s*(a.scale/a.softcap))
	}
	return s * a.scale
}

// attendHead computes one query head's attention over cache positions
// [lo, hi] as llama.cpp's CPU flash attention does (the default for CPU,
// spec §6.1, §6.3): Q rounded to fp16, an online softmax in f32, the V
// accumulator rounded to fp16 after every update, and the division by the
// sum at the end. (Checked against the fixtures, this kernel matches
// llama.cpp's logits at every batch size; f32 accumulation or non-flash
// fp16 probabilities are 2–4× further off.)
func attendHead(out, q []float32, kb, vb []uint16, lo, hi, off int, a *attnArgs, qh, acc []float32) {
	d := a.c.kvDim
	for j, x := range q {
		qh[j] = roundF16(x)
	}
	clear(acc)
	m := float32(math.Inf(-1))
	var sum float32
	for p := lo; p <= hi; p++ {
		s := a.score(qh, kb[p*d+off:p*d+off+len(q)])
		ms, vs := float32(1), float32(1)
		if s > m {
			ms = exp32(m - s)
			m = s
			for j, x := range acc {
				acc[j] = roundF16(x * ms)
			}
		} else {
			vs = exp32(s - m)
		}
		v := vb[p*d+off : p*d+off+len(q)]
		for j, x := range acc {
			acc[j] = roundF16(fma32(a.half[v[j]], vs, x))
		}
		sum = sum*ms + vs
	}
	inv := float32(0)
	if sum != 0 {
		inv = 1 / sum
	}
	for j, x := range acc {
		out[j] = x * inv
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
