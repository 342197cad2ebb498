package sample

import (
	"math/rand/v2"

	"github.com/pensieve-llm/pensieve/core"
)

// Sampler draws tokens for one generation with its own random source, so
// the same Sampling (seed included) over the same logits gives the same
// tokens. A Sampler is not safe for concurrent use.
type Sampler struct {
	cfg core.Sampling
	rng *rand.Rand
}

// New returns a Sampler for cfg, seeded with cfg.Seed. Seed 0 is a seed
// like any other; callers that want varied output choose varied seeds.
func New(cfg core.Sampling) *Sampler {
	// PCG needs two words; the second is derived so seeds 1 and 2 differ
	// in both.
	return &Sampler{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
}

// Sample returns the next token for logits (one value per vocabulary
// entry, -Inf for masked tokens). Temperature 0 is greedy and consumes no
// randomness. Otherwise the pipeline is: top-k on logits, temperature,
// softmax, top-p, min-p, then a draw with one coin from the random source.
// scratch is working storage (at most len(logits) candidates) that Sample
// grows and returns for reuse, so steady-state sampling allocates nothing.
// logits is not modified. It fails with core.KindInternal when every token
// is masked.
func (s *Sampler) Sample(logits []float32, scratch []Candidate) (core.TokenID, []Candidate, error) {
	if s.cfg.Temperature == 0 {
		i := Greedy(logits)
		if i < 0 {
			return core.NoToken, scratch, core.Errorf(core.KindInternal, "sample.Sample", "all %d logits are masked", len(logits))
		}
		return core.TokenID(i), scratch, nil
	}
	scratch = Candidates(scratch[:0], logits)
	if len(scratch) == 0 {
		return core.NoToken, scratch, core.Errorf(core.KindInternal, "sample.Sample", "all %d logits are masked", len(logits))
	}
	c := TopK(scratch, s.cfg.TopK)
	Temperature(c, s.cfg.Temperature)
	Softmax(c)
	c = TopP(c, s.cfg.TopP)
	c = MinP(c, s.cfg.MinP)
	return Draw(c, s.rng.Float32()), scratch, nil
}
