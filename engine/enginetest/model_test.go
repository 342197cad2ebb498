package enginetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

func batch(entries ...[3]int) *core.Batch {
	b := &core.Batch{}
	for _, e := range entries {
		b.Add(core.TokenID(e[0]), int32(e[1]), core.SeqID(e[2]), true)
	}
	return b
}

func TestForwardChecksBatches(t *testing.T) {
	m := NewModel(ModelConfig{VocabSize: 8})
	kv, err := m.NewCache(2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(context.Background(), kv, batch([3]int{1, 0, 0}, [3]int{2, 1, 0}), make([]float32, 16)); err != nil {
		t.Fatalf("valid batch: %v", err)
	}
	tests := []struct {
		name   string
		b      *core.Batch
		logits int
	}{
		{"empty", &core.Batch{}, 0},
		{"gap in positions", batch([3]int{1, 3, 0}), 8},
		{"restarts a slot", batch([3]int{1, 0, 0}), 8},
		{"slot out of range", batch([3]int{1, 0, 2}), 8},
		{"token out of range", batch([3]int{8, 0, 1}), 8},
		{"logits too small", batch([3]int{1, 0, 1}), 7},
		{"past the slot's positions", batch([3]int{1, 2, 0}, [3]int{1, 3, 0}, [3]int{1, 4, 0}), 24},
		{"slot not contiguous", batch([3]int{1, 0, 1}, [3]int{1, 2, 0}, [3]int{1, 1, 1}), 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Forward(context.Background(), kv, tt.b, make([]float32, tt.logits))
			if !errors.Is(err, core.KindInvalid) {
				t.Errorf("Forward: %v, want KindInvalid", err)
			}
		})
	}
	if got := kv.Len(0); got != 2 {
		t.Errorf("slot 0 holds %d positions after rejected batches, want 2", got)
	}
}

// TestLogitsDependOnWholePrefix: the same last token after different
// prefixes gives different logits; the same prefix in different slots, or
// evaluated in other chunks, gives the same.
func TestLogitsDependOnWholePrefix(t *testing.T) {
	m := NewModel(ModelConfig{VocabSize: 16})
	kv, _ := m.NewCache(3, 8)
	out := make([]float32, 16*3)
	ctx := context.Background()
	// Slot 0: 1 2 3 in one pass; slot 1: 1 2 then 3; slot 2: 9 2 3.
	b := &core.Batch{}
	b.Add(1, 0, 0, false)
	b.Add(2, 1, 0, false)
	b.Add(3, 2, 0, true)
	b.Add(1, 0, 1, false)
	b.Add(2, 1, 1, false)
	b.Add(9, 0, 2, false)
	b.Add(2, 1, 2, false)
	b.Add(3, 2, 2, true)
	if err := m.Forward(ctx, kv, b, out[:32]); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(ctx, kv, batch([3]int{3, 2, 1}), out[32:]); err != nil {
		t.Fatal(err)
	}
	slot0, slot2, slot1 := out[:16], out[16:32], out[32:]
	if diff := cmp.Diff(slot0, slot1); diff != "" {
		t.Errorf("same prefix, different logits (-slot0 +slot1):\n%s", diff)
	}
	if cmp.Equal(slot0, slot2) {
		t.Error("different prefixes gave the same logits")
	}
	// CopyPrefix and Truncate keep the hashes consistent.
	if err := kv.(*Cache).CopyPrefix(2, 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(ctx, kv, batch([3]int{3, 2, 2}), out[:16]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(slot1, out[:16]); diff != "" {
		t.Errorf("after CopyPrefix (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Copy{{Dst: 2, Src: 0, N: 2}}, m.Copies()); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	if err := kv.Truncate(0, 4); !errors.Is(err, core.KindInvalid) {
		t.Errorf("Truncate past the end: %v", err)
	}
}

func TestTokenizer(t *testing.T) {
	tok := ByteTokenizer(300)
	ids, err := tok.Encode(nil, "hi</s>", true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]core.TokenID{'h', 'i', EOS}, ids); diff != "" {
		t.Errorf("Encode special (-want +got):\n%s", diff)
	}
	ids, _ = tok.Encode(nil, "</s>", false)
	if len(ids) != 4 {
		t.Errorf("Encode without special = %v, want 4 byte tokens", ids)
	}
	if got := string(tok.Decode(tok.Decode(nil, 'o'), 299)); got != "o<t299>" {
		t.Errorf("Decode = %q", got)
	}
	if got := tok.Decode(nil, 300); len(got) != 0 {
		t.Errorf("Decode out of range = %q", got)
	}
	if v := tok.Vocab(); v.Size != 300 || !v.IsEOG(EOS) {
		t.Errorf("Vocab = %+v", v)
	}
}
