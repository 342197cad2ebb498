package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newEngine starts an engine and closes it when the test ends.
func newEngine(t testing.TB, m core.Model, tok core.Tokenizer, opts ...engine.Option) *engine.Engine {
	t.Helper()
	e, err := engine.New(m, tok, opts...)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// result is everything one generation streamed.
type result struct {
	Text   string
	Tokens []core.TokenID
	Deltas []string // the Text of every non-final event
	Final  core.Event
}

// collect reads a stream to its end, checking the core.Event contract on
// the way: valid UTF-8, no empty events, exactly one Done event, last.
func collect(ch <-chan core.Event) (result, error) {
	var r result
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-ch:
			switch {
			case !ok && !r.Final.Done:
				return r, errors.New("channel closed without a Done event")
			case !ok:
				return r, nil
			case r.Final.Done:
				return r, fmt.Errorf("event %+v after Done", ev)
			case !utf8.ValidString(ev.Text):
				return r, fmt.Errorf("event text %q is not valid UTF-8", ev.Text)
			case ev.Done:
				if ev.Text != "" || len(ev.Tokens) > 0 {
					return r, fmt.Errorf("Done event carries text %q tokens %v", ev.Text, ev.Tokens)
				}
				r.Final = ev
			case ev.Text == "" && len(ev.Tokens) == 0:
				return r, fmt.Errorf("empty event %+v", ev)
			default:
				select {
				case acks <- struct{}{}:
				default:
				}
				r.Text += ev.Text
				r.Tokens = append(r.Tokens, ev.Tokens...)
				r.Deltas = append(r.Deltas, ev.Text)
			}
		case <-timeout.C:
			return r, errors.New("timed out waiting for events")
		}
	}
}

// run generates req on e and collects the result, failing the test on any
// error (a final Err included).
func run(t testing.TB, e *engine.Engine, req *core.Request) result {
	t.Helper()
	ch, err := e.Generate(context.Background(), req)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	r, err := collect(ch)
	if err != nil {
		t.Fatal(err)
	}
	if r.Final.Err != nil {
		t.Fatalf("generation failed: %v", r.Final.Err)
	}
	return r
}

// prompt returns n pseudo-random tokens in [0, 256), different per seed.
func prompt(seed uint64, n int) []core.TokenID {
	p := make([]core.TokenID, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = core.TokenID(x % 256)
	}
	return p
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// prefilled counts the entries in batches that evaluate prompt positions
// (< promptLen) of slot seq.
func prefilled(batches []core.Batch, seq core.SeqID, promptLen int) int {
	n := 0
	for _, b := range batches {
		for i := range b.Len() {
			if b.Seq[i] == seq && int(b.Pos[i]) < promptLen {
				n++
			}
		}
	}
	return n
}

// seqsIn returns the distinct slots in b.
func seqsIn(b core.Batch) map[core.SeqID]int {
	m := map[core.SeqID]int{}
	for _, s := range b.Seq {
		m[s]++
	}
	return m
}

// acks receives one value per non-final event that collect reads, for
// models that run in lockstep with their consumer (see scripted). Such
// tests must not run in parallel.
var acks = make(chan struct{}, 1)

// byteTok is the tokenizer of the hash-logits tests.
var byteTok = enginetest.ByteTokenizer(512)
