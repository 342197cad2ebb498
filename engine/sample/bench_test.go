package sample

import (
	"math/rand/v2"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

// BenchmarkSample runs the whole pipeline over a 128k vocabulary, the size
// of Llama 3's, with logits spread like a real model's (σ≈3).
func BenchmarkSample(b *testing.B) {
	const vocab = 128256
	logits := randomLogits(rand.New(rand.NewPCG(1, 1)), vocab, 3)
	cases := []struct {
		name string
		cfg  core.Sampling
	}{
		{"greedy", core.Sampling{}},
		{"temperature", core.Sampling{Temperature: 0.8}},
		{"top_k=40", core.Sampling{Temperature: 0.8, TopK: 40}},
		{"top_p=0.9", core.Sampling{Temperature: 0.8, TopP: 0.9}},
		{"min_p=0.05", core.Sampling{Temperature: 0.8, MinP: 0.05}},
		{"all", core.Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := New(c.cfg)
			scratch := make([]Candidate, 0, vocab)
			b.ReportAllocs()
			for b.Loop() {
				_, scratch, _ = s.Sample(logits, scratch)
			}
		})
	}
}

func BenchmarkTopK(b *testing.B) {
	logits := randomLogits(rand.New(rand.NewPCG(2, 2)), 128256, 3)
	c := make([]Candidate, 0, len(logits))
	b.ReportAllocs()
	for b.Loop() {
		TopK(Candidates(c[:0], logits), 40)
	}
}
