package engine_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

// scripted returns a model that, after a prompt of promptLen tokens, makes
// the greedy choice script[0], script[1], … (then the last one again), and
// the tokenizer over pieces (token 0 ends generation).
//
// The model runs in lockstep with one consumer: each forward pass after
// the first waits until the consumer has read the previous pass's event
// (collect acknowledges on acks), so no events are merged and the test
// sees one delta per token.
func scripted(pieces []string, promptLen int, script ...core.TokenID) (*enginetest.Model, *enginetest.Tokenizer) {
	select {
	case <-acks: // left over from an earlier test's last event
	default:
	}
	m := enginetest.NewModel(enginetest.ModelConfig{
		VocabSize: len(pieces),
		Next: func(seq []core.TokenID) core.TokenID {
			return script[min(len(seq)-promptLen, len(script)-1)]
		},
		Hook: func(ctx context.Context, pass int, _ *core.Batch) error {
			if pass == 1 {
				return nil
			}
			select {
			case <-acks:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	return m, enginetest.NewTokenizer(pieces, 0)
}

func TestSeededDeterminism(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	e := newEngine(t, m, byteTok)
	req := func(seed uint64) *core.Request {
		return &core.Request{
			Prompt:    prompt(1, 12),
			MaxTokens: 40,
			Sampling:  core.Sampling{Temperature: 0.9, TopK: 100, TopP: 0.95, MinP: 0.02, Seed: seed},
			IgnoreEOS: true,
		}
	}
	a := run(t, e, req(7))
	b := run(t, newEngine(t, m, byteTok), req(7))
	if diff := cmp.Diff(a.Tokens, b.Tokens); diff != "" {
		t.Errorf("same seed, different tokens (-first +second):\n%s", diff)
	}
	if a.Text != b.Text {
		t.Errorf("same seed, different text %q and %q", a.Text, b.Text)
	}
	if c := run(t, e, req(8)); cmp.Equal(a.Tokens, c.Tokens) {
		t.Errorf("seeds 7 and 8 gave the same tokens %v", a.Tokens)
	}
	want := core.Usage{PromptTokens: 12, GeneratedTokens: 40}
	if diff := cmp.Diff(want, a.Final.Usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	if a.Final.StopReason != core.StopMaxTokens {
		t.Errorf("stop reason %q, want max_tokens", a.Final.StopReason)
	}
}

func TestGreedyMatchesArgmax(t *testing.T) {
	// With the scripted model the argmax is the script, whatever the seed.
	pieces := []string{"<eos>", "a", "b", "c"}
	m, tok := scripted(pieces, 2, 3, 1, 2, 3)
	e := newEngine(t, m, tok)
	r := run(t, e, &core.Request{Prompt: []core.TokenID{1, 1}, MaxTokens: 4, Sampling: core.Sampling{Seed: 99}})
	if diff := cmp.Diff([]core.TokenID{3, 1, 2, 3}, r.Tokens); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	if r.Text != "cabc" {
		t.Errorf("text %q, want cabc", r.Text)
	}
}

func TestStopSequenceAcrossTokens(t *testing.T) {
	pieces := []string{"<eos>", "Hel", "lo ", "</", "ans", "wer", ">", " more", "<"}
	tests := []struct {
		name      string
		script    []core.TokenID
		stop      []string
		wantText  string
		wantStop  string
		wantGen   int
		wantDelta []string
	}{
		{
			name:      "split over four tokens",
			script:    []core.TokenID{1, 2, 3, 4, 5, 6, 7},
			stop:      []string{"</answer>"},
			wantText:  "Hello ",
			wantStop:  "</answer>",
			wantGen:   6,
			wantDelta: []string{"Hel", "lo "},
		},
		{
			name:      "prefix that stops matching is released, not lost",
			script:    []core.TokenID{1, 3, 8, 2, 3, 4, 5, 6},
			stop:      []string{"</answer>"},
			wantText:  "Hel</<lo ",
			wantStop:  "</answer>",
			wantGen:   8,
			wantDelta: []string{"Hel", "</", "<lo "},
		},
		{
			name:      "second of two stops",
			script:    []core.TokenID{1, 2, 7},
			stop:      []string{"xyz", "o  m"},
			wantText:  "Hell",
			wantStop:  "o  m",
			wantGen:   3,
			wantDelta: []string{"Hel", "l"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, tok := scripted(pieces, 1, tt.script...)
			r := run(t, newEngine(t, m, tok), &core.Request{Prompt: []core.TokenID{1}, MaxTokens: 20, Stop: tt.stop})
			if r.Text != tt.wantText || r.Final.StopReason != core.StopSequence || r.Final.StopSequence != tt.wantStop {
				t.Errorf("got text %q, stop %q %q; want %q, stop_sequence %q", r.Text, r.Final.StopReason, r.Final.StopSequence, tt.wantText, tt.wantStop)
			}
			// Deltas are never retracted: each is released once, in order,
			// and none holds any part of the match.
			var nonEmpty []string
			for _, d := range r.Deltas {
				if d != "" {
					nonEmpty = append(nonEmpty, d)
				}
			}
			if diff := cmp.Diff(tt.wantDelta, nonEmpty); diff != "" {
				t.Errorf("deltas (-want +got):\n%s", diff)
			}
			if got := r.Final.Usage.GeneratedTokens; got != tt.wantGen || len(r.Tokens) != tt.wantGen {
				t.Errorf("generated %d tokens (%d streamed), want %d", got, len(r.Tokens), tt.wantGen)
			}
		})
	}
}

func TestUTF8SplitAcrossTokens(t *testing.T) {
	euro, eacute := "€", "é"
	pieces := []string{"<eos>", "a", euro[:1], euro[1:2], euro[2:], eacute[:1], eacute[1:] + "!", "\xff"}
	m, tok := scripted(pieces, 1, 1, 2, 3, 4, 5, 6, 7, 1)
	r := run(t, newEngine(t, m, tok), &core.Request{Prompt: []core.TokenID{1}, MaxTokens: 8})
	if want := "a€é!\uFFFDa"; r.Text != want {
		t.Errorf("text %q, want %q", r.Text, want)
	}
	if diff := cmp.Diff([]string{"a", "", "", "€", "", "é!", "\uFFFD", "a"}, r.Deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
}

func TestTruncatedRuneAtMaxTokens(t *testing.T) {
	pieces := []string{"<eos>", "a", "€"[:2]}
	m, tok := scripted(pieces, 1, 1, 2)
	r := run(t, newEngine(t, m, tok), &core.Request{Prompt: []core.TokenID{1}, MaxTokens: 2})
	if want := "a\uFFFD\uFFFD"; r.Text != want || r.Final.StopReason != core.StopMaxTokens {
		t.Errorf("text %q stop %q, want %q max_tokens", r.Text, r.Final.StopReason, want)
	}
}

func TestEndOfGeneration(t *testing.T) {
	pieces := []string{"<eos>", "a", "b#"}
	tests := []struct {
		name      string
		ignoreEOS bool
		stop      []string
		wantText  string
		wantStop  core.StopReason
		wantGen   int
	}{
		{"stops at eos", false, nil, "ab#", core.StopEndTurn, 3},
		{"held stop prefix flushed at eos", false, []string{"#!"}, "ab#", core.StopEndTurn, 3},
		{"ignore eos runs to max", true, nil, "ab#<eos><eos><eos>", core.StopMaxTokens, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, tok := scripted(pieces, 1, 1, 2, 0)
			r := run(t, newEngine(t, m, tok), &core.Request{Prompt: []core.TokenID{1}, MaxTokens: 5, IgnoreEOS: tt.ignoreEOS, Stop: tt.stop})
			if r.Text != tt.wantText || r.Final.StopReason != tt.wantStop || r.Final.Usage.GeneratedTokens != tt.wantGen {
				t.Errorf("text %q stop %q generated %d; want %q %q %d", r.Text, r.Final.StopReason, r.Final.Usage.GeneratedTokens, tt.wantText, tt.wantStop, tt.wantGen)
			}
		})
	}
}

// multipleOf allows only tokens divisible by k and is done after n tokens.
type multipleOf struct {
	k, n  int
	calls []int // len(generated) at each Mask call
	fail  error
}

func (c *multipleOf) Mask(generated []core.TokenID, logits []float32) error {
	c.calls = append(c.calls, len(generated))
	if c.fail != nil && len(generated) == 2 {
		return c.fail
	}
	for i := range logits {
		if i%c.k != 0 {
			logits[i] = float32(math.Inf(-1))
		}
	}
	return nil
}

func (c *multipleOf) Done(generated []core.TokenID) bool { return len(generated) >= c.n }

func TestConstraint(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	e := newEngine(t, m, byteTok)
	c := &multipleOf{k: 3, n: 6}
	r := run(t, e, &core.Request{Prompt: prompt(2, 5), MaxTokens: 20, Constraint: c, IgnoreEOS: true,
		Sampling: core.Sampling{Temperature: 1, Seed: 3}})
	for _, tok := range r.Tokens {
		if tok%3 != 0 {
			t.Errorf("token %d violates the constraint (all: %v)", tok, r.Tokens)
		}
	}
	if r.Final.StopReason != core.StopEndTurn || len(r.Tokens) != 6 {
		t.Errorf("stop %q after %d tokens, want end_turn after 6", r.Final.StopReason, len(r.Tokens))
	}
	if diff := cmp.Diff([]int{0, 1, 2, 3, 4, 5}, c.calls); diff != "" {
		t.Errorf("Mask saw generated lengths (-want +got):\n%s", diff)
	}

	bad := &multipleOf{k: 1, n: 100, fail: core.Errorf(core.KindInvalid, "schema", "no valid token")}
	ch, err := e.Generate(context.Background(), &core.Request{Prompt: prompt(2, 5), MaxTokens: 20, Constraint: bad})
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(ch)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(got.Final.Err, core.KindInvalid) || len(got.Tokens) != 2 {
		t.Errorf("constraint failure: err %v after %d tokens, want KindInvalid after 2", got.Final.Err, len(got.Tokens))
	}
}

func TestGenerateRejects(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{})
	e := newEngine(t, m, byteTok, engine.WithContext(100))
	ok := func() *core.Request { return &core.Request{Prompt: prompt(1, 10), MaxTokens: 10} }
	tests := []struct {
		name    string
		edit    func(r *core.Request) *core.Request
		kind    core.Kind
		message []string
	}{
		{"nil", func(*core.Request) *core.Request { return nil }, core.KindInvalid, nil},
		{"empty prompt", func(r *core.Request) *core.Request { r.Prompt = nil; return r }, core.KindInvalid, []string{"empty prompt"}},
		{"zero max tokens", func(r *core.Request) *core.Request { r.MaxTokens = 0; return r }, core.KindInvalid, []string{"max_tokens"}},
		{"token out of range", func(r *core.Request) *core.Request { r.Prompt[3] = 512; return r }, core.KindInvalid, []string{"512"}},
		{"negative token", func(r *core.Request) *core.Request { r.Prompt[0] = -1; return r }, core.KindInvalid, nil},
		{"negative temperature", func(r *core.Request) *core.Request { r.Sampling.Temperature = -1; return r }, core.KindInvalid, []string{"temperature"}},
		{"nan temperature", func(r *core.Request) *core.Request { r.Sampling.Temperature = float32(math.NaN()); return r }, core.KindInvalid, nil},
		{"negative top_k", func(r *core.Request) *core.Request { r.Sampling.TopK = -2; return r }, core.KindInvalid, []string{"top_k"}},
		{"top_p above 1", func(r *core.Request) *core.Request { r.Sampling.TopP = 1.5; return r }, core.KindInvalid, []string{"top_p"}},
		{"min_p negative", func(r *core.Request) *core.Request { r.Sampling.MinP = -0.1; return r }, core.KindInvalid, []string{"min_p"}},
		{"empty stop", func(r *core.Request) *core.Request { r.Stop = []string{"x", ""}; return r }, core.KindInvalid, []string{"stop sequence 1"}},
		{"invalid utf-8 stop", func(r *core.Request) *core.Request { r.Stop = []string{"\xff"}; return r }, core.KindInvalid, nil},
		{"context length", func(r *core.Request) *core.Request { r.Prompt = prompt(1, 60); r.MaxTokens = 50; return r },
			core.KindContextLength, []string{"60", "50", "110", "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := e.Generate(context.Background(), tt.edit(ok()))
			if ch != nil || !errors.Is(err, tt.kind) {
				t.Fatalf("Generate = %v, %v; want a %v error", ch, err, tt.kind)
			}
			for _, s := range tt.message {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	// Exactly full is fine.
	r := run(t, e, &core.Request{Prompt: prompt(1, 60), MaxTokens: 40, IgnoreEOS: true})
	if r.Final.Usage.GeneratedTokens != 40 {
		t.Errorf("generated %d tokens, want 40", r.Final.Usage.GeneratedTokens)
	}
}

func TestGenerateCanceledContext(t *testing.T) {
	e := newEngine(t, enginetest.NewModel(enginetest.ModelConfig{}), byteTok)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Generate(ctx, &core.Request{Prompt: prompt(1, 3), MaxTokens: 3}); !errors.Is(err, core.KindCanceled) {
		t.Errorf("Generate with a done context: %v, want KindCanceled", err)
	}
}

func TestNewRejects(t *testing.T) {
	m := enginetest.NewModel(enginetest.ModelConfig{ContextLength: 256})
	tests := []struct {
		name string
		opts []engine.Option
	}{
		{"zero slots", []engine.Option{engine.WithSlots(0)}},
		{"zero queue", []engine.Option{engine.WithMaxQueue(0)}},
		{"zero batch", []engine.Option{engine.WithBatchSize(0)}},
		{"negative chunk", []engine.Option{engine.WithPrefillChunk(-1)}},
		{"context over the model's", []engine.Option{engine.WithContext(257)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := engine.New(m, byteTok, tt.opts...); !errors.Is(err, core.KindInvalid) {
				t.Errorf("New: %v, want KindInvalid", err)
			}
		})
	}
	if _, err := engine.New(nil, byteTok); !errors.Is(err, core.KindInvalid) {
		t.Errorf("New(nil model): %v, want KindInvalid", err)
	}
	e := newEngine(t, m, byteTok)
	if got := e.Stats().Context; got != 256 {
		t.Errorf("default context %d, want the model's 256", got)
	}
}
