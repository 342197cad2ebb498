package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/pensieve-llm/pensieve/cli/internal/ggufedit"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/model"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/quant"
	"github.com/pensieve-llm/pensieve/model/synth"
)

// synthTiny writes the tiny llama preset with the byte vocabulary.
func synthTiny(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(context.Background(), path, synth.Options{Arch: "llama", Preset: "tiny", Type: "q8_0", Seed: 3}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRigAnswer: the rigged model answers the same text to different
// prompts at temperature 1 and ends its turn with an end-of-generation
// token; its context was widened.
func TestRigAnswer(t *testing.T) {
	src := synthTiny(t)
	dst := filepath.Join(t.TempDir(), "rigged.gguf")
	const answer = "Hi!"
	if err := rigAnswer(src, dst, answer, 1024); err != nil {
		t.Fatal(err)
	}
	cpu := quant.NewCPU(quant.WithThreads(1))
	defer cpu.Close()
	l, err := model.Open(dst, model.WithBackend(cpu))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Model.Info().ContextLength; got != 1024 {
		t.Errorf("context length %d, want 1024", got)
	}
	eng, err := engine.New(l.Model, l.Tokenizer, engine.WithSlots(1))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	for i, tc := range []struct{ prompt, want string }{
		{"Say hello", answer},
		{"Write a haiku about memory.\n\n", answer},
		{"x", answer},
		{"Say hi", "!"}, // a prompt ending in an answer token continues the answer from there
	} {
		prompt := tc.prompt
		ids, err := l.Tokenizer.Encode(nil, prompt, false)
		if err != nil {
			t.Fatal(err)
		}
		events, err := eng.Generate(context.Background(), &core.Request{
			Prompt: ids, MaxTokens: 16, Sampling: core.Sampling{Temperature: 1, Seed: uint64(i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		var text bytes.Buffer
		var last core.Event
		for ev := range events {
			text.WriteString(ev.Text)
			last = ev
		}
		if last.Err != nil || last.StopReason != core.StopEndTurn || text.String() != tc.want {
			t.Errorf("prompt %q: text %q, stop %q, err %v; want %q and end_turn", prompt, text.String(), last.StopReason, last.Err, tc.want)
		}
	}
}

// TestWidenContext: only the context length changes (ggufedit.WidenContext).
func TestWidenContext(t *testing.T) {
	src := synthTiny(t)
	dst := filepath.Join(t.TempDir(), "wide.gguf")
	if err := ggufedit.WidenContext(src, dst, 4096); err != nil {
		t.Fatal(err)
	}
	a, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gguf.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n, _ := b.Uint("llama.context_length"); n != 4096 {
		t.Errorf("context_length %d, want 4096", n)
	}
	if len(a.KV) != len(b.KV) || len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d/%d keys and %d/%d tensors", len(a.KV), len(b.KV), len(a.Tensors), len(b.Tensors))
	}
	for _, ti := range a.Tensors {
		x, _ := a.Tensor(ti.Name)
		y, err := b.Tensor(ti.Name)
		if err != nil || !bytes.Equal(x.Data, y.Data) || x.Type != y.Type {
			t.Errorf("tensor %s changed (%v)", ti.Name, err)
		}
	}
}
