package transformer

import (
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// Cache is the key/value memory of one Model: slots × positions per layer,
// stored as F16 like llama.cpp's default cache (spec §6.1), plus the
// activation scratch Forward reuses (State). It implements core.KVCache.
//
// A Cache is not safe for concurrent use; Forward calls on different caches
// of the same Model may run concurrently.
type Cache struct {
	owner                           *Model // the model whose NewCache made it
	layers, slots, positions, kvDim int

	k, v [][]uint16 // (layers) × (slots, positions, kvDim) fp16 bits
	lens []int      // (slots,) positions held per slot

	st state // activation scratch of Forward, grown to the largest batch seen
}

// newCache allocates an empty cache for cfg.
func newCache(m *Model, slots, positions int) *Cache {
	cfg := &m.cfg
	c := &Cache{
		owner:  m,
		layers: cfg.Layers, slots: slots, positions: positions, kvDim: cfg.KVDim(),
		k: make([][]uint16, cfg.Layers), v: make([][]uint16, cfg.Layers),
		lens: make([]int, slots),
	}
	per := slots * positions * c.kvDim
	for l := range cfg.Layers {
		c.k[l] = make([]uint16, per)
		c.v[l] = make([]uint16, per)
	}
	return c
}

// Slots returns the number of sequence slots.
func (c *Cache) Slots() int { return c.slots }

// Positions returns how many positions each slot can hold.
func (c *Cache) Positions() int { return c.positions }

// Len returns how many positions slot seq holds; 0 for an invalid slot.
func (c *Cache) Len(seq core.SeqID) int {
	if !c.validSeq(seq) {
		return 0
	}
	return c.lens[seq]
}

// Truncate drops positions [n, Len(seq)) of seq.
func (c *Cache) Truncate(seq core.SeqID, n int) error {
	const op = "transformer.Cache.Truncate"
	if !c.validSeq(seq) {
		return core.Errorf(core.KindInvalid, op, "slot %d outside [0, %d)", seq, c.slots)
	}
	if n < 0 || n > c.lens[seq] {
		return core.Errorf(core.KindInvalid, op, "length %d outside [0, %d] of slot %d", n, c.lens[seq], seq)
	}
	c.lens[seq] = n
	return nil
}

// CopyPrefix replaces dst's content with positions [0, n) of src.
func (c *Cache) CopyPrefix(dst, src core.SeqID, n int) error {
	const op = "transformer.Cache.CopyPrefix"
	if !c.validSeq(dst) || !c.validSeq(src) {
		return core.Errorf(core.KindInvalid, op, "slots %d, %d outside [0, %d)", dst, src, c.slots)
	}
	if n < 0 || n > c.lens[src] {
		return core.Errorf(core.KindInvalid, op, "length %d outside [0, %d] of slot %d", n, c.lens[src], src)
	}
	if dst != src {
		w := n * c.kvDim
		for l := range c.layers {
			copy(c.row(c.k[l], dst, 0)[:w], c.row(c.k[l], src, 0)[:w])
			copy(c.row(c.v[l], dst, 0)[:w], c.row(c.v[l], src, 0)[:w])
		}
	}
	c.lens[dst] = n
	return nil
}

func (c *Cache) validSeq(seq core.SeqID) bool { return seq >= 0 && int(seq) < c.slots }

// row returns the storage of position pos of slot seq onwards in one
// layer's K or V.
func (c *Cache) row(kv []uint16, seq core.SeqID, pos int) []uint16 {
	return kv[(int(seq)*c.positions+pos)*c.kvDim:]
}

// storeRows writes the keys and values of batch entries [lo, hi) of layer
// l, rounded to fp16 (k and v are (n, kvDim)).
func (c *Cache) storeRows(l int, b *core.Batch, k, v []float32, lo, hi int) {
	d := c.kvDim
	for i := lo; i < hi; i++ {
		kr := c.row(c.k[l], b.Seq[i], int(b.Pos[i]))[:d]
		vr := c.row(c.v[l], b.Seq[i], int(b.Pos[i]))[:d]
		for j := range d {
			kr[j] = quant.F32ToF16(k[i*d+j])
			vr[j] = quant.F32ToF16(v[i*d+j])
		}
	}
}
