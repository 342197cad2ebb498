package transformer

import (
	"context"
	"fmt"
	"io"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/parallel"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// Model is a transformer whose weights are immutable and shared; all
// per-sequence state lives in the Caches it creates. It implements
// core.Model.
type Model struct {
	cfg    Config
	w      *Weights
	be     core.Backend
	blocks func(ctx context.Context, c *Cache, b *core.Batch) error // the family's decoder blocks over st.x
	info   core.ModelInfo
	closer io.Closer // releases the weights' storage; nil when the caller owns it

	pool       *parallel.Pool // workers of attention and of the default backend
	ownPool    bool           // New created pool (it was not the backend's), closed by Close
	ownBackend io.Closer      // the default backend New created, closed by Close
}

// Option configures a Model.
type Option func(*options)

type options struct {
	backend core.Backend
	threads int
}

// WithThreads sets the number of worker threads (attention, and the matrix
// products of the default backend); n ≤ 0, the default, means one per core
// (GOMAXPROCS).
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// WithBackend sets the device that computes the matrix products; the
// caller keeps owning it. The default is a quant.CPU backend on the model's
// worker pool, owned and closed by the model.
func WithBackend(b core.Backend) Option { return func(o *options) { o.backend = b } }

// New builds a model of configuration cfg from the tensors of src, named as
// in GGUF files (spec §3.3). Tensor data must stay valid until the model is
// closed; New does not take ownership of src.
func New(cfg Config, src Source, opts ...Option) (*Model, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var load func(*loader, *Config) *Weights
	switch cfg.Arch {
	case ArchLlama, ArchQwen2, ArchQwen3:
		load = llamaWeights
	case ArchPhi3:
		load = phi3Weights
	case ArchGemma2, ArchGemma3:
		load = gemmaWeights
	default:
		return nil, core.Errorf(core.KindInvalid, "transformer.New", "unsupported architecture %q", cfg.Arch)
	}
	ld := &loader{src: src}
	m := &Model{cfg: cfg, be: o.backend}
	// Attention shares the worker pool of a CPU backend: two pools would
	// keep twice as many workers spinning for the same cores.
	if p, ok := o.backend.(interface{ Pool() *parallel.Pool }); ok && p.Pool() != nil && o.threads <= 0 {
		m.pool = p.Pool()
	} else {
		m.pool, m.ownPool = parallel.New(o.threads), true
	}
	m.w, m.blocks = load(ld, &m.cfg), m.decoderForward
	if cfg.Arch == ArchGemma2 || cfg.Arch == ArchGemma3 {
		m.blocks = m.gemmaForward
	}
	if m.be == nil {
		cpu := quant.NewCPU(quant.WithPool(m.pool))
		m.be, m.ownBackend = cpu, cpu
	}
	if ld.err != nil {
		m.closeBackend()
		return nil, ld.err
	}
	m.info = core.ModelInfo{
		Name: cfg.Name, Arch: cfg.Arch, VocabSize: cfg.Vocab, ContextLength: cfg.Context,
		Params: m.w.params(),
	}
	return m, nil
}

// Config returns the model's hyperparameters.
func (m *Model) Config() Config { return m.cfg }

// Info describes the model.
func (m *Model) Info() core.ModelInfo { return m.info }

// maxCacheBytes bounds one cache's K and V storage.
const maxCacheBytes = 1 << 40

// NewCache allocates a cache of slots sequences of up to positions tokens.
// Its K and V take 2·layers·slots·positions·kvHeads·headDim fp16 values.
func (m *Model) NewCache(slots, positions int) (core.KVCache, error) {
	const op = "transformer.NewCache"
	if slots <= 0 || positions <= 0 || positions > m.cfg.Context {
		return nil, core.Errorf(core.KindInvalid, op, "%d slots of %d positions (context %d)", slots, positions, m.cfg.Context)
	}
	if bytes := 4 * float64(m.cfg.Layers) * float64(slots) * float64(positions) * float64(m.cfg.KVDim()); bytes > maxCacheBytes {
		return nil, core.Errorf(core.KindTooLarge, op, "%d slots of %d positions need %.0f bytes of cache", slots, positions, bytes)
	}
	return newCache(m, slots, positions), nil
}

// Close releases the weights and the default backend. No other method may
// be called afterwards.
func (m *Model) Close() error {
	m.closeBackend()
	if m.closer == nil {
		return nil
	}
	c := m.closer
	m.closer = nil
	return c.Close()
}

func (m *Model) closeBackend() {
	if m.ownBackend != nil {
		m.ownBackend.Close() // quant.CPU.Close never fails
		m.ownBackend = nil
	}
	if m.ownPool {
		m.pool.Close()
	}
}

// Forward evaluates b against cache (created by this model's NewCache) and
// writes the logits of the entries that ask for them into logits, in batch
// order, one row of Info().VocabSize per entry. See core.Model.
func (m *Model) Forward(ctx context.Context, cache core.KVCache, b *core.Batch, logits []float32) error {
	c, err := m.checkBatch(cache, b, logits)
	if err != nil || b.Len() == 0 {
		return err
	}
	n, cfg := b.Len(), &m.cfg
	st := &c.st
	st.ensure(cfg, m.pool.Workers(), n)
	if err := m.w.embed(st.x[:n*cfg.Dim], b.Tokens, cfg.Dim); err != nil {
		return fmt.Errorf("transformer.Forward: embeddings: %w", err)
	}
	if cfg.EmbedScale != 0 {
		scale(st.x[:n*cfg.Dim], cfg.EmbedScale)
	}
	cfg.Rope.table(st.rope, b.Pos, m.ropeFactors(c))
	if cfg.LocalRope.Dims > 0 {
		cfg.LocalRope.table(st.ropeLocal, b.Pos, nil)
	}
	if err := m.blocks(ctx, c, b); err != nil {
		return err
	}
	if err := m.head(logits, c, b); err != nil {
		return err
	}
	for i := range n {
		c.lens[b.Seq[i]] = int(b.Pos[i]) + 1
	}
	return nil
}

// ropeFactors returns the frequency divisors of the global RoPE: Llama 3's
// rope_freqs, or phi3's LongRoPE table chosen by the cache's context
// (long beyond the original context length, as llama.cpp chooses by n_ctx).
func (m *Model) ropeFactors(c *Cache) []float32 {
	switch {
	case m.w.RopeFreqs != nil:
		return m.w.RopeFreqs
	case m.w.RopeLong != nil && c.positions > m.cfg.Rope.OrigCtx:
		return m.w.RopeLong
	}
	return m.w.RopeShort
}

// head writes the logits of the entries that ask for them:
// Woutput·(RMSNorm(h)·output_norm) (+ bias), soft-capped for gemma.
func (m *Model) head(logits []float32, c *Cache, b *core.Batch) error {
	st, cfg := &c.st, &m.cfg
	d := cfg.Dim
	rows := 0
	for i, want := range b.Logits {
		if want {
			copy(st.xb[rows*d:(rows+1)*d], st.x[i*d:(i+1)*d])
			rows++
		}
	}
	if rows == 0 {
		return nil
	}
	m.normRows(st, st.xb[:rows*d], st.xb[:rows*d], m.w.OutputNorm, rows)
	out := logits[:rows*cfg.Vocab]
	if err := m.be.MatMul(out, m.w.Output, st.xb[:rows*d], rows); err != nil {
		return fmt.Errorf("transformer.Forward: output: %w", err)
	}
	if m.w.OutputBias != nil {
		addBias(out, m.w.OutputBias)
	}
	if cfg.FinalSoftcap > 0 {
		softcap(out, cfg.FinalSoftcap)
	}
	return nil
}

// selfAttention writes Wo·Attention(Q, K, V) of layer l into out (n, dim)
// for the normalized input in (n, dim), appending the batch's keys and
// values to the cache.
func (m *Model) selfAttention(out, in []float32, c *Cache, l int, b *core.Batch) error {
	st, n, cfg := &c.st, b.Len(), &m.cfg
	L := &m.w.Layers[l]
	qd, kvd := cfg.QDim(), cfg.KVDim()
	q, k, v := st.q[:n*qd], st.k[:n*kvd], st.v[:n*kvd] // (n, qd), (n, kvd), (n, kvd)
	if L.Wqkv != nil {
		qkv := st.qkv[:n*(qd+2*kvd)] // (n, qd + 2·kvd)
		if err := m.matmul(qkv, L.Wqkv, in, n); err != nil {
			return err
		}
		w := qd + 2*kvd
		for i := range n {
			copy(q[i*qd:(i+1)*qd], qkv[i*w:i*w+qd])
			copy(k[i*kvd:(i+1)*kvd], qkv[i*w+qd:i*w+qd+kvd])
			copy(v[i*kvd:(i+1)*kvd], qkv[i*w+qd+kvd:(i+1)*w])
		}
	} else {
		st.mmOuts = [3][]float32{q, k, v}
		st.mmWs = [3]*core.Tensor{L.Wq, L.Wk, L.Wv}
		if err := m.matmulShared(st.mmOuts[:], st.mmWs[:], in, n); err != nil {
			return err
		}
	}
	t := &st.rowTask
	t.op, t.m, t.c, t.l, t.b, t.q, t.k, t.v = opQKV, m, c, l, b, q, k, v
	m.runRows(t, n)

	st.attn.a = attnArgs{
		c: c, layer: l, headDim: cfg.HeadDim, group: cfg.Heads / cfg.KVHeads,
		scale: cfg.KQScale, softcap: cfg.AttnSoftcap, half: halfTable(),
	}
	if cfg.isSWA(l) {
		st.attn.a.window = cfg.SlidingWindow
	}
	att := st.att[:n*qd] // (n, qd)
	attend(m.pool, &st.attn, att, q, b)
	if err := m.matmul(out, L.Wo, att, n); err != nil {
		return err
	}
	if L.Bo != nil {
		addBias(out, L.Bo)
	}
	return nil
}

// feedForward writes Wdown·(act(Wgate·in) ⊙ Wup·in) into out (n, dim) for
// in (n, dim); act is swiglu or geglu.
func (m *Model) feedForward(out, in []float32, L *Layer, n int, act func(out, gate, up []float32), st *state) error {
	ff := m.cfg.FFN
	h := st.hb[:n*ff] // (n, ffn)
	if L.WgateUp != nil {
		gu := st.hb2[:n*2*ff] // (n, 2·ffn): gate | up
		if err := m.matmul(gu, L.WgateUp, in, n); err != nil {
			return err
		}
		t := &st.rowTask
		t.op, t.width, t.out, t.y, t.fused, t.act = opAct, ff, h, gu, true, act
		m.runRows(t, n)
	} else {
		up := st.hb2[:n*ff] // (n, ffn)
		st.mmOuts = [3][]float32{h, up}
		st.mmWs = [3]*core.Tensor{L.Wgate, L.Wup}
		if err := m.matmulShared(st.mmOuts[:2], st.mmWs[:2], in, n); err != nil {
			return err
		}
		t := &st.rowTask
		t.op, t.width, t.out, t.x, t.y, t.fused, t.act = opAct, ff, h, h, up, false, act
		m.runRows(t, n)
	}
	return m.matmul(out, L.Wdown, h, n)
}

// matmul computes out (n, w.Rows()) = x (n, w.Shape[0]) · wᵀ on the backend.
func (m *Model) matmul(out []float32, w *core.Tensor, x []float32, n int) error {
	if err := m.be.MatMul(out, w, x, n); err != nil {
		return fmt.Errorf("transformer.Forward: %s: %w", w.Name, err)
	}
	return nil
}

// matmulShared computes outs[i] = in · ws[i]ᵀ for weights sharing the
// input: in one pass when the backend can (quant.CPU converts the
// activations once and dispatches once), else one product at a time.
func (m *Model) matmulShared(outs [][]float32, ws []*core.Tensor, in []float32, n int) error {
	defer clear(outs)
	if mb, ok := m.be.(multiBackend); ok {
		if err := mb.MatMulMulti(outs, ws, in, n); err != nil {
			return fmt.Errorf("transformer.Forward: %s: %w", ws[0].Name, err)
		}
		return nil
	}
	for i, w := range ws {
		if err := m.matmul(outs[i], w, in, n); err != nil {
			return err
		}
	}
	return nil
}

// multiBackend is a backend that computes products sharing an input in
// one pass (quant.CPU).
type multiBackend interface {
	MatMulMulti(outs [][]float32, ws []*core.Tensor, x []float32, n int) error
}

// checkBatch validates the cache and the batch against the contract of
// core.Model.Forward before anything is written.
func (m *Model) checkBatch(cache core.KVCache, b *core.Batch, logits []float32) (*Cache, error) {
	const op = "transformer.Forward"
	c, ok := cache.(*Cache)
	if !ok || c.owner != m {
		return nil, core.Errorf(core.KindInvalid, op, "cache %T was not created by this model", cache)
	}
	n := b.Len()
	if len(b.Pos) != n || len(b.Seq) != n || len(b.Logits) != n {
		return nil, core.Errorf(core.KindInvalid, op, "batch slices differ in length (%d tokens, %d positions, %d seqs, %d logits flags)",
			n, len(b.Pos), len(b.Seq), len(b.Logits))
	}
	if need := b.Outputs() * m.cfg.Vocab; len(logits) < need {
		return nil, core.Errorf(core.KindInvalid, op, "logits holds %d values, %d needed", len(logits), need)
	}
	next := c.st.next(c.slots)
	copy(next, c.lens)
	for i := range n {
		tok, pos, seq := b.Tokens[i], int(b.Pos[i]), b.Seq[i]
		switch {
		case tok < 0 || int(tok) >= m.cfg.Vocab:
			return nil, core.Errorf(core.KindInvalid, op, "entry %d: token %d outside [0, %d)", i, tok, m.cfg.Vocab)
		case !c.validSeq(seq):
			return nil, core.Errorf(core.KindInvalid, op, "entry %d: slot %d outside [0, %d)", i, seq, c.slots)
		case pos != next[seq]:
			return nil, core.Errorf(core.KindInvalid, op, "entry %d: position %d of slot %d, expected %d", i, pos, seq, next[seq])
		case pos >= c.positions:
			return nil, core.Errorf(core.KindContextLength, op, "entry %d: position %d beyond the cache's %d positions", i, pos, c.positions)
		}
		next[seq]++
	}
	return c, nil
}
