package transformer

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/quant"
)

func BenchmarkDecode(b *testing.B) {
	m := openFixture(b, "fx-llama-q4_k_m")
	c, err := m.NewCache(1, 256)
	if err != nil {
		b.Fatal(err)
	}
	prefill(b, m, c, make([]core.TokenID, 128), false)
	logits := make([]float32, m.Info().VocabSize)
	var batch core.Batch
	batch.Add(1, 128, 0, true)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Forward(context.Background(), c, &batch, logits); err != nil {
			b.Fatal(err)
		}
		if err := c.Truncate(0, 128); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrefill64(b *testing.B) {
	m := openFixture(b, "fx-llama-q4_k_m")
	c, err := m.NewCache(1, 256)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]core.TokenID, 64)
	b.ReportAllocs()
	for b.Loop() {
		prefill(b, m, c, ids, false)
	}
}

func BenchmarkDotF16(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	q := randVec(r, 128, 1)
	k := make([]uint16, 128)
	for i, v := range randVec(r, 128, 1) {
		k[i] = quant.F32ToF16(v)
	}
	b.ReportAllocs()
	for b.Loop() {
		dotF16(q, k, halfTable())
	}
}

func BenchmarkSwiGLU(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	g, u := randVec(r, 4096, 2), randVec(r, 4096, 1)
	out := make([]float32, 4096)
	b.ReportAllocs()
	for b.Loop() {
		swiglu(out, g, u)
	}
}
