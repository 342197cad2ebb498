package transformer

import (
	"context"
	"math"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

// run evaluates the batch and returns its logits.
func run(t *testing.T, m *Model, c core.KVCache, b *core.Batch) []float32 {
	t.Helper()
	out := make([]float32, b.Outputs()*m.Info().VocabSize)
	if err := m.Forward(context.Background(), c, b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// closeRows fails when any value of got differs from want by more than tol
// (relative to the row's largest magnitude).
func closeRows(t *testing.T, what string, got, want []float32, vocab int, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for r := 0; r < len(want)/vocab; r++ {
		var worst, scale float64
		for i := r * vocab; i < (r+1)*vocab; i++ {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
			scale = max(scale, math.Abs(float64(want[i])))
		}
		if worst > tol*scale {
			t.Errorf("%s: row %d differs by %.3g (scale %.3g)", what, r, worst, scale)
		}
	}
}

// TestBatchingIsConsistent checks that a prompt gives the same logits in
// one batch, token by token, batched with another sequence, continued from
// a copied prefix and re-evaluated after a truncation.
func TestBatchingIsConsistent(t *testing.T) {
	for _, name := range []string{"fx-llama-f32", "fx-gemma3-f32", "fx-phi3-f32"} {
		t.Run(name, func(t *testing.T) {
			m := openFixture(t, name)
			vocab := m.Info().VocabSize
			a := []core.TokenID{256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 258, 12}
			bt := []core.TokenID{256, 3, 200, 17, 99, 42, 150, 7, 8}
			c, err := m.NewCache(3, 64)
			if err != nil {
				t.Fatal(err)
			}

			var b core.Batch
			for i, tok := range a {
				b.Add(tok, int32(i), 0, true)
			}
			whole := run(t, m, c, &b)

			// Token by token in slot 1.
			var steps []float32
			for i, tok := range a {
				b.Reset()
				b.Add(tok, int32(i), 1, true)
				steps = append(steps, run(t, m, c, &b)...)
			}
			closeRows(t, "token by token", steps, whole, vocab, 1e-4)

			// bt alone in slot 2, then a and bt interleaved in slots 0 and 2.
			if err := c.Truncate(0, 0); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for i, tok := range bt {
				b.Add(tok, int32(i), 2, true)
			}
			alone := run(t, m, c, &b)
			if err := c.Truncate(2, 0); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for i := range max(len(a), len(bt)) {
				if i < len(bt) {
					b.Add(bt[i], int32(i), 2, true)
				}
				if i < len(a) {
					b.Add(a[i], int32(i), 0, true)
				}
			}
			mixed := run(t, m, c, &b)
			var gotA, gotB []float32
			for i := range b.Len() {
				row := mixed[i*vocab : (i+1)*vocab]
				if b.Seq[i] == 0 {
					gotA = append(gotA, row...)
				} else {
					gotB = append(gotB, row...)
				}
			}
			closeRows(t, "two sequences, first", gotA, whole, vocab, 1e-4)
			closeRows(t, "two sequences, second", gotB, alone, vocab, 1e-4)

			// Copy the first 9 positions of slot 0 to slot 1 and continue.
			if err := c.CopyPrefix(1, 0, 9); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for i := 9; i < len(a); i++ {
				b.Add(a[i], int32(i), 1, true)
			}
			closeRows(t, "continued from a copied prefix", run(t, m, c, &b), whole[9*vocab:], vocab, 1e-4)

			// Truncate slot 0 to 5 positions and evaluate the rest again,
			// asking only for the last logits.
			if err := c.Truncate(0, 5); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for i := 5; i < len(a); i++ {
				b.Add(a[i], int32(i), 0, i == len(a)-1)
			}
			closeRows(t, "after truncation", run(t, m, c, &b), whole[(len(a)-1)*vocab:], vocab, 1e-4)
			if got := c.Len(0); got != len(a) {
				t.Errorf("Len(0) = %d, want %d", got, len(a))
			}
		})
	}
}

func TestForwardRejectsBadBatches(t *testing.T) {
	m := openFixture(t, "fx-llama-f32")
	c, err := m.NewCache(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Info().VocabSize
	tests := []struct {
		name   string
		tokens []core.TokenID
		pos    []int32
		seq    []core.SeqID
		logits int
		kind   core.Kind
	}{
		{"token out of range", []core.TokenID{261}, []int32{0}, []core.SeqID{0}, vocab, core.KindInvalid},
		{"negative token", []core.TokenID{-1}, []int32{0}, []core.SeqID{0}, vocab, core.KindInvalid},
		{"slot out of range", []core.TokenID{1}, []int32{0}, []core.SeqID{2}, vocab, core.KindInvalid},
		{"gap in positions", []core.TokenID{1}, []int32{1}, []core.SeqID{0}, vocab, core.KindInvalid},
		{"positions not consecutive", []core.TokenID{1, 2}, []int32{0, 0}, []core.SeqID{0, 0}, 2 * vocab, core.KindInvalid},
		{"short logits", []core.TokenID{1}, []int32{0}, []core.SeqID{0}, vocab - 1, core.KindInvalid},
		{"beyond the cache", []core.TokenID{1, 2, 3, 4, 5, 6, 7, 8, 9}, []int32{0, 1, 2, 3, 4, 5, 6, 7, 8},
			[]core.SeqID{0, 0, 0, 0, 0, 0, 0, 0, 0}, 9 * vocab, core.KindContextLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b core.Batch
			for i := range tt.tokens {
				b.Add(tt.tokens[i], tt.pos[i], tt.seq[i], true)
			}
			err := m.Forward(context.Background(), c, &b, make([]float32, tt.logits))
			if core.KindOf(err) != tt.kind {
				t.Errorf("error %v, want kind %v", err, tt.kind)
			}
			if c.Len(0) != 0 || c.Len(1) != 0 {
				t.Errorf("cache lengths %d, %d after a rejected batch", c.Len(0), c.Len(1))
			}
		})
	}
	other, err := openFixture(t, "fx-gemma2-f32").NewCache(1, 8)
	if err != nil {
		t.Fatal(err)
	}
	var b core.Batch
	b.Add(1, 0, 0, true)
	if err := m.Forward(context.Background(), other, &b, make([]float32, vocab)); core.KindOf(err) != core.KindInvalid {
		t.Errorf("foreign cache: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Forward(ctx, c, &b, make([]float32, vocab)); core.KindOf(err) != core.KindCanceled {
		t.Errorf("canceled context: %v", err)
	}
}
