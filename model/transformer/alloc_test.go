package transformer

import (
	"context"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

// TestDecodeAllocatesNothing checks that a decode step after a prefill
// reuses the cache's scratch: no allocation per token.
func TestDecodeAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items)")
	}
	for _, name := range []string{"fx-llama-q4_k_m", "fx-phi3-f32", "fx-gemma3-f32"} {
		t.Run(name, func(t *testing.T) {
			m := openFixture(t, name)
			c, err := m.NewCache(1, 256)
			if err != nil {
				t.Fatal(err)
			}
			prefill(t, m, c, []core.TokenID{1, 2, 3, 4, 5, 6, 7, 8}, false)
			logits := make([]float32, m.Info().VocabSize)
			var b core.Batch
			b.Add(9, 8, 0, true)
			ctx := context.Background()
			pos := int32(8)
			allocs := testing.AllocsPerRun(20, func() {
				b.Tokens[0], b.Pos[0] = 9, pos
				if err := m.Forward(ctx, c, &b, logits); err != nil {
					t.Fatal(err)
				}
				pos++
			})
			if allocs != 0 {
				t.Errorf("%v allocations per decode step, want 0", allocs)
			}
		})
	}
}
